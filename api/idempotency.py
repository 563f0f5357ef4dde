"""``Idempotency-Key`` for every write: a repeat gets the first answer, once.

The key is claimed in the same transaction as the write it guards (DESIGN §4.2, one
serialised path): the claim, the state change and the stored answer are committed
together, or not at all. Of two identical requests at the same time only one has an
effect; the other waits for the first transaction (PostgreSQL: on the unique index;
SQLite: on ``BEGIN IMMEDIATE``) and then replays its answer. A request that dies (the
process is killed, the connection drops) leaves no claim behind: its transaction is
rolled back by the database, so the client's retry with the same key succeeds, once.

An unfinished claim (left by an earlier version, which committed the claim first) is
answered 409 "wird noch bearbeitet" and released after `LEASE`. A key reused for a
different request answers 422.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.errors import Problem
from models.tables import IdempotencyRecord, User

#: How long a claim may be open before a repeat is told to come back (seconds).
LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    fingerprint: str


async def idempotency_key(
    request: Request,
    key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=8,
            max_length=128,
            pattern=r"^[\x21-\x7e]+$",
            description="Eindeutiger Schlüssel je Schreibvorgang (z. B. eine UUID); "
            "eine Wiederholung liefert die erste Antwort.",
        ),
    ],
) -> IdempotencyKey:
    body = await request.body()
    digest = hashlib.sha256(body).hexdigest()
    return IdempotencyKey(key, f"{request.method} {request.url.path} {digest}")


IdempotencyDep = Annotated[IdempotencyKey, Depends(idempotency_key)]


def idempotent(
    session: Session,
    user: User,
    idem: IdempotencyKey,
    now: datetime,
    write: Callable[[], BaseModel],
    status_code: int = 202,
) -> JSONResponse:
    """Run `write` once per (user, key) in the session's transaction; repeats replay the
    stored answer (header ``Idempotent-Replayed: true``).

    `write` must not commit: the claim, its changes and the answer are committed here
    together. If `write` raises, everything is rolled back and the key stays free.
    Raises `Problem` 422 for a key reused with another request.
    """
    first = _stored(session, user, idem)
    if first is not None and first.status_code is None and now - first.created_at > LEASE:
        session.delete(first)  # an unfinished claim of an earlier version: released
        session.flush()
    elif first is not None:
        return _replay(first, idem)
    record = IdempotencyRecord(
        username=user.username, key=idem.key, fingerprint=idem.fingerprint, created_at=now
    )
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:  # a concurrent request with this key committed first
        stored = _stored(session, user, idem)
        if stored is None:
            raise Problem(
                409, "Eine Anfrage mit diesem Idempotency-Key wird noch bearbeitet."
            ) from None
        return _replay(stored, idem)
    try:
        body = write().model_dump(mode="json")
        record.status_code, record.body = status_code, body
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return JSONResponse(body, status_code=status_code)


def _stored(session: Session, user: User, idem: IdempotencyKey) -> IdempotencyRecord | None:
    return session.exec(
        select(IdempotencyRecord).where(
            IdempotencyRecord.username == user.username, IdempotencyRecord.key == idem.key
        )
    ).first()


def _replay(first: IdempotencyRecord, idem: IdempotencyKey) -> JSONResponse:
    if first.fingerprint != idem.fingerprint:
        raise Problem(
            422, "Dieser Idempotency-Key wurde bereits für eine andere Anfrage verwendet."
        )
    if first.status_code is None:  # a claim of the earlier design, never finished
        raise Problem(409, "Eine Anfrage mit diesem Idempotency-Key wird noch bearbeitet.")
    return JSONResponse(
        first.body, status_code=first.status_code, headers={"Idempotent-Replayed": "true"}
    )
