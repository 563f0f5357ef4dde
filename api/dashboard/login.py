"""Anmeldung am Dashboard: the same accounts and tokens as the API, in an HttpOnly cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.dashboard.csrf import (
    CsrfDep,
    LoginCsrfDep,
    delete_login_cookie,
    login_seed,
    set_login_cookie,
)
from api.dashboard.web import COOKIE, TEMPLATES, local_dashboard_path
from api.deps import NowDep, SessionDep, SettingsDep, ThrottleDep
from api.login import Attempt, LoginFailed, TooManyAttempts, client_address, log_in
from api.security import authenticate, revoke_session
from models.urls import login_url
from tasks.repository import Actor, audit

router = APIRouter()


@router.get("/anmelden", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, settings: SettingsDep, next: str = "/dashboard") -> HTMLResponse:
    """The login form, with its CSRF token and the pre-session cookie it is bound to."""
    seed = login_seed(request)
    response = TEMPLATES.TemplateResponse(
        request, "login.html.j2", {"next": local_dashboard_path(next), "error": None}
    )
    set_login_cookie(response, seed, settings)
    return response


@router.post("/anmelden", response_model=None, include_in_schema=False, dependencies=[LoginCsrfDep])
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    now: NowDep,
    next: Annotated[str, Form()] = "/dashboard",
) -> HTMLResponse | RedirectResponse:
    attempt = Attempt(username, password, client_address(request), "dashboard")
    try:
        token = log_in(session, throttle, attempt, settings, now)
    except TooManyAttempts as exc:
        return TEMPLATES.TemplateResponse(
            request,
            "login.html.j2",
            {"next": next, "error": str(exc)},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except LoginFailed as exc:
        return TEMPLATES.TemplateResponse(
            request, "login.html.j2", {"next": next, "error": str(exc)}, status_code=401
        )
    response = RedirectResponse(local_dashboard_path(next), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        max_age=settings.token_minutes * 60,
    )
    delete_login_cookie(response, settings)
    return response


@router.post("/abmelden", include_in_schema=False, dependencies=[CsrfDep])
def logout(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> RedirectResponse:
    """Ends the cookie's session (revoked: the token fails everywhere) and drops the cookie."""
    token = request.cookies.get(COOKIE)
    found = authenticate(session, token, settings, now) if token else None
    if found is not None:
        user, row = found
        revoke_session(session, row, now)
        audit(session, now, Actor(user.username, user.role), "logout", None, channel="dashboard")
        session.commit()
    response = RedirectResponse(login_url(), status_code=303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=settings.cookie_secure)
    return response
