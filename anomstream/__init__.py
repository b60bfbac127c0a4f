"""The `anomstream` command: one entry point over the four packages."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("anomstream")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
