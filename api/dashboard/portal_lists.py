"""The provider's lists in the Gutschein-Eingang: incoming Gutscheine and running cases.

Both are in the provider's scope only (`api.access.visible`: its own cases) and complete
(no cut-off: a provider has a few dozen open cases, not thousands).

* Waiting list: cases with a Gutschein of this provider that is issued and not yet
  redeemed (the customer has not yet come to the first appointment), oldest Gutschein
  first, with the days left until the Frist of the first appointment (seed 002 §4.2:
  within 14 days).
* Running cases: cases whose first appointment took place and that are not closed, with
  the next open Frist (the report due next), the earliest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_
from sqlmodel import Session, col, select

from api.access import visible
from api.dashboard.portal_forms import FormDef, deadline_form, forms
from models.process import Registry, ServiceConfig
from models.statemachine import allowed_events
from models.tables import Deadline, DeadlineState, Referral, User, Voucher, VoucherStatus
from models.urls import case_path, form_path
from tasks.process_versions import service_for

FIRST_APPOINTMENT = "first_appointment"


def frist_text(days_left: int | None) -> str:
    """German, with the right plural: "noch 3 Tage", "noch 1 Tag", "heute fällig",
    "seit 1 Tag überfällig", "seit 4 Tagen überfällig"; "keine Frist" for None."""
    if days_left is None:
        return "keine Frist"
    if days_left == 0:
        return "heute fällig"
    if days_left > 0:
        return f"noch {days_left} {'Tag' if days_left == 1 else 'Tage'}"
    late = -days_left
    return f"seit {late} {'Tag' if late == 1 else 'Tagen'} überfällig"


@dataclass(frozen=True)
class Step:
    """A link to a form (title and URL)."""

    title: str
    url: str


@dataclass(frozen=True)
class WaitingCase:
    """A Gutschein waiting for the first appointment."""

    reference: str
    url: str
    service_title: str
    voucher_number: str
    received_on: date
    state_title: str
    appointment_on: date | None
    due_on: date | None
    days_left: int | None
    next_step: Step | None

    @property
    def overdue(self) -> bool:
        return self.days_left is not None and self.days_left < 0

    @property
    def frist(self) -> str:
        return frist_text(self.days_left)


@dataclass(frozen=True)
class RunningCase:
    """A case in counselling with the next open Frist (None: none open)."""

    reference: str
    url: str
    service_title: str
    state_title: str
    first_appointment_on: date | None
    next_title: str | None
    due_on: date | None
    days_left: int | None
    next_step: Step | None

    @property
    def overdue(self) -> bool:
        return self.days_left is not None and self.days_left < 0

    @property
    def frist(self) -> str:
        return frist_text(self.days_left)


def provider_steps(
    service: ServiceConfig, referral: Referral, registry: Registry | None = None
) -> list[FormDef]:
    """The forms `service` (the version `referral` runs on, `forms`) allows a provider now,
    in the order of its transitions (``by: [provider]`` and the current state among the
    transition's ``from``)."""
    mine = {t.event for t in service.process.transitions if "provider" in t.by}
    allowed = set(allowed_events(service, referral.state)) & mine
    return [form for form in forms(service, registry).values() if form.event in allowed]


def _step(
    service: ServiceConfig, registry: Registry, referral: Referral, events: Iterable[str]
) -> Step | None:
    """The first form of `events` (event names, or form slugs) the state allows now."""
    allowed = provider_steps(service, referral, registry)
    form = next((f for e in events for f in allowed if e in (f.event, f.slug)), None)
    return Step(form.title, form_path(referral.reference, form.slug)) if form else None


def _next_step(service: ServiceConfig, registry: Registry, referral: Referral) -> Step | None:
    """The next step of a waiting Gutschein: the first event of the process's happy path
    (``course``) that the provider may report in the current state."""
    return _step(service, registry, referral, [c.event for c in service.process.course if c.event])


def waiting_list(
    session: Session, registry: Registry, user: User, today: date
) -> list[WaitingCase]:
    """The incoming Gutscheine of `user`'s provider, oldest first (then by Aktenzeichen)."""
    rows = session.exec(
        select(Referral, Voucher, col(Deadline.due_on))
        .join(
            Voucher,
            and_(
                col(Voucher.referral_id) == col(Referral.id),
                col(Voucher.provider_id) == col(Referral.provider_id),
                col(Voucher.status) == VoucherStatus.issued,
            ),
        )
        .outerjoin(
            Deadline,
            and_(
                col(Deadline.referral_id) == col(Referral.id),
                col(Deadline.kind) == FIRST_APPOINTMENT,
                col(Deadline.state) == DeadlineState.open,
            ),
        )
        .where(visible(user))
        .order_by(col(Voucher.issued_on), col(Referral.reference))
    ).all()
    return [
        _waiting(service_for(session, registry, referral), registry, referral, voucher, due, today)
        for referral, voucher, due in rows
    ]


def _waiting(
    service: ServiceConfig,
    registry: Registry,
    referral: Referral,
    voucher: Voucher,
    due: date | None,
    today: date,
) -> WaitingCase:
    return WaitingCase(
        reference=referral.reference,
        url=case_path(referral.reference),
        service_title=service.title,
        voucher_number=voucher.number,
        received_on=voucher.issued_on,
        state_title=service.process.states[referral.state].title,
        appointment_on=referral.appointment_on,
        due_on=due,
        days_left=None if due is None else (due - today).days,
        next_step=_next_step(service, registry, referral),
    )


def running_cases(
    session: Session, registry: Registry, user: User, today: date
) -> list[RunningCase]:
    """`user`'s provider's cases after the first appointment and not closed, the one whose
    next Frist is due first at the top (cases without an open Frist last)."""
    final = {
        name
        for service in registry.services.values()
        for name, state in service.process.states.items()
        if state.final
    }
    referrals = session.exec(
        select(Referral).where(
            visible(user),
            col(Referral.first_appointment_on).is_not(None),
            col(Referral.state).not_in(final),
        )
    ).all()
    ids = [r.id for r in referrals]
    next_due: dict[int, Deadline] = {}
    for deadline in session.exec(
        select(Deadline)
        .where(col(Deadline.referral_id).in_(ids), Deadline.state == DeadlineState.open)
        .order_by(col(Deadline.due_on).desc(), col(Deadline.id).desc())
    ):
        next_due[deadline.referral_id] = deadline  # the earliest comes last and stays
    found = [
        _running(service_for(session, registry, r), registry, r, next_due.get(r.id or 0), today)
        for r in referrals
    ]
    return sorted(found, key=lambda c: (c.due_on is None, c.due_on or today, c.reference))


def _running(
    service: ServiceConfig,
    registry: Registry,
    referral: Referral,
    deadline: Deadline | None,
    today: date,
) -> RunningCase:
    form = deadline_form(service, deadline.kind, registry) if deadline else None
    return RunningCase(
        reference=referral.reference,
        url=case_path(referral.reference),
        service_title=service.title,
        state_title=service.process.states[referral.state].title,
        first_appointment_on=referral.first_appointment_on,
        next_title=deadline.title if deadline else None,
        due_on=deadline.due_on if deadline else None,
        days_left=(deadline.due_on - today).days if deadline else None,
        next_step=_step(service, registry, referral, [form]) if form else None,
    )
