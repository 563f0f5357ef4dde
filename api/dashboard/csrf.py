"""CSRF tokens for every dashboard form (``itsdangerous``, signed with the app's key).

A token is ``URLSafeTimedSerializer(signing_key(settings), salt="csrf").dumps(binding)``,
sent in the hidden field ``csrf_token``:

* on the pages of a signed-in user, ``binding`` is ``"sitzung:"`` + SHA-256 (hex) of the
  session cookie, so a token is good only together with the session it was issued for (a
  token from another session or another user is refused) and ends with that session;
  lifetime ``settings.token_minutes``. Template global ``csrf_token(request)``.
* on the login form (no session yet), ``binding`` is ``"anmeldung:"`` + SHA-256 of a random
  pre-session value in the cookie ``kel_csrf`` (HttpOnly, SameSite=Strict, path
  ``/dashboard/anmelden``, `LOGIN_MINUTES`), so another site cannot sign a browser in to
  an account of its choosing (login CSRF). Template global ``login_csrf_token(request)``.

Every POST route of the dashboard declares ``dependencies=[CsrfDep]`` (login:
``[LoginCsrfDep]``); a missing, forged, expired or foreign token raises `CsrfRejected`,
which `api.dashboard.routes` answers with a German 403 page. `CsrfDep` needs a signed-in
user first, so a POST without a session still redirects to the login.

The signer's timestamps come from the app's clock (``request.app.state.clock``), so tests
move time instead of waiting. No crypto of our own: HMAC-SHA1 signing and the timestamp
are itsdangerous', the comparison is ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from api.dashboard.web import COOKIE, TEMPLATES, DashboardUser, local_dashboard_path, page
from api.deps import NowDep, SettingsDep
from api.security import signing_key
from models.clock import Clock
from models.settings import Settings
from models.tables import User
from models.urls import LOGIN_PATH

FIELD = "csrf_token"
SALT = "csrf"
LOGIN_COOKIE = "kel_csrf"
LOGIN_MINUTES = 30
"""Lifetime of a login form (its token and its ``kel_csrf`` cookie)."""

EXPIRED = (
    "Formular abgelaufen",
    "Das Formular ist abgelaufen oder gehört nicht zu Ihrer Anmeldung; es wurde nichts "
    "gespeichert. Bitte laden Sie die Seite neu und senden Sie das Formular noch einmal.",
)
LOGIN_EXPIRED = (
    "Das Anmeldeformular ist abgelaufen oder wurde nicht von dieser Seite gesendet. "
    "Bitte melden Sie sich noch einmal an."
)


class CsrfRejected(Exception):
    """A dashboard POST without a valid token; `user` is None for the login form."""

    def __init__(self, user: User | None) -> None:
        super().__init__("CSRF-Token fehlt oder ist ungültig")
        self.user = user


class _ClockSigner(TimestampSigner):
    """itsdangerous' timestamp signer, reading the time from the app's clock."""

    def __init__(self, *args: Any, now: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now.timestamp())


def _serializer(settings: Settings, now: datetime) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        signing_key(settings), salt=SALT, signer=_ClockSigner, signer_kwargs={"now": now}
    )


def _binding(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode('utf-8')).hexdigest()}"


def issue(binding: str, settings: Settings, now: datetime) -> str:
    """A token for `binding`, signed at `now`."""
    return str(_serializer(settings, now).dumps(binding))


def valid(
    token: object, binding: str | None, settings: Settings, now: datetime, max_age: int
) -> bool:
    """True when `token` is a string signed by us for `binding`, at most `max_age` s old."""
    if not isinstance(token, str) or not token or binding is None or len(token) > 512:
        return False
    try:
        value = _serializer(settings, now).loads(token, max_age=max_age)
    except BadData:
        return False
    return isinstance(value, str) and hmac.compare_digest(value, binding)


def _app(request: Request) -> tuple[Settings, datetime]:
    settings: Settings = request.app.state.settings
    clock: Clock = request.app.state.clock
    return settings, clock.now()


def _session_binding(request: Request) -> str | None:
    cookie = request.cookies.get(COOKIE)
    return _binding("sitzung", cookie) if cookie else None


def csrf_token(request: Request) -> str:
    """The token for the forms on a signed-in user's page ("" without a session cookie)."""
    binding = _session_binding(request)
    return issue(binding, *_app(request)) if binding else ""


def login_seed(request: Request) -> str:
    """The pre-session value of this login form: the browser's ``kel_csrf`` cookie, or a
    new random one (remembered for `login_csrf_token`; the caller sets the cookie with
    `set_login_cookie`)."""
    seed = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    request.state.login_seed = seed
    return seed


def login_csrf_token(request: Request) -> str:
    """The token for the login form, bound to the pre-session value ("" without one)."""
    seed = getattr(request.state, "login_seed", None) or request.cookies.get(LOGIN_COOKIE)
    return issue(_binding("anmeldung", seed), *_app(request)) if seed else ""


def set_login_cookie(response: Response, seed: str, settings: Settings) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        seed,
        max_age=LOGIN_MINUTES * 60,
        path=LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )


def delete_login_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        LOGIN_COOKIE,
        path=LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )


async def _posted_token(request: Request) -> object:
    form = await request.form()  # parsed once per request; FastAPI's Form() reads the same
    return form.get(FIELD)


async def require_csrf(
    request: Request, user: DashboardUser, settings: SettingsDep, now: NowDep
) -> None:
    """Refuse (`CsrfRejected`) a signed-in user's POST without this session's token."""
    token = await _posted_token(request)
    if not valid(token, _session_binding(request), settings, now, settings.token_minutes * 60):
        raise CsrfRejected(user)


async def require_login_csrf(request: Request, settings: SettingsDep, now: NowDep) -> None:
    """Refuse (`CsrfRejected`) a login POST without the token of this browser's login form."""
    token = await _posted_token(request)
    seed = request.cookies.get(LOGIN_COOKIE)
    binding = _binding("anmeldung", seed) if seed else None
    if not valid(token, binding, settings, now, LOGIN_MINUTES * 60):
        raise CsrfRejected(None)


CsrfDep = Depends(require_csrf)
"""For ``@router.post(..., dependencies=[CsrfDep])`` on every dashboard form handler."""
LoginCsrfDep = Depends(require_login_csrf)
"""For the login form's POST handler."""


async def rejected(request: Request, exc: CsrfRejected) -> HTMLResponse:
    """The 403 answer: a fresh login form, or the German error page of a signed-in user."""
    settings, _ = _app(request)
    if exc.user is None:
        form = await request.form()
        target = form.get("next")
        seed = login_seed(request)
        response = TEMPLATES.TemplateResponse(
            request,
            "login.html.j2",
            {
                "next": local_dashboard_path(target if isinstance(target, str) else None),
                "error": LOGIN_EXPIRED,
            },
            status_code=403,
        )
        set_login_cookie(response, seed, settings)
        return response
    refused = page(request, "case.html.j2", exc.user, nav=None, error=EXPIRED)
    refused.status_code = 403
    return refused


TEMPLATES.env.globals["csrf_token"] = csrf_token
TEMPLATES.env.globals["login_csrf_token"] = login_csrf_token
