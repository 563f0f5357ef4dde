"""Escalations that reflect reality (issue 8; Mindeststandards seed 002 §4.2).

An escalation to the Koordination § 16a is raised by the deadline sweep when a Frist is
overdue (`models.statemachine`, ladder step ``escalate``). This module keeps it true:

- **text**: the stored `reason` names the deadline and its due date (`reason_text`); the
  days overdue are counted when shown, as of the reader's today (`overdue_text`,
  `days_overdue`), so no text says "seit 8 Tagen" forever;
- **auto-resolve**: when the deadline behind it is met or cancelled, or the case closes,
  `settle_escalations` resolves it in the same transaction as the decision
  (`tasks.repository.save_decision`), with a German `resolution`, ``resolved_by =
  "system"`` and an audit entry ``escalation_auto_resolve`` (escalation id, reason code);
- **second step**: an escalation still open or acknowledged after the working days of
  the standards' ``escalation`` block (`models.process.EscalationStandard`) is raised once
  to level 2 with an e-mail to the configured address and an audit entry
  ``escalation_raised`` (`stale_referrals`, `raise_case`, called by the sweep
  `tasks.sweep.fire_due_timers` in one transaction per referral under its lock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from models.calendar import due_date
from models.clock import local_date
from models.german import datum
from models.process import EscalationStandard, Registry, ServiceConfig
from models.tables import (
    Deadline,
    DeadlineState,
    Escalation,
    EscalationState,
    Notification,
    Provider,
    Referral,
)
from tasks.repository import SYSTEM, active_voucher, audit

#: States of an escalation that still waits for someone (the inbox).
UNRESOLVED = (EscalationState.open.value, EscalationState.acknowledged.value)
#: Audit reason codes of an automatic resolution (no content, DESIGN §4.4).
DEADLINE_MET, DEADLINE_CANCELLED, CASE_CLOSED = "deadline_met", "deadline_cancelled", "case_closed"
#: Template and recipient role of the second step's e-mail.
SECOND_STEP_TEMPLATE = "escalation_second_step"
SECOND_STEP_ROLE = "teamleitung"


# --- texts (pure) -------------------------------------------------------------------


def reason_text(deadline_title: str, due_on: date) -> str:
    """The stored reason of an escalation: ``"1. Rückmeldung überfällig (fällig am
    03.09.2026)"``; it holds no day count, which would be wrong the next day."""
    return f"{deadline_title} überfällig (fällig am {datum(due_on)})"


def days_overdue(due_on: date, today: date) -> int:
    """Whole days `today` lies after `due_on` (local dates); 0 on or before the due day
    (a Frist ends when its last day ends, DESIGN §3)."""
    return max(0, (today - due_on).days)


def overdue_text(due_on: date, today: date) -> str:
    """German: ``"seit 1 Tag überfällig"``, ``"seit 5 Tagen überfällig"``; ``"fällig am
    03.09.2026"`` while not yet overdue. `due_on` is the deadline's last day, `today` the
    reader's local date (Europe/Berlin)."""
    days = days_overdue(due_on, today)
    if days == 0:
        return f"fällig am {datum(due_on)}"
    return f"seit {days} {'Tag' if days == 1 else 'Tagen'} überfällig"


def resolution(
    deadline_state: str, completed_on: date | None, closed_on: date | None
) -> tuple[str, str] | None:
    """(reason code, German text) for resolving an escalation automatically, or None
    while its deadline is open and the case runs.

    A met deadline says so even when the same event closes the case; otherwise a closed
    case (`closed_on`) wins over a cancelled deadline (closing cancels every deadline).
    """
    if deadline_state == DeadlineState.met:
        return DEADLINE_MET, f"erledigt: Frist erfüllt am {datum(completed_on)}"
    if closed_on is not None:
        return CASE_CLOSED, f"Fall abgeschlossen am {datum(closed_on)}"
    if deadline_state == DeadlineState.cancelled:
        return DEADLINE_CANCELLED, f"erledigt: Frist entfallen am {datum(completed_on)}"
    return None


def second_step_on(escalated_on: date, working_days: int, land: str) -> date:
    """The first day the second step is due: the day after the `working_days`-th working
    day (weekends, public holidays of `land`) after `escalated_on`, the day of the
    escalation, which is not counted (as a Frist, § 26 SGB X with § 187 Abs. 1 BGB)."""
    last = due_date(escalated_on, f"P{working_days}D", land, working_days=True)
    return last + timedelta(days=1)


# --- auto-resolve (inside save_decision's transaction) ------------------------------


def settle_escalations(
    session: Session, referral: Referral, *, on: date, now: datetime, closed: bool
) -> list[int]:
    """Resolve the unresolved escalations of `referral` whose deadline is no longer open
    or, when `closed`, all of them (the case reached a final state on `on`).

    Sets ``state = resolved``, `resolved_at` = `now`, ``resolved_by = "system"`` and the
    German `resolution` (see `resolution`), and appends one audit entry per escalation
    (``escalation_auto_resolve``: escalation id and reason code). Runs in the caller's
    transaction under the referral's lock; does not commit. Returns the ids resolved.
    """
    assert referral.id is not None
    session.flush()  # the decision's deadline changes, so the query below sees them
    rows = session.exec(
        select(Escalation, Deadline)
        .join(Deadline, col(Deadline.id) == Escalation.deadline_id)
        .where(Escalation.referral_id == referral.id, col(Escalation.state).in_(UNRESOLVED))
        .order_by(col(Escalation.id))
        .with_for_update(of=Escalation)  # a coordinator's change at the same moment: re-checked
        .execution_options(populate_existing=True)
    ).all()
    resolved: list[tuple[int, str]] = []
    for escalation, deadline in rows:
        found = resolution(deadline.state, deadline.completed_on or on, on if closed else None)
        if found is None:
            continue
        code, text = found
        escalation.state, escalation.resolved_at = EscalationState.resolved, now
        escalation.resolution, escalation.resolved_by = text, SYSTEM.name
        session.add(escalation)
        assert escalation.id is not None
        resolved.append((escalation.id, code))
    for escalation_id, code in resolved:  # audit last: it takes the chain's lock
        audit(
            session,
            now,
            SYSTEM,
            "escalation_auto_resolve",
            referral.id,
            escalation_id=escalation_id,
            reason=code,
        )
    return [escalation_id for escalation_id, _ in resolved]


