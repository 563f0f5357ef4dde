"""``Idempotency-Key`` for every write: a repeat gets the first answer, once.

The key is claimed (a committed row) before the write runs, so of two identical
requests at the same time only one has an effect; the other waits for its answer.
A key reused for a different request answers 422.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.errors import Problem
from models.tables import IdempotencyRecord, User

WAIT_SECONDS = 10.0


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
    """Run `write` once per (user, key); repeats replay the stored answer."""
    record = IdempotencyRecord(
        username=user.username, key=idem.key, fingerprint=idem.fingerprint, created_at=now
    )
    session.add(record)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return _replay(session, user, idem)
    try:
        body = write().model_dump(mode="json")
    except BaseException:
        session.rollback()
        session.delete(session.merge(record))
        session.commit()
        raise
    record = session.merge(record)
    record.status_code, record.body = status_code, body
    session.commit()
    return JSONResponse(body, status_code=status_code)


def _replay(session: Session, user: User, idem: IdempotencyKey) -> JSONResponse:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        session.expire_all()
        first = session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.username == user.username, IdempotencyRecord.key == idem.key
            )
        ).first()
        if first is None:  # the first attempt failed and was withdrawn: not replayable
            raise Problem(
                409,
                "Die erste Anfrage mit diesem Idempotency-Key ist "
                "fehlgeschlagen; bitte mit neuem Schlüssel wiederholen.",
            )
        if first.fingerprint != idem.fingerprint:
            raise Problem(
                422, "Dieser Idempotency-Key wurde bereits für eine andere Anfrage verwendet."
            )
        if first.status_code is not None:
            return JSONResponse(
                first.body, status_code=first.status_code, headers={"Idempotent-Replayed": "true"}
            )
        if time.monotonic() > deadline:
            raise Problem(409, "Eine Anfrage mit diesem Idempotency-Key wird noch bearbeitet.")
        time.sleep(0.05)
