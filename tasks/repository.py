"""Reading a referral into the state machine's view, and saving its decisions.

Plain functions on a SQLModel `Session`; the Prefect tasks in this package call them.
Everything written here is idempotent where it can be repeated: notifications by key,
escalations by deadline, timers by (deadline, step).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from models.clock import start_of_day
from models.process import Registry, Release, ServiceConfig
from models.settings import Settings
from models.statemachine import CaseView, Decision, Event, Notify, OpenDeadline
from models.tables import (
    Consent,
    CustomerContact,
    Deadline,
    DeadlineState,
    Escalation,
    Notification,
    Provider,
    Referral,
    Timer,
    Voucher,
    VoucherStatus,
)
from tasks.process_versions import service_for


class NotFound(LookupError):
    """No referral with that id or reference."""


@dataclass(frozen=True)
class Actor:
    """Who caused a change: a user name (or ``system``) and a role."""

    name: str = "system"
    role: str = "system"


SYSTEM = Actor()


def referral_by_reference(session: Session, reference: str) -> Referral:
    """The referral with Fachverfahren reference `reference`, locked for this transaction
    (``FOR UPDATE`` on PostgreSQL: an event and a timer of one case are applied one after
    the other); raises `NotFound`."""
    referral = session.exec(
        select(Referral)
        .where(Referral.reference == reference)
        .with_for_update()
        # re-read under the lock even if the session loaded it before (access check)
        .execution_options(populate_existing=True)
    ).first()
    if referral is None:
        raise NotFound(f"Keine Zuweisung mit Aktenzeichen {reference!r}")
    return referral


def open_deadlines(session: Session, referral_id: int) -> list[Deadline]:
    return list(
        session.exec(
            select(Deadline)
            .where(Deadline.referral_id == referral_id, Deadline.state == DeadlineState.open)
            .order_by(col(Deadline.id))
        )
    )


def consent_valid(session: Session, referral_id: int, on: date) -> bool:
    """Whether a Schweigepflichtentbindung releasing content is in force on `on` (seed 003;
    § 67b SGB X). A consent of scope ``status`` releases status fields only."""
    return any(
        c.scope == "content"
        and c.granted_on <= on
        and (c.withdrawn_on is None or c.withdrawn_on > on)
        and (c.expires_on is None or c.expires_on >= on)
        for c in session.exec(select(Consent).where(Consent.referral_id == referral_id))
    )


def case_view(
    session: Session, referral: Referral, today: date, open_now: list[Deadline] | None = None
) -> CaseView:
    """The state machine's view of `referral` as of `today`; `open_now`: its open
    deadlines if the caller has read them already (`open_deadlines`)."""
    assert referral.id is not None
    reachable = _customer_email(session, referral.customer_id) is not None
    if open_now is None:
        open_now = open_deadlines(session, referral.id)
    return CaseView(
        referral_id=referral.id,
        service_type=referral.service_type,
        state=referral.state,
        open_deadlines=tuple(
            OpenDeadline(d.id, d.kind, d.due_on)  # type: ignore[arg-type]
            for d in open_now
        ),
        customer_reachable=reachable,
    )


def active_voucher(session: Session, referral_id: int) -> Voucher | None:
    return session.exec(
        select(Voucher).where(Voucher.referral_id == referral_id).order_by(col(Voucher.id).desc())
    ).first()


def audit(
    session: Session,
    now: datetime,
    actor: Actor,
    action: str,
    referral_id: int | None,
    **detail: Any,
) -> None:
    """Append one entry to the hash-chained audit trail (IDs and codes only, never
    content), in `session`'s transaction; `detail` must be JSON values.

    The row is inserted at once as the chain's next link (`tasks.audit_trail.append`):
    on PostgreSQL this takes an advisory lock held until the transaction ends, so call it
    as late in a transaction as possible. ``at`` is `now`, clamped to the previous row's
    ``at`` if `now` is earlier: the trail's time never runs backwards.
    """
    from tasks.audit_trail import append

    append(
        session,
        now=now,
        actor=actor.name,
        role=actor.role,
        action=action,
        referral_id=referral_id,
        detail=detail,
    )


def save_decision(
    session: Session,
    referral: Referral,
    decision: Decision,
    *,
    on: date,
    now: datetime,
    registry: Registry,
    settings: Settings,
    actor: Actor = SYSTEM,
    detail: dict[str, Any] | None = None,
    open_now: list[Deadline] | None = None,
) -> list[int]:
    """Write `decision` for `referral`: state, voucher, deadlines and their timers,
    escalations, notifications (pending, sent later) and one audit entry (with `detail`
    added: codes only, e.g. a decline's ``reason_code``). When the
    referral starts counselling or closes, referrals staged after it are released
    (seed 002 §4.2, Sucht vor Schulden).

    `on` is the local date the decision takes effect (the event's date); `now` the
    moment of writing (aware). Returns the ids of the referrals changed. Does not commit.
    Escalations whose deadline this decision meets or cancels, or all when the case
    closes, are resolved with it (`tasks.escalations.settle_escalations`). `open_now`: the
    referral's open deadlines as read for the decision in this transaction (under the
    referral's lock), else they are read here.
    """
    from tasks.escalations import reason_text, settle_escalations

    if not decision.changed:
        return []
    assert referral.id is not None
    service = service_for(session, registry, referral)  # the version it runs on
    before = referral.state
    if decision.state != before:
        referral.state, referral.state_since = decision.state, on
    referral.updated_at = now
    if decision.outcome is not None:
        referral.outcome = decision.outcome
        referral.closed_on = on
    _apply_voucher(session, referral, decision.voucher, on)
    if open_now is None:
        open_now = open_deadlines(session, referral.id)
    deadlines = {d.kind: d for d in open_now}
    for kind in decision.complete:
        deadlines[kind].state, deadlines[kind].completed_on = DeadlineState.met, on
    for kind in decision.cancel:
        deadlines[kind].state, deadlines[kind].completed_on = DeadlineState.cancelled, on
    for new in decision.start:
        if new.kind in deadlines and deadlines[new.kind].state == DeadlineState.open:
            deadlines[new.kind].state = DeadlineState.cancelled
        deadline = Deadline(
            referral_id=referral.id,
            kind=new.kind,
            title=new.title,
            period=new.period,
            started_on=new.started_on,
            due_on=new.due_on,
        )
        session.add(deadline)
        session.flush()
        assert deadline.id is not None
        for timer in new.timers:
            session.add(
                Timer(
                    deadline_id=deadline.id,
                    referral_id=referral.id,
                    step=timer.step,
                    action=timer.action,
                    fire_at=start_of_day(timer.fire_on),
                )
            )
    for escalation in decision.escalate:
        exists = session.exec(
            select(Escalation).where(Escalation.deadline_id == escalation.deadline_id)
        ).first()
        if exists is None:
            session.add(
                Escalation(
                    referral_id=referral.id,
                    deadline_id=escalation.deadline_id,
                    reason=reason_text(escalation.title, escalation.due_on),
                    created_at=now,
                )
            )
    for notify in decision.notify:
        _queue_notification(session, referral, notify, on, now, service, settings)
    audit(
        session,
        now,
        actor,
        decision.event or "",
        referral.id,
        state_from=before,
        state_to=decision.state,
        on=on.isoformat(),
        **(detail or {}),
    )
    closed = decision.outcome is not None or service.process.states[decision.state].final
    if closed or decision.complete or decision.cancel or decision.start:  # a Frist changed
        settle_escalations(session, referral, on=on, now=now, closed=closed)
    changed = [referral.id]
    releasing = service.process.releasing_states  # releases_staged in the process YAML
    if decision.state in releasing and (before not in releasing or closed):
        changed += _release_staged(session, referral, on, now, registry, settings)
    return changed


def start_staged_wait(
    session: Session, referral: Referral, *, now: datetime, registry: Registry, settings: Settings
) -> list[int]:
    """Start the wait (deadline ``staged_release``) of `referral`, just staged after a
    referral already in counselling (possible only under ``staged_release: {after:
    weeks_in_counselling}``), counted from the day that one entered counselling (seed 002
    §4.2). Returns the ids of the referrals changed; none if the earlier one is not running."""
    earlier = session.get(Referral, referral.staged_after_id) if referral.staged_after_id else None
    if earlier is None:
        return []
    process = service_for(session, registry, earlier).process
    if earlier.state not in process.releasing_states or process.states[earlier.state].final:
        return []
    return _release_staged(session, earlier, earlier.state_since, now, registry, settings)


def _release_staged(
    session: Session,
    referral: Referral,
    on: date,
    now: datetime,
    registry: Registry,
    settings: Settings,
) -> list[int]:
    """Release the referrals staged after `referral`, which has just entered a releasing
    state (their event with ``release: now``), or start their wait (``release:
    after_weeks``, deadline ``staged_release``) where their standards say ``staged_release:
    {after: weeks_in_counselling}`` and `referral` is not closed (seed 002 §4.2), each on
    the one path of a case (`tasks.advance.advance`). A referral already waiting is left
    alone until `referral` closes."""
    from tasks.advance import advance  # it saves through this module

    closed = service_for(session, registry, referral).process.states[referral.state].final
    released = []
    for other in session.exec(select(Referral).where(Referral.staged_after_id == referral.id)):
        service = service_for(session, registry, other)
        if other.state != service.process.staged:
            continue
        waits = service.standard.staged_release.weeks is not None and not closed
        assert other.id is not None
        if waits and open_deadlines(session, other.id):  # waits already (`staged_release`)
            continue
        event = Event(_release_event(service, registry, "after_weeks" if waits else "now"), on)
        released += advance(
            session, other, event, today=on, now=now, registry=registry, settings=settings
        ).changed
    return released


def _release_event(service: ServiceConfig, registry: Registry, how: Release) -> str:
    """The event of `service`'s process with ``release: how``; a version stored before the
    attribute existed takes it from the current definition of its Leistungsart. Raises
    `LookupError` when neither names one (`models.process` refuses such a definition)."""
    current = registry.services.get(service.service_type)
    for process in (service.process, *([current.process] if current else [])):
        if (event := process.release_event(how)) is not None:
            return event
    raise LookupError(f"{service.title}: kein Ereignis mit 'release: {how}'")


def _apply_voucher(session: Session, referral: Referral, action: str | None, on: date) -> None:
    if action is None:
        return
    assert referral.id is not None
    current = active_voucher(session, referral.id)
    if action == "issue":
        if current is not None and current.status == VoucherStatus.issued:
            current.status, current.closed_on = VoucherStatus.returned_invalid, on
        count = len(
            session.exec(select(Voucher.id).where(Voucher.referral_id == referral.id)).all()
        )
        session.add(
            Voucher(
                number=f"GS-{referral.started_on:%Y}-{referral.id:06d}-{count + 1}",
                referral_id=referral.id,
                provider_id=referral.provider_id,
                issued_on=on,
            )
        )
        return
    if current is None or current.status != VoucherStatus.issued:
        return
    current.status = {
        "redeem": VoucherStatus.redeemed,
        "expire": VoucherStatus.expired,
        "invalidate": VoucherStatus.returned_invalid,
    }[action]
    current.closed_on = on


def _queue_notification(
    session: Session,
    referral: Referral,
    notify: Notify,
    on: date,
    now: datetime,
    service: ServiceConfig,
    settings: Settings,
) -> None:
    if session.exec(select(Notification.id).where(Notification.key == notify.key)).first():
        return
    provider = session.get(Provider, referral.provider_id) if referral.provider_id else None
    recipient = {
        "provider": provider.email if provider else None,
        "caseworker": referral.caseworker_email,
        "coordinator": settings.coordinator_email,
        "customer": None,  # read below, only for the customer (a query)
        "funder": service.standard.funder.email if service.standard.funder else None,
    }[notify.recipient]
    if notify.recipient == "customer":
        recipient = _customer_email(session, referral.customer_id)
    if recipient is None:
        return
    assert referral.id is not None
    voucher = active_voucher(session, referral.id)
    due = notify.due_on
    deadline = session.get(Deadline, notify.deadline_id) if notify.deadline_id else None
    context: dict[str, Any] = {
        "deadline_kind": deadline.kind if deadline else None,  # picks the form a link opens
        "referral_id": referral.id,
        "voucher_number": voucher.number if voucher else "–",
        "provider_name": provider.name if provider else "–",
        "service_title": service.title,
        "state_title": service.process.states[referral.state].title,
        "site": referral.site,
        "deadline_title": notify.title,
        "event_title": notify.title,
        "due_on": due.isoformat() if due else None,
        "expires_on": due.isoformat() if due else None,
        "days_overdue": (on - due).days if due else 0,
        "occurred_on": on.isoformat(),
        "source": f"Mindeststandard {service.process.source}",
    }
    session.add(
        Notification(
            key=notify.key,
            referral_id=referral.id,
            template=notify.template,
            recipient_role=notify.recipient,
            recipient=recipient,
            context=context,
            created_at=now,
        )
    )


def _customer_email(session: Session, customer_id: int) -> str | None:
    contact = session.get(CustomerContact, customer_id)
    return (contact.email or None) if contact and contact.reminders_consented else None
