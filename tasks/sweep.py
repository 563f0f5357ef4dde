"""The deadline sweep: fire every due timer once, re-checking the case at fire time.

Timers are rows (`models.tables.Timer`); a timer is due when ``fire_at <= now`` and it
has not fired. Each is fed to the state machine as `DeadlineReached`; the decision and
``fired_at`` are saved in one transaction, so a timer never fires twice. Rows are
claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so parallel sweeps never take
the same timer (DESIGN §4.7). A sweep after downtime fires every overdue timer once, in
due order (catch-up).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from models.clock import local_date
from models.process import Registry
from models.settings import Settings
from models.statemachine import DeadlineReached, decide
from models.tables import Deadline, Referral, Timer
from tasks.repository import case_view, save_decision

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass
class Swept:
    """What one sweep did: timers fired, of which acted on or skipped, cases touched."""

    fired: int = 0
    acted: int = 0
    skipped: int = 0
    referral_ids: set[int] = field(default_factory=set)


def fire_due_timers(
    session_factory: SessionFactory,
    registry: Registry,
    settings: Settings,
    now: datetime,
    batch: int = 200,
) -> Swept:
    """Fire every timer with ``fire_at <= now`` (aware datetime) that has not fired yet.

    Returns a `Swept` summary. Never fires a timer early: ``now`` is the only cut-off.
    """
    result = Swept()
    today = local_date(now)
    while True:
        with session_factory() as session:
            timers = list(
                session.exec(
                    select(Timer)
                    .where(col(Timer.fired_at).is_(None), Timer.fire_at <= now)
                    .order_by(col(Timer.fire_at), col(Timer.id))
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            # one case after the other, in id order: referral rows are locked in a fixed
            # order, so parallel sweeps never deadlock; a case's timers keep their order
            for timer in sorted(timers, key=lambda t: (t.referral_id, t.fire_at, t.id)):
                deadline = session.get(Deadline, timer.deadline_id)
                referral = session.get(Referral, timer.referral_id, with_for_update=True)
                assert deadline is not None and referral is not None
                decision = decide(
                    case_view(session, referral, today),
                    DeadlineReached(timer.deadline_id, deadline.kind, deadline.due_on, timer.step),
                    today,
                    registry.service(referral.service_type),
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
        if len(timers) < batch:
            return result
