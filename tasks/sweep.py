"""The deadline sweep: fire every due timer once, re-checking the case at fire time.

Timers are rows (`models.tables.Timer`); a timer is due when ``fire_at <= now`` and it
has not fired. Each is fed to the state machine as `DeadlineReached`; the decision and
``fired_at`` are saved in one transaction, so a timer never fires twice. Rows are
re-read under the referral's lock, a batch of cases per transaction with a SAVEPOINT per
case, so parallel sweeps never fire the same timer (DESIGN §4.2, §4.8). A sweep after
downtime fires every overdue timer once, in due order (catch-up). Then it raises
escalations left open too long to the second step of the ladder
(`tasks.escalations.raise_case`), one transaction per case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import takewhile

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Session, col, select

from models.clock import local_date
from models.db import begin_write
from models.process import Registry
from models.settings import Settings
from models.statemachine import DeadlineReached
from models.tables import Deadline, Provider, Referral, Timer
from tasks import audit_trail
from tasks.advance import advance
from tasks.escalations import raise_case, stale_referrals

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass
class Swept:
    """What one sweep did: timers fired, of which acted on or skipped, escalations raised
    to the second step, cases that failed (rolled back, due again next time), cases
    touched."""

    fired: int = 0
    acted: int = 0
    skipped: int = 0
    raised: int = 0
    failed: int = 0  # cases rolled back after an error; their timers stay due
    referral_ids: set[int] = field(default_factory=set)


def fire_due_timers(
    session_factory: SessionFactory,
    registry: Registry,
    settings: Settings,
    now: datetime,
    batch: int = 200,
) -> Swept:
    """Fire every timer with ``fire_at <= now`` (aware datetime) that has not fired yet.

    On the one path of every state change (DESIGN §4.2), in batches of up to `batch`
    cases taken in id order: one transaction per batch (SQLite ``BEGIN IMMEDIATE``) locks
    the batch's referral rows in one statement (PostgreSQL ``FOR UPDATE SKIP LOCKED``),
    re-reads their due timers under the lock and feeds them to the state machine in due
    order. So an API event and a timer of one case, or two sweeps, are judged one after
    the other and no timer fires twice. A case that another transaction holds ends the
    batch there: what is done is committed, then the sweep waits for that case alone (no
    lock held while waiting: no deadlock) and goes on. A case whose firing raises (not a
    lost connection) is rolled back alone (a SAVEPOINT per case, `_fire_committed`),
    counted in `Swept.failed` and logged; its timers stay due for the next sweep. Returns a
    `Swept`
    summary. Never fires a timer early: ``now`` is the only cut-off. Afterwards
    escalations due for the second step are raised (`raise_escalations`).
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
        pending = referral_ids
        while pending:
            pending = _fire_committed(session_factory, pending, registry, settings, now, result)
            if pending:  # its first case is held by another transaction: wait for it
                _fire_committed(
                    session_factory, pending[:1], registry, settings, now, result, wait=True
                )
                pending = pending[1:]
        if len(referral_ids) < batch:
            break
        after = referral_ids[-1]
    raise_escalations(session_factory, registry, now, result, batch)
    return result


class _CaseFailed(Exception):
    """A case of a batch run without savepoints raised: the batch is done again with them."""


def _fire_committed(
    session_factory: SessionFactory,
    referral_ids: list[int],
    registry: Registry,
    settings: Settings,
    now: datetime,
    result: Swept,
    *,
    wait: bool = False,
) -> list[int]:
    """`_fire_batch` in a transaction of its own, committed; its counts are added to
    `result` only then. First without savepoints (two statements per case fewer); if a
    case raises, that transaction is rolled back and the batch done again with a
    SAVEPOINT per case. Returns what `_fire_batch` returns."""
    for careful in (False, True):
        done = Swept()
        try:
            with session_factory() as session:
                begin_write(session)
                rest = _fire_batch(
                    session, referral_ids, registry, settings, now, done, wait, careful
                )
        except _CaseFailed:
            continue
        _add(result, done)
        return rest
    raise AssertionError("a careful batch raises no _CaseFailed")


def _add(result: Swept, more: Swept) -> None:
    result.fired += more.fired
    result.acted += more.acted
    result.skipped += more.skipped
    result.raised += more.raised
    result.failed += more.failed
    result.referral_ids |= more.referral_ids


