"""Passwords (Argon2 via pwdlib), bearer tokens (JWT via PyJWT) and revocable sessions.

A token carries ``sub`` (user name), ``jti`` (random session id), ``iat`` and ``exp``. It
is valid only while its `UserSession` row exists, is not revoked and has not expired, and
while the user is active: logout and an admin's revocation end it at once, as dashboard
cookie and as bearer token alike. No home-made crypto.
"""

from __future__ import annotations

import functools
import logging
import secrets
from datetime import datetime, timedelta

import jwt
from pwdlib import PasswordHash
from sqlmodel import Session, col, select

from models.settings import Settings
from models.tables import User, UserSession

ALGORITHM = "HS256"
log = logging.getLogger(__name__)


@functools.cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return _hasher().verify(password, hashed)


@functools.cache
def dummy_hash() -> str:
    """An Argon2 hash of a random password, computed once per process.

    Verifying against it when the account is unknown or inactive costs the same time as
    a real verification, so the answer time does not tell whether an account exists.
    """
    return hash_password(secrets.token_urlsafe(16))


def verify_login(user: User | None, password: str) -> bool:
    """Whether `password` opens `user` (an active account); the same work is done for an
    unknown or inactive account (verification against `dummy_hash`)."""
    if user is None or not user.active:
        verify_password(password, dummy_hash())
        return False
    return verify_password(password, user.password_hash)


@functools.cache
def _process_secret() -> str:
    log.warning(
        "KEL_DEV_MODE: Tokens werden mit einem zufälligen Schlüssel dieses Prozesses "
        "signiert; sie enden mit einem Neustart und gelten nicht in anderen Prozessen."
    )
    return secrets.token_hex(32)


class MissingSecret(RuntimeError):
    """``KEL_JWT_SECRET`` is not set and the development mode is off."""


MISSING_SECRET = (
    "KEL_JWT_SECRET fehlt: ohne festen Schlüssel gelten Anmeldungen nicht über Neustarts "
    "und mehrere Prozesse hinweg. Bitte einen zufälligen Schlüssel setzen, z. B. "
    "`export KEL_JWT_SECRET=$(openssl rand -hex 32)` (`make serve` legt einen in "
    "`.kel-secret` an), oder für die Entwicklung KEL_DEV_MODE=1."
)


def check_signing_key(settings: Settings) -> None:
    """Raise `MissingSecret` (German message) unless a key is configured or dev mode is on.

    The key's strength is checked when the settings are read (`models.passwords`).
    """
    if settings.jwt_secret is None and not settings.dev_mode:
        raise MissingSecret(MISSING_SECRET)


def signing_key(settings: Settings) -> str:
    """The configured key; in dev mode without one, a random key for this process."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    check_signing_key(settings)
    return _process_secret()


def create_token(username: str, jti: str, settings: Settings, now: datetime) -> str:
    """A signed token for `username` and session `jti`, valid `settings.token_minutes`."""
    claims = {
        "sub": username,
        "jti": jti,
        "iat": now,
        "exp": now + timedelta(minutes=settings.token_minutes),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)


def token_claims(token: str, settings: Settings, now: datetime) -> tuple[str, str] | None:
    """``(user name, jti)`` of a validly signed, unexpired token, or None (bad signature,
    expired, malformed, no jti). Expiry is checked against `now` (the app's clock)."""
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            options={
                "verify_exp": False,
                "verify_iat": False,
                "require": ["exp", "sub", "jti"],
            },
        )
    except jwt.PyJWTError:
        return None
    subject, jti, expires = claims.get("sub"), claims.get("jti"), claims.get("exp")
    if not isinstance(subject, str) or not isinstance(jti, str) or not isinstance(expires, int):
        return None
    return (subject, jti) if now.timestamp() < expires else None


def start_session(db: Session, user: User, settings: Settings, now: datetime) -> str:
    """Add a `UserSession` for `user` (not committed) and return its signed token."""
    jti = secrets.token_urlsafe(16)
    db.add(
        UserSession(
            jti=jti,
            username=user.username,
            created_at=now,
            expires_at=now + timedelta(minutes=settings.token_minutes),
        )
    )
    return create_token(user.username, jti, settings, now)


def authenticate(
    db: Session, token: str, settings: Settings, now: datetime
) -> tuple[User, UserSession] | None:
    """The active user and open session of `token`, or None: bad or expired token, unknown
    or revoked session, session of another user, inactive or deleted account."""
    claims = token_claims(token, settings, now)
    if claims is None:
        return None
    username, jti = claims
    found = db.exec(  # one query for the session and its account (every request)
        select(UserSession, User)
        .join(User, col(User.username) == UserSession.username)
        .where(UserSession.jti == jti)
    ).first()
    if found is None:  # unknown session, or its account was deleted
        return None
    row, user = found
    if row.username != username or row.revoked_at is not None:
        return None
    if row.expires_at <= now:
        return None
    if not user.active:
        return None
    return user, row


def revoke_session(db: Session, row: UserSession, now: datetime) -> None:
    """Mark one session revoked at `now` (not committed)."""
    if row.revoked_at is None:
        row.revoked_at = now
        db.add(row)


def revoke_sessions(db: Session, username: str, now: datetime) -> int:
    """Revoke every session of `username` not revoked yet (not committed); returns how
    many. Expired ones are included: "expired" is judged by the caller's clock."""
    rows = db.exec(
        select(UserSession)
        .where(UserSession.username == username)
        .where(col(UserSession.revoked_at).is_(None))
    ).all()
    for row in rows:
        revoke_session(db, row, now)
    return len(rows)


def open_sessions(db: Session, now: datetime, username: str | None = None) -> list[UserSession]:
    """Sessions not revoked and not expired at `now`, newest first (optionally of one user)."""
    query = (
        select(UserSession)
        .where(col(UserSession.revoked_at).is_(None))
        .where(col(UserSession.expires_at) > now)
    )
    if username is not None:
        query = query.where(UserSession.username == username)
    return list(db.exec(query.order_by(col(UserSession.created_at).desc())))
