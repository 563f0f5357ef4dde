"""Betriebsbereitschaft: ``GET /api/v1/health`` for monitoring and load balancers.

No login, no personal data: the database, the last completed deadline sweep and the
outbox backlog, as counts and times (`tasks.watch`). 200 when all is well; 503 with the
same JSON when the database cannot be reached or the sweep is overdue (its last completed
run is older than ``KEL_SWEEP_STALE_AFTER``, default 2 hours).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from api.deps import NowDep, SettingsDep
from models.db import session
from tasks.watch import Backlog, SweepStatus, outbox_backlog, sweep_status

router = APIRouter(tags=["Betrieb"])


class SweepOut(BaseModel):
    last_completed_at: datetime | None  # None: no sweep completed yet
    age_seconds: int | None
    stale_after_seconds: int
    overdue: bool


class OutboxOut(BaseModel):
    pending: int
    failed: int
    oldest_pending_age_seconds: int | None  # oldest pending or failed notification


class HealthOut(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "unreachable"]
    sweep: SweepOut | None  # None when the database is unreachable
    outbox: OutboxOut | None


@router.get(
    "/health",
    summary="Betriebsbereitschaft",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Datenbank oder Fristenprüfung gestört"}},
)
def health(settings: SettingsDep, now: NowDep) -> JSONResponse:
    """Datenbank, letzte abgeschlossene Fristenprüfung und Rückstau der Benachrichtigungen;
    503, wenn die Datenbank nicht erreichbar oder die Fristenprüfung überfällig ist."""
    try:
        with session(settings.database_url) as s:
            sweep = sweep_status(s, now, settings.sweep_stale_after)
            backlog = outbox_backlog(s)
    except (SQLAlchemyError, OSError):
        return _answer(HealthOut(status="error", database="unreachable", sweep=None, outbox=None))
    ok = not sweep.overdue
    body = HealthOut(
        status="ok" if ok else "error",
        database="ok",
        sweep=_sweep(sweep, now),
        outbox=_outbox(backlog, now),
    )
    return _answer(body)


def _answer(body: HealthOut) -> JSONResponse:
    return JSONResponse(
        body.model_dump(mode="json"), status_code=200 if body.status == "ok" else 503
    )


def _seconds(now: datetime, then: datetime | None) -> int | None:
    return None if then is None else max(0, int((now - then).total_seconds()))


def _sweep(status: SweepStatus, now: datetime) -> SweepOut:
    return SweepOut(
        last_completed_at=status.last_finished,
        age_seconds=_seconds(now, status.last_finished),
        stale_after_seconds=int(status.stale_after.total_seconds()),
        overdue=status.overdue,
    )


def _outbox(backlog: Backlog, now: datetime) -> OutboxOut:
    return OutboxOut(
        pending=backlog.pending,
        failed=backlog.failed,
        oldest_pending_age_seconds=_seconds(now, backlog.oldest_unsent),
    )
