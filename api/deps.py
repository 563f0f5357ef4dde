"""Request dependencies as ``Annotated`` aliases: settings, session, clock, current user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from api.errors import Problem
from api.login import LoginThrottle
from api.security import authenticate
from api.trigger import FlowTrigger
from models.clock import Clock
from models.db import WRITE, engine, write_engine
from models.process import Registry, load_registry
from models.settings import Settings
from models.tables import Role, User, UserSession

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in its
# thread pool, one thread hop per dependency and request (measured: `benchmarks.profile`).


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    """The request's session. Every transaction in it is a serialised writer on SQLite
    (``BEGIN IMMEDIATE``, `models.db.write_engine`): writes, so that two requests on one
    case behave as if they came one after the other, and reads too, because reads of
    counselling content and of reports append to the audit trail (a deferred SQLite
    transaction that has read cannot start writing once another writer committed). On
    PostgreSQL this is a plain transaction; the referral row lock serialises."""
    with Session(write_engine(settings.database_url), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_read_session(settings: SettingsDep) -> Iterator[Session]:
    """A session for a route that only reads and audits nothing (lists): on SQLite a plain
    (deferred) transaction that never takes the writers' lock (`models.db`), so a list
    neither waits for writers nor holds them up. The route closes it before it returns:
    FastAPI checks a synchronous route's answer in one more hop through the thread pool,
    and a session still holding the writers' lock or a pooled connection there waits for
    a thread while the pool's threads wait for that lock or connection (measured with
    `get_session`: 50 clients, 4 threads, "database is locked" after 30 s)."""
    with Session(engine(settings.database_url), expire_on_commit=False) as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


async def get_registry(settings: SettingsDep) -> Registry:
    return load_registry(settings.process_dir)


RegistryDep = Annotated[Registry, Depends(get_registry)]


async def get_now(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock.now()


NowDep = Annotated[datetime, Depends(get_now)]


def current_login(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    token: Annotated[str | None, Depends(oauth2)],
) -> tuple[User, UserSession]:
    """The user and session of the bearer token; 401 when missing, invalid, expired,
    logged out or revoked, or when the account is inactive."""
    # A read: on SQLite a plain (deferred) transaction, not a writer: it need not queue
    # for the write lock behind other requests' writes (WAL readers never wait).
    session.connection(execution_options={WRITE: False})
    found = authenticate(session, token, settings, now) if token else None
    # End this read here: the route runs in another thread of FastAPI's pool, and on
    # SQLite a transaction (BEGIN IMMEDIATE) held open across that hop starves the pool
    # when more requests wait for the lock than it has threads (measured: 50 clients,
    # every request stuck 30 s, "database is locked"). The route begins its own.
    session.commit()
    if found is None:
        raise Problem(401, "Bitte anmelden: gültiges Bearer-Token erforderlich.")
    return found


CurrentLogin = Annotated[tuple[User, UserSession], Depends(current_login)]


async def current_user(request: Request, login: CurrentLogin) -> User:
    """The user of the bearer token (see `current_login`); kept in ``request.state.user``
    so a 403 or 404 answered to them is audited (`api.denials`)."""
    request.state.user = login[0]
    return login[0]


CurrentUser = Annotated[User, Depends(current_user)]


async def get_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]


def require(*roles: Role):  # type: ignore[no-untyped-def]
    """A dependency that admits only `roles` (403 otherwise)."""

    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Problem(403, "Diese Aktion ist für Ihre Rolle nicht erlaubt.")
        return user

    return Depends(check)


async def get_trigger(request: Request) -> FlowTrigger:
    trigger: FlowTrigger = request.app.state.trigger
    return trigger


TriggerDep = Annotated[FlowTrigger, Depends(get_trigger)]
