"""Passwords (Argon2 via pwdlib) and bearer tokens (JWT via PyJWT); no home-made crypto."""

from __future__ import annotations

import functools
import secrets
from datetime import datetime, timedelta

import jwt
from pwdlib import PasswordHash

from models.settings import Settings

ALGORITHM = "HS256"


@functools.cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return _hasher().verify(password, hashed)


@functools.cache
def _process_secret() -> str:
    return secrets.token_hex(32)


def signing_key(settings: Settings) -> str:
    """The configured key, or a random one for this process (tokens end with a restart)."""
    return settings.jwt_secret.get_secret_value() if settings.jwt_secret else _process_secret()


def create_token(username: str, settings: Settings, now: datetime) -> str:
    """A signed token for `username`, valid `settings.token_minutes` from `now`."""
    claims = {"sub": username, "iat": now, "exp": now + timedelta(minutes=settings.token_minutes)}
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)


def token_subject(token: str, settings: Settings, now: datetime) -> str | None:
    """The user name in a valid token, or None (bad signature, expired, malformed).

    Expiry is checked against `now` (the app's clock), so tests can move time.
    """
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]},
        )
    except jwt.PyJWTError:
        return None
    subject, expires = claims.get("sub"), claims.get("exp")
    if not isinstance(subject, str) or not isinstance(expires, int):
        return None
    return subject if now.timestamp() < expires else None
