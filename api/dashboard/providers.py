"""Dashboard page "Träger": capacity and load, waiting time, punctuality, escalations.

``GET /dashboard/traeger?von=…&bis=…`` (``&format=csv`` for the table as CSV). Every
figure counts only the cases the user may see (`api.access.visible`): a provider sees its
own row, a caseworker the cases of their site, the coordination all.

Definitions (the page states them too):

* **Neue Zuweisungen im Monat**: vouchers issued to the provider in the current calendar
  month up to today; **Auslastung** = that number / ``Provider.monthly_capacity``.
* **In Beratung** / **offene Fälle**: the provider's current referrals in state
  ``in_counselling`` / not ``closed``.
* **Tage Gutschein → Erstgespräch** (period ``von`` … ``bis``, default the last twelve
  calendar months): for every referral whose first appointment lies in the period, the
  days from the redeemed voucher (the latest redeemed one issued on or before the first
  appointment) to the first appointment, counted for the provider on that voucher; median
  and 90th percentile (nearest rank), as in the Kennzahlen (`models.kennzahlen`).
* **Pünktlichkeit der Rückmeldungen**: of the deadlines 1. Rückmeldung, Zwischenmeldung
  and Ergebnismeldung due in the period and before today ("fällig"), the share met on or
  before the due date. A deadline cancelled on or before its due date (voucher expired,
  provider changed) was never due and does not count. Counted for the referral's current
  provider.
* **Offene Eskalationen**: escalations not yet resolved.

Every page view and CSV export is audited (``report_read``, `api.dashboard.reports`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session, col

from api.access import visible
from api.dashboard import charts
from api.dashboard.reports import (
    BadPeriod,
    audit_report_read,
    csv_number,
    csv_share,
    display_names,
    parse_period,
)
from api.dashboard.web import DashboardUser, csv_response, page
from api.deps import NowDep, SessionDep
from models.clock import local_date
from models.kennzahlen import percentile_nearest_rank
from models.tables import (
    Deadline,
    DeadlineState,
    Escalation,
    EscalationState,
    Provider,
    Referral,
    Role,
    User,
    Voucher,
    VoucherStatus,
)

router = APIRouter()

FEEDBACK_DEADLINES = ("first_feedback", "interim_report", "result_report")


@dataclass(frozen=True)
class ProviderFigures:
    """One row of the page: a provider's figures (or all of them, ``provider_id=None``)."""

    provider_id: int | None
    name: str
    capacity: int
    new_this_month: int
    in_counselling: int
    open_cases: int
    waits: tuple[float, ...]
    deadlines_due: int
    deadlines_on_time: int
    open_escalations: int

    @property
    def load(self) -> float | None:
        return self.new_this_month / self.capacity if self.capacity else None

    @property
    def wait_median(self) -> float | None:
        return float(median(self.waits)) if self.waits else None

    @property
    def wait_p90(self) -> float | None:
        return percentile_nearest_rank(self.waits, 90)

    @property
    def punctuality(self) -> float | None:
        return self.deadlines_on_time / self.deadlines_due if self.deadlines_due else None


@dataclass(frozen=True)
class ProvidersReport:
    rows: list[ProviderFigures]
    total: ProviderFigures | None  # only when there is more than one provider
    month_start: date
    today: date
    start: date
    end: date


def default_start(today: date) -> date:
    """First day of the month eleven months back: the last twelve calendar months."""
    months = today.year * 12 + today.month - 1 - 11
    return date(months // 12, months % 12 + 1, 1)


def _providers(session: Session, user: User) -> list[Provider]:
    """The providers the user sees a row for."""
    query = select(Provider).order_by(col(Provider.name), col(Provider.code))
    if user.role == Role.provider:
        query = query.where(col(Provider.id) == (user.provider_id or -1))
    elif user.role == Role.caseworker:
        with_cases = select(col(Referral.provider_id)).where(visible(user))
        query = query.where(col(Provider.id).in_(with_cases))
    return list(session.scalars(query))


def _waits(session: Session, user: User, start: date, end: date) -> dict[int, list[float]]:
    """Days voucher -> first appointment per provider (on the voucher), first appointment
    in `start` … `end`."""
    rows = session.execute(
        select(
            col(Referral.id),
            col(Referral.first_appointment_on),
            col(Voucher.provider_id),
            col(Voucher.issued_on),
        )
        .join(Voucher, col(Voucher.referral_id) == col(Referral.id))
        .where(
            visible(user),
            col(Voucher.status) == VoucherStatus.redeemed.value,
            col(Referral.first_appointment_on).between(start, end),
            col(Voucher.issued_on) <= col(Referral.first_appointment_on),
        )
    )
    latest: dict[int, tuple[date, int | None, date]] = {}
    for rid, first, provider_id, issued in rows:
        if rid not in latest or issued > latest[rid][0]:
            latest[rid] = (issued, provider_id, first)
    waits: defaultdict[int, list[float]] = defaultdict(list)
    for issued, provider_id, first in latest.values():
        if provider_id is not None:
            waits[provider_id].append(float((first - issued).days))
    return waits


def _counts(
    session: Session, user: User, today: date, month_start: date, start: date, end: date
) -> dict[str, dict[int, tuple[int, ...]]]:
    """The set-based counts per provider id (one grouped query each)."""
    new = session.execute(
        select(col(Voucher.provider_id), func.count())
        .join(Referral, col(Voucher.referral_id) == col(Referral.id))
        .where(visible(user), col(Voucher.issued_on).between(month_start, today))
        .group_by(col(Voucher.provider_id))
    )
    cases = session.execute(
        select(
            col(Referral.provider_id),
            func.sum(case((col(Referral.state) == "in_counselling", 1), else_=0)),
            func.sum(case((col(Referral.state) != "closed", 1), else_=0)),
        )
        .where(visible(user))
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
            visible(user),
            col(Deadline.kind).in_(FEEDBACK_DEADLINES),
            col(Deadline.due_on).between(start, last_due),
            or_(col(Deadline.completed_on).is_(None), ~cancelled_before_due),
        )
        .group_by(col(Referral.provider_id))
    )
    escalations = session.execute(
        select(col(Referral.provider_id), func.count())
        .select_from(Escalation)
        .join(Referral, col(Escalation.referral_id) == col(Referral.id))
        .where(visible(user), col(Escalation.state) != EscalationState.resolved.value)
        .group_by(col(Referral.provider_id))
    )
    return {
        "new": {pid: (int(n),) for pid, n in new if pid is not None},
        "cases": {pid: (int(a or 0), int(b or 0)) for pid, a, b in cases if pid is not None},
        "deadlines": {pid: (int(n), int(ok or 0)) for pid, n, ok in deadlines if pid is not None},
        "escalations": {pid: (int(n),) for pid, n in escalations if pid is not None},
    }


