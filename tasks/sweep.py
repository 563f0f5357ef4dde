"""The deadline sweep: fire every due timer once, re-checking the case at fire time.

Timers are rows (`models.tables.Timer`); a timer is due when ``fire_at <= now`` and it
has not fired. Each is fed to the state machine as `DeadlineReached`; the decision and
``fired_at`` are saved in one transaction, so a timer never fires twice. Rows are
re-read under the referral's lock in a transaction of their own, so parallel sweeps never
fire the same timer (DESIGN §4.2, §4.8). A sweep after downtime fires every overdue timer once, in
due order (catch-up). Then it raises escalations left open too long to the second step of
the ladder (`tasks.escalations.raise_case`), the same way: one transaction per case.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from models.clock import local_date
from models.db import begin_write
from models.process import Registry
from models.settings import Settings
from models.statemachine import DeadlineReached, decide
from models.tables import Deadline, Referral, Timer
from tasks.escalations import raise_case, stale_referrals
from tasks.process_versions import service_for
from tasks.repository import case_view, save_decision

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass
class Swept:
    """What one sweep did: timers fired, of which acted on or skipped, escalations raised
    to the second step, cases touched."""

    fired: int = 0
    acted: int = 0
    skipped: int = 0
    raised: int = 0
    referral_ids: set[int] = field(default_factory=set)


def fire_due_timers(
    session_factory: SessionFactory,
    registry: Registry,
    settings: Settings,
    now: datetime,
    batch: int = 200,
) -> Swept:
    """Fire every timer with ``fire_at <= now`` (aware datetime) that has not fired yet.

    One transaction per case, on the one path of every state change (DESIGN §4.2): the
    referral row is locked (PostgreSQL ``FOR UPDATE``; SQLite ``BEGIN IMMEDIATE``), its
    due timers are re-read under the lock and fed to the state machine in due order, so
    an API event and a timer of one case, or two sweeps, are judged one after the other
    and no timer fires twice. Cases are taken in id order (no deadlock between sweeps).
    Returns a `Swept` summary. Never fires a timer early: ``now`` is the only cut-off.
    Afterwards escalations due for the second step are raised (`raise_escalations`).
    """
    result, after = Swept(), 0
    while True:
        with session_factory() as session:
            referral_ids = list(
                session.exec(
                    select(Timer.referral_id)
                    .where(
                        col(Timer.fired_at).is_(None),
                        Timer.fire_at <= now,
                        Timer.referral_id > after,
                    )
                    .group_by(col(Timer.referral_id))
                    .order_by(col(Timer.referral_id))
                    .limit(batch)
                )
            )
        for referral_id in referral_ids:
            with session_factory() as session:
                begin_write(session)
                _fire_case(session, referral_id, registry, settings, now, result)
        if len(referral_ids) < batch:
            break
        after = referral_ids[-1]
    raise_escalations(session_factory, registry, now, result, batch)
    return result


def raise_escalations(
    session_factory: SessionFactory, registry: Registry, now: datetime, result: Swept, batch: int
) -> None:
    """Raise every escalation due for the second step at `now` (`tasks.escalations`), one
    transaction per case under the referral's lock, cases in id order; adds to `result`."""
    after = 0
    while True:
        with session_factory() as session:
            referral_ids = stale_referrals(session, registry, now, after=after, batch=batch)
        for referral_id in referral_ids:
            with session_factory() as session:
                begin_write(session)
                if raised := raise_case(session, referral_id, registry, now):
                    result.raised += len(raised)
                    result.referral_ids.add(referral_id)
        if len(referral_ids) < batch:
            return
        after = referral_ids[-1]


def _fire_case(
    session: Session,
    referral_id: int,
    registry: Registry,
    settings: Settings,
    now: datetime,
    result: Swept,
) -> None:
    """Fire the due timers of one case under its lock (see `fire_due_timers`)."""
    today = local_date(now)
    referral = session.get(Referral, referral_id, with_for_update=True, populate_existing=True)
    assert referral is not None
    timers = session.exec(
        select(Timer)
        .where(
            Timer.referral_id == referral_id,
            col(Timer.fired_at).is_(None),
            Timer.fire_at <= now,
        )
        .order_by(col(Timer.fire_at), col(Timer.id))
    ).all()
    for timer in timers:
        deadline = session.get(Deadline, timer.deadline_id)
        assert deadline is not None
        decision = decide(
            case_view(session, referral, today),
            DeadlineReached(timer.deadline_id, deadline.kind, deadline.due_on, timer.step),
            today,
            service_for(session, registry, referral),  # the version the case runs on
        )
        result.referral_ids.update(
            save_decision(
                session,
                referral,
                decision,
                on=decision.effective_on or today,
                now=now,
                registry=registry,
                settings=settings,
            )
        )
        timer.fired_at = now
        timer.result = decision.event or f"übersprungen: {decision.skipped}"
        result.fired += 1
        if decision.changed:
            result.acted += 1
        else:
            result.skipped += 1
