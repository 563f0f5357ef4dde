"""Request dependencies as ``Annotated`` aliases: settings, session, clock, current user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session, select

from api.errors import Problem
from api.security import token_subject
from api.trigger import FlowTrigger
from models.clock import Clock
from models.db import engine
from models.process import Registry, load_registry
from models.settings import Settings
from models.tables import Role, User

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    with Session(engine(settings.database_url), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_registry(settings: SettingsDep) -> Registry:
    return load_registry(settings.process_dir)


RegistryDep = Annotated[Registry, Depends(get_registry)]


def get_now(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock.now()


NowDep = Annotated[datetime, Depends(get_now)]


def current_user(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    token: Annotated[str | None, Depends(oauth2)],
) -> User:
    """The user of the bearer token; 401 when missing, invalid, expired or inactive."""
    username = token_subject(token, settings, now) if token else None
    user = session.exec(select(User).where(User.username == username)).first() if username else None
    if user is None or not user.active:
        raise Problem(401, "Bitte anmelden: gültiges Bearer-Token erforderlich.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role):  # type: ignore[no-untyped-def]
    """A dependency that admits only `roles` (403 otherwise)."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Problem(403, "Diese Aktion ist für Ihre Rolle nicht erlaubt.")
        return user

    return Depends(check)


def get_trigger(request: Request) -> FlowTrigger:
    trigger: FlowTrigger = request.app.state.trigger
    return trigger


TriggerDep = Annotated[FlowTrigger, Depends(get_trigger)]