def providers_report(
    session: Session, user: User, today: date, start: date, end: date
) -> ProvidersReport:
    """All figures of the page for `user` (see the module docstring)."""
    month_start = today.replace(day=1)
    providers = _providers(session, user)
    names = display_names(session.scalars(select(Provider)))
    counts = _counts(session, user, today, month_start, start, end)
    waits = _waits(session, user, start, end)
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
                waits=tuple(sorted(waits.get(p.id, ()))),
                deadlines_due=due,
                deadlines_on_time=met,
                open_escalations=counts["escalations"].get(p.id, (0,))[0],
            )
        )
    total = None
    if len(rows) > 1:
        total = ProviderFigures(
            provider_id=None,
            name="Alle Träger",
            capacity=sum(r.capacity for r in rows),
            new_this_month=sum(r.new_this_month for r in rows),
            in_counselling=sum(r.in_counselling for r in rows),
            open_cases=sum(r.open_cases for r in rows),
            waits=tuple(sorted(w for r in rows for w in r.waits)),
            deadlines_due=sum(r.deadlines_due for r in rows),
            deadlines_on_time=sum(r.deadlines_on_time for r in rows),
            open_escalations=sum(r.open_escalations for r in rows),
        )
    return ProvidersReport(rows, total, month_start, today, start, end)


CSV_HEADER = (
    "Träger",
    "Kapazität je Monat",
    "Neue Zuweisungen im Monat",
    "Auslastung",
    "In Beratung",
    "Offene Fälle",
    "Erstgespräche im Zeitraum",
    "Tage Gutschein bis Erstgespräch Median",
    "Tage Gutschein bis Erstgespräch 90. Perzentil",
    "Rückmeldefristen fällig",
    "davon pünktlich",
    "Pünktlichkeit",
    "Offene Eskalationen",
)


def _csv_row(row: ProviderFigures) -> list[str | int]:
    return [
        row.name,
        row.capacity,
        row.new_this_month,
        csv_share(row.load),
        row.in_counselling,
        row.open_cases,
        len(row.waits),
        csv_number(row.wait_median),
        csv_number(row.wait_p90),
        row.deadlines_due,
        row.deadlines_on_time,
        csv_share(row.punctuality),
        row.open_escalations,
    ]


@router.get("/traeger", response_class=HTMLResponse, include_in_schema=False)
def providers_page(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    now: NowDep,
    von: Annotated[str | None, Query()] = None,
    bis: Annotated[str | None, Query()] = None,
    format: Annotated[str | None, Query()] = None,
) -> Response:
    today = local_date(now)
    try:
        start, end = parse_period(von, bis, default=(default_start(today), today))
    except BadPeriod as problem:
        answer = page(
            request, "providers.html.j2", user, nav="providers", error=str(problem), report=None
        )
        answer.status_code = 400
        return answer
    report = providers_report(session, user, today, start, end)
    rows = report.rows + ([report.total] if report.total else [])
    audit_report_read(
        session,
        user,
        now,
        "traeger",
        {"von": start.isoformat(), "bis": end.isoformat()},
        "csv" if format == "csv" else "html",
    )
    if format == "csv":
        return csv_response(
            f"traeger_{start:%Y-%m-%d}_{end:%Y-%m-%d}.csv", CSV_HEADER, map(_csv_row, rows)
        )
    all_waits = [w for r in report.rows for w in r.waits]
    bins = [charts.bin_label(low, high) for low, high in charts.WAITING_BINS]
    chart = charts.histogram(
        all_waits,
        title=f"Wartezeit Gutschein bis Erstgespräch, {start:%d.%m.%Y} – {end:%d.%m.%Y}",
        y_label="Fälle",
        chart_id="wartezeit",
    )
    return page(
        request,
        "providers.html.j2",
        user,
        nav="providers",
        error=None,
        report=report,
        chart=chart,
        histogram=list(zip(bins, charts.bin_counts(all_waits, charts.WAITING_BINS), strict=True)),
        waits_total=len(all_waits),
        query=f"von={start.isoformat()}&bis={end.isoformat()}",
    )
