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
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from api.errors import Problem
from models.tables import IdempotencyRecord, User
from tasks import audit_trail

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
    record_id = _claim(session, user, idem, now)
    if record_id is None:  # the key is taken: by an earlier request, or one committed now
        first = _stored(session, user, idem)
        if first is None:
            raise Problem(409, "Eine Anfrage mit diesem Idempotency-Key wird noch bearbeitet.")
        if first.status_code is not None or now - first.created_at <= LEASE:
            return _replay(first, idem)
        session.delete(first)  # an unfinished claim of an earlier version: released
        session.flush()
        record_id = _claim(session, user, idem, now)
        if record_id is None:
            raise Problem(409, "Eine Anfrage mit diesem Idempotency-Key wird noch bearbeitet.")
    try:
        with audit_trail.deferred(session):  # the chain's lock only for the commit
            body = write().model_dump(mode="json")
            session.execute(
                update(IdempotencyRecord)
                .where(col(IdempotencyRecord.id) == record_id)
                .values(status_code=status_code, body=body)
            )
            audit_trail.write_deferred(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return JSONResponse(body, status_code=status_code)


def _claim(session: Session, user: User, idem: IdempotencyKey, now: datetime) -> int | None:
    """Insert the claim of `idem` for `user`; its id, or None when the key is taken. One
    statement (``INSERT … ON CONFLICT DO NOTHING``, PostgreSQL and SQLite): a concurrent
    request with the same key waits for the other's transaction (unique index), then
    finds the key taken; no savepoint is needed to survive the conflict."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted = session.execute(
        insert(IdempotencyRecord)
        .values(username=user.username, key=idem.key, fingerprint=idem.fingerprint, created_at=now)
        .on_conflict_do_nothing()
        .returning(col(IdempotencyRecord.id))
    ).scalar_one_or_none()
    return int(inserted) if inserted is not None else None


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
