"""Anmeldung: OAuth2 password flow, bearer token (JWT) of a revocable session."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlmodel import select

from api.deps import (
    CurrentLogin,
    NowDep,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    ThrottleDep,
    require,
)
from api.errors import PROBLEM, Problem, problem
from api.login import Attempt, LoginFailed, TooManyAttempts, client_address, log_in
from api.schemas import TokenOut
from api.security import open_sessions, revoke_session, revoke_sessions
from models.tables import Role, User
from tasks.repository import Actor, audit

router = APIRouter(prefix="/auth", tags=["Anmeldung"])


def _problem_doc(description: str, **headers: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"description": description, "content": {PROBLEM: {}}}
    if headers:
        doc["headers"] = headers
    return doc


RETRY_AFTER = {"Retry-After": {"description": "Sekunden bis zum nächsten Versuch"}}


def too_many(exc: TooManyAttempts) -> JSONResponse:
    """429 problem document with ``Retry-After`` (seconds)."""
    answer = problem(429, str(exc), title="Zu viele Anmeldeversuche")
    answer.headers["Retry-After"] = str(exc.retry_after)
    return answer


@router.post(
    "/token",
    response_model=TokenOut,
    summary="Token anfordern",
    responses={
        401: _problem_doc("Benutzername oder Passwort falsch"),
        429: _problem_doc("Zu viele fehlgeschlagene Versuche", **RETRY_AFTER),
    },
)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    now: NowDep,
) -> TokenOut | JSONResponse:
    """Gibt ein Bearer-Token für Benutzername und Passwort zurück (gültig
    `KEL_TOKEN_MINUTES` Minuten, bis zur Abmeldung oder zum Widerruf). Fehlversuche sind je
    Konto und je Adresse begrenzt (`KEL_LOGIN_FAILURES_PER_ACCOUNT`,
    `KEL_LOGIN_FAILURES_PER_ADDRESS` in `KEL_LOGIN_WINDOW_MINUTES`)."""
    attempt = Attempt(form.username, form.password, client_address(request), "api")
    try:
        return TokenOut(access_token=log_in(session, throttle, attempt, settings, now))
    except TooManyAttempts as exc:
        return too_many(exc)
    except LoginFailed as exc:
        return problem(401, str(exc))


@router.post(
    "/logout",
    status_code=204,
    summary="Abmelden",
    responses={401: _problem_doc("Nicht angemeldet")},
)
def logout(login: CurrentLogin, session: SessionDep, now: NowDep) -> Response:
    """Beendet die Sitzung dieses Tokens; das Token gilt danach nirgends mehr."""
    user, row = login
    revoke_session(session, row, now)
    audit(session, now, Actor(user.username, user.role), "logout", None, channel="api")
    session.commit()
    return Response(status_code=204)


class SessionOut(BaseModel):
    """An open session (no token, only its times)."""

    id: int
    username: str
    created_at: datetime
    expires_at: datetime


class RevokedOut(BaseModel):
    username: str
    revoked: int


@router.get(
    "/sessions",
    response_model=list[SessionOut],
    summary="Offene Sitzungen (Administration)",
    dependencies=[require(Role.admin)],
)
def sessions(session: ReadSessionDep, now: NowDep, username: str | None = None) -> list[SessionOut]:
    """Nicht widerrufene, nicht abgelaufene Sitzungen, neueste zuerst."""
    found = [
        SessionOut(
            id=row.id or 0,
            username=row.username,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )
        for row in open_sessions(session, now, username)
    ]
    session.close()  # end the read before FastAPI's thread hop (`api.deps.get_read_session`)
    return found


@router.post(
    "/sessions/{username}/revoke",
    response_model=RevokedOut,
    summary="Alle Sitzungen eines Kontos widerrufen (Administration)",
)
def revoke(
    username: str,
    session: SessionDep,
    now: NowDep,
    admin: Annotated[User, require(Role.admin)],
) -> RevokedOut:
    """Widerruft alle offenen Sitzungen von `username`; deren Tokens gelten sofort nicht
    mehr (Dashboard und API)."""
    if session.exec(select(User).where(User.username == username)).first() is None:
        raise Problem(404, "Dieses Benutzerkonto gibt es nicht.")
    count = revoke_sessions(session, username, now)
    audit(
        session,
        now,
        Actor(admin.username, admin.role),
        "sessions_revoked",
        None,
        account=username,
        sessions=count,
    )
    session.commit()
    return RevokedOut(username=username, revoked=count)
