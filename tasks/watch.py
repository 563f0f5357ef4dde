"""Watching the watchers (issue 9, point 6): completed sweeps, whether the sweep is
overdue, and the outbox backlog. Read by ``GET /api/v1/health`` and the dashboard.

Counts and times only, nothing about a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.tables import Notification, NotificationStatus, SweepRun, Timer


@dataclass(frozen=True)
class SweepStatus:
    """The last completed sweep (None: never) and whether the sweep is overdue."""

    last_finished: datetime | None
    overdue: bool
    stale_after: timedelta


@dataclass(frozen=True)
class Backlog:
    """Notifications not sent yet: ``pending``, ``failed`` (tried again), and when the
    oldest of them was queued (None: none waiting)."""

    pending: int
    failed: int
    oldest_unsent: datetime | None


def record_sweep_run(
    session: Session,
    started_at: datetime,
    finished_at: datetime,
    fired: int,
    sent: int,
    errors: int,
) -> SweepRun:
    """Add the row of one completed sweep (aware datetimes; `errors`: e-mails failed or
    given up) to `session`'s transaction."""
    run = SweepRun(
        started_at=started_at, finished_at=finished_at, fired=fired, sent=sent, errors=errors
    )
    session.add(run)
    return run


def sweep_status(session: Session, now: datetime, stale_after: timedelta) -> SweepStatus:
    """Whether the deadline sweep is overdue at `now`: its last completed run finished
    more than `stale_after` before `now`. Before any sweep completed (a new installation),
    it is overdue once a timer has been due for longer than `stale_after`: until then
    there was nothing to miss."""
    last = session.exec(select(func.max(SweepRun.finished_at))).one()
    if last is not None:
        return SweepStatus(last, now - last > stale_after, stale_after)
    waiting = session.exec(
        select(Timer.id)
        .where(col(Timer.fired_at).is_(None), Timer.fire_at <= now - stale_after)
        .limit(1)
    ).first()
    return SweepStatus(None, waiting is not None, stale_after)


def outbox_backlog(session: Session) -> Backlog:
    """Pending and failed notifications, counted in one GROUP BY, and the oldest's time."""
    rows = session.exec(
        select(Notification.status, func.count(), func.min(Notification.created_at))
        .where(
            col(Notification.status).in_([NotificationStatus.pending, NotificationStatus.failed])
        )
        .group_by(col(Notification.status))
    ).all()
    counts = {status: count for status, count, _ in rows}
    oldest = min((first for _, _, first in rows if first is not None), default=None)
    return Backlog(
        counts.get(NotificationStatus.pending, 0), counts.get(NotificationStatus.failed, 0), oldest
    )
