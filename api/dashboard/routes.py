"""All dashboard pages under ``/dashboard``; a missing login redirects to the login page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.dashboard import (
    admin,
    cases,
    caseworker,
    csrf,
    login,
    overview,
    pdf,
    planning,
    portal,
    process_page,
    providers,
    reports,
    worklists,
)
from api.dashboard.web import LoginRequired


def install(app: FastAPI) -> None:
    """Mount the dashboard pages, their static files, the login redirect and the 403 page
    for a form without a valid CSRF token (`api.dashboard.csrf`)."""
    router = APIRouter(prefix="/dashboard", include_in_schema=False)
    for module in (
        login,
        overview,
        worklists,  # before cases: /faelle is the list, /faelle/{reference} a case
        cases,
        portal,
        caseworker,
        admin,
        providers,
        reports,
        planning,
        pdf,
        process_page,
    ):
        router.include_router(module.router)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> RedirectResponse:
        target = quote(request.url.path, safe="/")
        return RedirectResponse(f"/dashboard/anmelden?next={target}", status_code=303)

    @app.exception_handler(csrf.CsrfRejected)
    async def _csrf(request: Request, exc: csrf.CsrfRejected) -> HTMLResponse:
        return await csrf.rejected(request, exc)