def _fire_batch(
    session: Session,
    referral_ids: list[int],
    registry: Registry,
    settings: Settings,
    now: datetime,
    result: Swept,
    wait: bool,
    careful: bool,
) -> list[int]:
    """Fire the due timers of `referral_ids` (ascending) in `session`'s transaction, up to
    the first case another transaction holds (skipped unless `wait`: then its lock is
    awaited), each case in a SAVEPOINT if `careful` (else a failing case raises
    `_CaseFailed`). Returns the ids not done, starting with that held case (empty: all
    done)."""
    locked = {
        r.id: r
        for r in session.exec(
            select(Referral)
            .where(col(Referral.id).in_(referral_ids))
            .order_by(col(Referral.id))
            .with_for_update(skip_locked=not wait)
            .execution_options(populate_existing=True)
        )
    }
    ready = referral_ids if wait else list(takewhile(locked.__contains__, referral_ids))
    ready = [i for i in ready if i in locked]  # waited for: a deleted case is left out
    timers: dict[int, list[Timer]] = {}
    for timer in session.exec(
        select(Timer)
        .where(
            col(Timer.referral_id).in_(ready),
            col(Timer.fired_at).is_(None),
            Timer.fire_at <= now,
        )
        .order_by(col(Timer.referral_id), col(Timer.fire_at), col(Timer.id))
    ):
        timers.setdefault(timer.referral_id, []).append(timer)
    deadline_ids = [t.deadline_id for due in timers.values() for t in due]
    # held here: `session.get` in `_fire_case` and `save_decision` then finds them without
    # a query
    deadlines = list(session.exec(select(Deadline).where(col(Deadline.id).in_(deadline_ids))))
    provider_ids = {locked[i].provider_id for i in ready} - {None}
    providers = list(session.exec(select(Provider).where(col(Provider.id).in_(provider_ids))))
    with audit_trail.deferred(session):  # the chain's lock only for the batch's commit
        for referral_id in ready:
            _fire_isolated(
                session,
                locked[referral_id],
                timers.get(referral_id, []),
                registry,
                settings,
                now,
                result,
                careful,
            )
        audit_trail.write_deferred(session)
    del deadlines, providers
    return [] if wait else referral_ids[len(ready) :]


def _fire_isolated(
    session: Session,
    referral: Referral,
    timers: list[Timer],
    registry: Registry,
    settings: Settings,
    now: datetime,
    result: Swept,
    careful: bool,
) -> None:
    """`_fire_case`, if `careful` in a SAVEPOINT: if it raises, the case alone is rolled
    back and counted as failed (its timers stay due); not `careful`, it raises
    `_CaseFailed`. A lost connection or lock timeout ends the sweep."""
    case, audited = Swept(), audit_trail.queued(session)
    try:
        if careful:
            with session.begin_nested():
                _fire_case(session, referral, timers, registry, settings, now, case)
        else:
            _fire_case(session, referral, timers, registry, settings, now, case)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            raise
        if not careful:
            raise _CaseFailed from exc
        audit_trail.drop_queued(session, audited)
        result.failed += 1
        log.warning(
            "Fristenprüfung: Fall-ID %s nicht ausgelöst (%s), bleibt fällig",
            referral.id,
            type(exc).__name__,
        )
        return
    _add(result, case)


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
    referral: Referral,
    timers: list[Timer],
    registry: Registry,
    settings: Settings,
    now: datetime,
    result: Swept,
) -> None:
    """Fire `timers` (the case's due timers, re-read under its lock, in due order) of
    `referral` (locked) (see `fire_due_timers`)."""
    today = local_date(now)
    for timer in timers:
        deadline = session.get(Deadline, timer.deadline_id)
        assert deadline is not None
        reached = DeadlineReached(timer.deadline_id, deadline.kind, deadline.due_on, timer.step)
        advanced = advance(
            session, referral, reached, today=today, now=now, registry=registry, settings=settings
        )
        decision = advanced.decision
        result.referral_ids.update(advanced.changed)
        timer.fired_at = now
        timer.result = decision.event or f"übersprungen: {decision.skipped}"
        result.fired += 1
        if decision.changed:
            result.acted += 1
        else:
            result.skipped += 1
