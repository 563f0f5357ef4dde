"""Security headers on every answer of the app (pages, API, errors, static files).

A pure ASGI middleware that adds, to every HTTP response:

* ``Content-Security-Policy``: `STRICT` everywhere (scripts, styles and images only from
  this origin, no inline script or style, no plugins, no ``<base>``, forms only to this
  origin, no framing). The dashboard ships no script and no inline style. Only the API
  documentation pages (`DOCS_PATHS`: Swagger UI and ReDoc, which load their code from
  cdn.jsdelivr.net and start it with an inline script) get `DOCS`; they hold no case data.
* ``X-Frame-Options: DENY`` (framing, for browsers without ``frame-ancestors``),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``.
* ``Cache-Control: no-store`` on every answer except the static assets under ``/static/``:
  dashboard pages, API answers and error documents may hold Sozialdaten
  (§ 35 SGB I, § 78a SGB X), which must not stay in a browser or proxy cache.

`install` wraps the whole middleware stack, so answers made by Starlette's outermost
error middleware (500) carry the headers too.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
"""FastAPI's documentation pages (and ``/docs/oauth2-redirect``)."""
STATIC = "/static/"
ALWAYS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _is_docs(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)


def headers_for(path: str) -> dict[str, str]:
    """The security headers for an answer to `path` (the request path)."""
    headers = {"Content-Security-Policy": DOCS if _is_docs(path) else STRICT, **ALWAYS}
    if not path.startswith(STATIC):
        headers["Cache-Control"] = "no-store"
    return headers


class SecurityHeaders:
    """ASGI middleware: sets `headers_for` the request path on every HTTP response,
    replacing a value a route may have set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Put `SecurityHeaders` outside every other middleware of `app` (also outside
    Starlette's ``ServerErrorMiddleware``, which answers unexpected errors with 500)."""
    build = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build())

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
