"""The live web view and the HTTP API (`anomstream ui`): pages in a browser, /api/v1 for code."""
