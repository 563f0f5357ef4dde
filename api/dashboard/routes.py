"""All dashboard pages under ``/dashboard``; a missing login redirects to the login page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.dashboard import cases, login, overview, pdf, planning, providers, reports
from api.dashboard.web import LoginRequired


def install(app: FastAPI) -> None:
    """Mount the dashboard pages, their static files and the login redirect."""
    router = APIRouter(prefix="/dashboard", include_in_schema=False)
    for module in (login, overview, cases, providers, reports, planning, pdf):
        router.include_router(module.router)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/dashboard/anmelden?next={request.url.path}", status_code=303)
