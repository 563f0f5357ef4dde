"""All dashboard pages under ``/dashboard``; a missing login redirects to the login page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.dashboard import (
    admin,
    cases,
    caseworker,
    csrf,
    error_pages,
    login,
    overview,
    pdf,
    phase_report,
    planning,
    portal,
    portal_phase,
    process_page,
    providers,
    reports,
    worklists,
)
from api.dashboard.admin_common import NotAdmin
from api.dashboard.cases import error_page
from api.dashboard.web import LoginRequired
from models.urls import login_url


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
        portal_phase,
        caseworker,
        admin,
        providers,
        phase_report,  # before reports: /kennzahlen/leistungsabschnitte.csv
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
        return RedirectResponse(login_url(request.url.path), status_code=303)

    error_pages.install(app)

    @app.exception_handler(NotAdmin)
    async def _not_admin(request: Request, exc: NotAdmin) -> HTMLResponse:
        return error_page(request, exc.user, 403)

    @app.exception_handler(csrf.CsrfRejected)
    async def _csrf(request: Request, exc: csrf.CsrfRejected) -> HTMLResponse:
        return await csrf.rejected(request, exc)
