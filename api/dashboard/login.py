"""Anmeldung am Dashboard: the same accounts and tokens as the API, in an HttpOnly cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import select

from api.dashboard.web import COOKIE, TEMPLATES
from api.deps import NowDep, SessionDep, SettingsDep
from api.security import create_token, verify_password
from models.tables import User

router = APIRouter()


@router.get("/anmelden", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str = "/dashboard") -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, "login.html.j2", {"next": next, "error": None})


@router.post("/anmelden", response_model=None, include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    next: Annotated[str, Form()] = "/dashboard",
) -> HTMLResponse | RedirectResponse:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.active or not verify_password(password, user.password_hash):
        return TEMPLATES.TemplateResponse(
            request,
            "login.html.j2",
            {"next": next, "error": "Benutzername oder Passwort falsch."},
            status_code=401,
        )
    target = next if next.startswith("/dashboard") else "/dashboard"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        create_token(user.username, settings, now),
        httponly=True,
        samesite="strict",
        max_age=settings.token_minutes * 60,
    )
    return response


@router.post("/abmelden", include_in_schema=False)
def logout() -> RedirectResponse:
    response = RedirectResponse("/dashboard/anmelden", status_code=303)
    response.delete_cookie(COOKIE)
    return response
