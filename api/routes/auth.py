"""Anmeldung: OAuth2 password flow, bearer token (JWT)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import select

from api.deps import NowDep, SessionDep, SettingsDep
from api.errors import Problem
from api.schemas import TokenOut
from api.security import create_token, verify_password
from models.tables import User

router = APIRouter(prefix="/auth", tags=["Anmeldung"])


@router.post("/token", response_model=TokenOut, summary="Token anfordern")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> TokenOut:
    """Gibt ein Bearer-Token für Benutzername und Passwort zurück (gültig
    `KEL_TOKEN_MINUTES` Minuten)."""
    user = session.exec(select(User).where(User.username == form.username)).first()
    if user is None or not user.active or not verify_password(form.password, user.password_hash):
        raise Problem(401, "Benutzername oder Passwort falsch.")
    return TokenOut(access_token=create_token(user.username, settings, now))
