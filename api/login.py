"""Signing in, shared by ``POST /api/v1/auth/token`` and the dashboard's login form.

Failed attempts are limited per account name and per client address with the `limits`
library (moving window; ``memory://`` per process by default, ``redis://…`` through
``KEL_RATELIMIT_STORAGE_URL`` for several API processes). A successful login does not
count. The answer and the work done are the same whether the account exists or not
(`api.security.verify_login`), and so is the limit: it counts account names as typed.

Logins are audited: ``login`` and ``login_failed`` with the account's name, a failure for
an unknown name as ``login_failed_unknown_user`` without it (never store strings an
attacker typed). Attempts refused by the limit are not audited (no audit flood).

Testing without sleeping: `LoginThrottle` takes a `timer` (seconds since the epoch, used
for ``Retry-After``); the tests replace ``time`` in ``limits.storage.memory`` by a fake
with the same timer (see tests/api/test_sessions_and_login.py).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from limits import RateLimitItemPerMinute
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlmodel import Session, select

from api.security import start_session, verify_login
from models.settings import Settings
from models.tables import User
from tasks.repository import Actor, audit

ANONYMOUS = Actor("anonymous", "anonymous")
WRONG = "Benutzername oder Passwort falsch."


class LoginFailed(Exception):
    """Wrong name or password, or an inactive account (one answer for all)."""


class TooManyAttempts(Exception):
    """Too many failed logins for the account name or the client address."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(too_many_message(retry_after))
        self.retry_after = retry_after


def too_many_message(retry_after: int) -> str:
    minutes = max(1, math.ceil(retry_after / 60))
    unit = "Minute" if minutes == 1 else "Minuten"
    return f"Zu viele fehlgeschlagene Anmeldeversuche. Bitte in {minutes} {unit} erneut versuchen."


def _key(value: str) -> str:
    """A storage key for a typed account name or an address (hashed: what an attacker
    types is not stored readably, e.g. in Redis)."""
    return hashlib.sha256(value.casefold().encode()).hexdigest()[:32]


class LoginThrottle:
    """Failed logins per account name and per client address in a moving window."""

    def __init__(
        self,
        storage: Storage,
        *,
        per_account: int,
        per_address: int,
        window_minutes: int,
        timer: Callable[[], float] = time.time,
    ) -> None:
        self.limiter = MovingWindowRateLimiter(storage)
        self.account = RateLimitItemPerMinute(
            per_account, window_minutes, namespace="kel-login-account"
        )
        self.address = RateLimitItemPerMinute(
            per_address, window_minutes, namespace="kel-login-address"
        )
        self.timer = timer

    @classmethod
    def from_settings(
        cls, settings: Settings, timer: Callable[[], float] = time.time
    ) -> LoginThrottle:
        storage = storage_from_string(settings.ratelimit_storage_url)
        if not isinstance(storage, Storage):  # async:// storages need an async limiter
            raise ValueError("KEL_RATELIMIT_STORAGE_URL: nur synchrone Speicher (memory, redis).")
        return cls(
            storage,
            per_account=settings.login_failures_per_account,
            per_address=settings.login_failures_per_address,
            window_minutes=settings.login_window_minutes,
            timer=timer,
        )

    def _checks(self, username: str, address: str) -> list[tuple[RateLimitItemPerMinute, str]]:
        return [(self.account, _key(username)), (self.address, _key(address))]

    def check(self, username: str, address: str) -> None:
        """Raise `TooManyAttempts` (seconds until the next attempt is allowed) when the
        account name or the address has used up its failures."""
        waits = [
            self.limiter.get_window_stats(item, key).reset_time - self.timer()
            for item, key in self._checks(username, address)
            if not self.limiter.test(item, key)
        ]
        if waits:
            raise TooManyAttempts(max(1, math.ceil(max(waits))))

    def failed(self, username: str, address: str) -> None:
        """Count one failed attempt for the account name and the address."""
        for item, key in self._checks(username, address):
            self.limiter.hit(item, key)


def client_address(request: Request) -> str:
    """The client's address as the app sees it (behind a reverse proxy: run uvicorn with
    ``--proxy-headers --forwarded-allow-ips`` so this is the real client)."""
    return request.client.host if request.client else "unbekannt"


@dataclass(frozen=True)
class Attempt:
    """One login attempt: what was typed, from where, through which channel."""

    username: str
    password: str
    address: str  # client address as seen by the app (uvicorn --proxy-headers behind a proxy)
    channel: str  # "api" | "dashboard"


def log_in(
    db: Session, throttle: LoginThrottle, attempt: Attempt, settings: Settings, now: datetime
) -> str:
    """A token for a new session of the attempt's account; commits the session and the
    audit row. Raises `TooManyAttempts` before any check when over the limit, and
    `LoginFailed` (after the audit row is committed) for a wrong name or password."""
    throttle.check(attempt.username, attempt.address)
    user = db.exec(select(User).where(User.username == attempt.username)).first()
    db.commit()  # end the read: no (SQLite write) lock is held during the slow Argon2 check
    if not verify_login(user, attempt.password):
        throttle.failed(attempt.username, attempt.address)
        if user is None:
            audit(db, now, ANONYMOUS, "login_failed_unknown_user", None, channel=attempt.channel)
        else:
            reason = "password" if user.active else "inactive"
            actor = Actor(user.username, user.role)
            audit(db, now, actor, "login_failed", None, channel=attempt.channel, reason=reason)
        db.commit()
        raise LoginFailed(WRONG)
    assert user is not None  # verify_login is False for None
    token = start_session(db, user, settings, now)
    audit(db, now, Actor(user.username, user.role), "login", None, channel=attempt.channel)
    db.commit()
    return token
