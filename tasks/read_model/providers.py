"""The read model of the Träger page (`api.dashboard.providers`): a provider's capacity and
load, waiting time, punctuality and escalations, in the reader's `Scope`.

A fixed number of grouped queries, whatever the number of cases; the figures themselves
are computed in `models.figures.providers`, the states and deadlines counted come from
the process definitions (`models.figures.states`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select, true
from sqlmodel import Session, col

from models.figures.providers import ProviderFigures, first_appointment_waits, total_of
from models.figures.states import ReportStates
from models.tables import (
    Deadline,
    DeadlineState,
    Escalation,
    EscalationState,
    Provider,
    Referral,
    Role,
    Voucher,
    VoucherStatus,
)
from tasks.kennzahlen import provider_names
from tasks.read_model.scope import Scope


@dataclass(frozen=True)
class ProvidersReport:
    rows: list[ProviderFigures]
    total: ProviderFigures | None  # only when there is more than one provider
    month_start: date
    today: date
    start: date
    end: date


def _providers(session: Session, scope: Scope) -> list[Provider]:
    """The providers the reader sees a row for."""
    user = scope.user
    query = select(Provider).order_by(col(Provider.name), col(Provider.code))
    if user.role == Role.provider:
        query = query.where(col(Provider.id) == (user.provider_id or -1))
    elif user.role == Role.caseworker:
        with_cases = select(col(Referral.provider_id)).where(scope.cases)
        query = query.where(col(Provider.id).in_(with_cases))
    return list(session.scalars(query))


def waits_rows(
    session: Session, start: date, end: date, where: ColumnElement[bool] | None = None
) -> list[tuple[int, date, int | None, date]]:
    """Rows ``(referral id, first appointment, provider on the voucher, issued on)`` of the
    redeemed vouchers issued on or before a first appointment in `start` … `end`, for the
    referrals `where` (a condition on `Referral`; all by default) selects
    (`models.figures.providers.first_appointment_waits`)."""
    rows = session.execute(
        select(
            col(Referral.id),
            col(Referral.first_appointment_on),
            col(Voucher.provider_id),
            col(Voucher.issued_on),
        )
        .join(Voucher, col(Voucher.referral_id) == col(Referral.id))
        .where(
            true() if where is None else where,
            col(Voucher.status) == VoucherStatus.redeemed.value,
            col(Referral.first_appointment_on).between(start, end),
            col(Voucher.issued_on) <= col(Referral.first_appointment_on),
        )
    )
    return [(rid, first, pid, issued) for rid, first, pid, issued in rows if rid is not None]


def _counts(
    session: Session,
    scope: Scope,
    states: ReportStates,
    today: date,
    month_start: date,
    start: date,
    end: date,
) -> dict[str, dict[int, tuple[int, ...]]]:
    """The set-based counts per provider id (one grouped query each)."""
    new = session.execute(
        select(col(Voucher.provider_id), func.count())
        .join(Referral, col(Voucher.referral_id) == col(Referral.id))
        .where(scope.cases, col(Voucher.issued_on).between(month_start, today))
        .group_by(col(Voucher.provider_id))
    )
    cases = session.execute(
        select(
            col(Referral.provider_id),
            func.sum(case((col(Referral.state).in_(sorted(states.counselling)), 1), else_=0)),
            func.sum(case((col(Referral.state).not_in(sorted(states.final)), 1), else_=0)),
        )
        .where(scope.cases)
        .group_by(col(Referral.provider_id))
    )
    on_time = and_(
        col(Deadline.state) == DeadlineState.met.value,
        col(Deadline.completed_on) <= col(Deadline.due_on),
    )
    cancelled_before_due = and_(
        col(Deadline.state) == DeadlineState.cancelled.value,
        col(Deadline.completed_on) <= col(Deadline.due_on),
    )
    last_due = min(end, today - timedelta(days=1))
    deadlines = session.execute(
        select(
            col(Referral.provider_id),
            func.count(),
            func.sum(case((on_time, 1), else_=0)),
        )
        .select_from(Deadline)
        .join(Referral, col(Deadline.referral_id) == col(Referral.id))
        .where(
            scope.cases,
            col(Deadline.kind).in_(sorted(states.feedback_deadlines)),
            col(Deadline.due_on).between(start, last_due),
            or_(col(Deadline.completed_on).is_(None), ~cancelled_before_due),
        )
        .group_by(col(Referral.provider_id))
    )
    escalations = session.execute(
        select(col(Referral.provider_id), func.count())
        .select_from(Escalation)
        .join(Referral, col(Escalation.referral_id) == col(Referral.id))
        .where(scope.cases, col(Escalation.state) != EscalationState.resolved.value)
        .group_by(col(Referral.provider_id))
    )
    return {
        "new": {pid: (int(n),) for pid, n in new if pid is not None},
        "cases": {pid: (int(a or 0), int(b or 0)) for pid, a, b in cases if pid is not None},
        "deadlines": {pid: (int(n), int(ok or 0)) for pid, n, ok in deadlines if pid is not None},
        "escalations": {pid: (int(n),) for pid, n in escalations if pid is not None},
    }


def providers_report(
    session: Session, scope: Scope, states: ReportStates, today: date, start: date, end: date
) -> ProvidersReport:
    """All figures of the Träger page for the reader of `scope` (see
    `api.dashboard.providers` for the definitions): one row per provider it sees, and the
    row "Alle Träger" when there are several."""
    month_start = today.replace(day=1)
    providers = _providers(session, scope)
    names = provider_names(session)
    counts = _counts(session, scope, states, today, month_start, start, end)
    waits = first_appointment_waits(waits_rows(session, start, end, scope.cases))
    rows = []
    for p in providers:
        assert p.id is not None
        in_counselling, open_cases = counts["cases"].get(p.id, (0, 0))
        due, met = counts["deadlines"].get(p.id, (0, 0))
        rows.append(
            ProviderFigures(
                provider_id=p.id,
                name=names[p.id],
                capacity=p.monthly_capacity,
                new_this_month=counts["new"].get(p.id, (0,))[0],
                in_counselling=in_counselling,
                open_cases=open_cases,
                waits=tuple(sorted(float(w) for w in waits.get(p.id, ()))),
                deadlines_due=due,
                deadlines_on_time=met,
                open_escalations=counts["escalations"].get(p.id, (0,))[0],
            )
        )
    return ProvidersReport(rows, total_of(rows), month_start, today, start, end)