# --- second step (the deadline sweep) ------------------------------------------------


@dataclass(frozen=True)
class Raised:
    """One escalation raised to level 2: its id and the key of the e-mail queued for it."""

    escalation_id: int
    notification_key: str


def stale_referrals(
    session: Session, registry: Registry, now: datetime, *, after: int = 0, batch: int = 200
) -> list[int]:
    """Ids (ascending, > `after`, at most `batch`) of referrals that may have an
    escalation due for the second step at `now`: unresolved, level 1, raised at least
    ``second_step_after_working_days`` calendar days ago (a cheap superset: that many
    working days are at least as many calendar days; `raise_case` decides exactly).
    Empty when the standards configure no second step."""
    config = registry.escalation
    if config is None:
        return []
    cutoff = now - timedelta(days=config.second_step_after_working_days - 1)
    return list(
        session.exec(
            select(Escalation.referral_id)
            .where(
                col(Escalation.state).in_(UNRESOLVED),
                Escalation.level == 1,
                col(Escalation.created_at) <= cutoff,
                Escalation.referral_id > after,
            )
            .group_by(col(Escalation.referral_id))
            .order_by(col(Escalation.referral_id))
            .limit(batch)
        )
    )


def raise_case(
    session: Session, referral_id: int, registry: Registry, now: datetime
) -> list[Raised]:
    """Raise the due escalations of one referral to the second step, under its lock.

    Call at the start of a serialised write transaction (`models.db.begin_write`): the
    referral row is locked (PostgreSQL ``FOR UPDATE``) and its escalations re-read, so two
    sweeps never raise one twice. An escalation is due when it is open or acknowledged,
    still level 1, and `now`'s local date is on or after `second_step_on`. Each gets
    ``level = 2``, `raised_at` = `now`, one e-mail (`Notification`, template
    ``escalation_second_step``, unique key per escalation) to the configured address and
    an audit entry ``escalation_raised``. Does not commit. Returns what was raised.
    """
    config = registry.escalation
    referral = session.get(Referral, referral_id, with_for_update=True, populate_existing=True)
    if config is None or referral is None:
        return []
    service = registry.service(referral.service_type)
    today = local_date(now)
    rows = session.exec(
        select(Escalation, Deadline)
        .join(Deadline, col(Deadline.id) == Escalation.deadline_id)
        .where(
            Escalation.referral_id == referral_id,
            col(Escalation.state).in_(UNRESOLVED),
            Escalation.level == 1,
        )
        .order_by(col(Escalation.id))
        .with_for_update(of=Escalation)  # a coordinator's change at the same moment: re-checked
        .execution_options(populate_existing=True)
    ).all()
    raised = []
    for escalation, deadline in rows:
        escalated_on = local_date(escalation.created_at)
        if today < second_step_on(
            escalated_on, config.second_step_after_working_days, service.land
        ):
            continue
        escalation.level, escalation.raised_at = 2, now
        session.add(escalation)
        raised.append(
            _notify_second_step(session, referral, escalation, deadline, service, config, now)
        )
    for item in raised:
        audit(
            session,
            now,
            SYSTEM,
            "escalation_raised",
            referral_id,
            escalation_id=item.escalation_id,
            level=2,
        )
    return raised


def _notify_second_step(
    session: Session,
    referral: Referral,
    escalation: Escalation,
    deadline: Deadline,
    service: ServiceConfig,
    config: EscalationStandard,
    now: datetime,
) -> Raised:
    """Queue the second step's e-mail: IDs, titles and dates only (DESIGN §4.4)."""
    assert referral.id is not None and escalation.id is not None
    key = f"ref-{referral.id}:esc-{escalation.id}:level-2"
    if session.exec(select(Notification.id).where(Notification.key == key)).first() is None:
        session.add(
            Notification(
                key=key,
                referral_id=referral.id,
                template=SECOND_STEP_TEMPLATE,
                recipient_role=SECOND_STEP_ROLE,
                recipient=str(config.second_step_email),
                context=_context(session, referral, escalation, deadline, service, now),
                created_at=now,
            )
        )
    return Raised(escalation.id, key)


def _context(
    session: Session,
    referral: Referral,
    escalation: Escalation,
    deadline: Deadline,
    service: ServiceConfig,
    now: datetime,
) -> dict[str, Any]:
    assert referral.id is not None
    voucher = active_voucher(session, referral.id)
    provider = session.get(Provider, referral.provider_id) if referral.provider_id else None
    return {
        "referral_id": referral.id,
        "voucher_number": voucher.number if voucher else "–",
        "provider_name": provider.name if provider else "–",
        "service_title": service.title,
        "state_title": service.process.states[referral.state].title,
        "site": referral.site,
        "deadline_title": deadline.title,
        "due_on": deadline.due_on.isoformat(),
        "days_overdue": days_overdue(deadline.due_on, local_date(now)),
        "occurred_on": local_date(escalation.created_at).isoformat(),
    }
