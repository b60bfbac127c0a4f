"""The ASGI app: pages, static files (charts shipped in the package), /api/v1 and /docs.

Every error is JSON with a message (`{"error": ...}`): bad input is a 4xx, a body over the
size cap a 413, and anything unexpected a logged 500 that names no internals. OpenAPI is
served at /openapi.json and read at /docs with Swagger UI from the package, no CDN.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.api import ApiContext, api_router
from web.pages import PAGES, render
from web.scoring import ScoreRequestError

__all__ = ["STATIC", "create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SWAGGER = "/static/vendor/swagger-ui-5.35.0"


class BodyLimit:
    """Refuses request bodies over `limit` bytes with 413, before the app reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"request body over {limit} bytes"}, status_code=413)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def create_app(
    context: ApiContext, token: str | None = None, max_body_bytes: int = 1_048_576
) -> FastAPI:
    app = FastAPI(
        title="anomstream",
        summary="Live scores and alerts of the anomstream stream worker; scoring without Kafka.",
        docs_url=None,
        redoc_url=None,
    )

    def guard(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        candidate = given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else ""
        # EventSource cannot send headers: the events stream takes the token as a query too.
        candidate = candidate or request.query_params.get("access_token", "")
        if not hmac.compare_digest(candidate.encode(), token.encode()):
            raise HTTPException(401, "a bearer token is required (ANOMSTREAM_UI_TOKEN)")

    app.include_router(api_router(context, guard), prefix="/api/v1")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    for page in PAGES:
        app.add_api_route(page.route, _page(render(page)), include_in_schema=False)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="anomstream API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _validation_message(exc)}, status_code=422)

    @app.exception_handler(ScoreRequestError)
    async def unscorable(request: Request, exc: ScoreRequestError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app


def _page(html: str) -> Any:
    def page() -> HTMLResponse:
        return HTMLResponse(html)

    return page
