"""Dashboard report pages: Kennzahlen (Bericht 01) and the half-yearly provider report.

* ``GET /dashboard/kennzahlen?von=…&bis=…&standort=…``: the Kennzahlen table of seed 002
  §4.1 (rows per provider, columns of `models.kennzahlen.COLUMNS`, cases open > 90 days
  per phase) for a period (default: the current calendar year up to today) and a site,
  with the chart "Fälle nach Zustand im Zeitverlauf". ``&format=csv``: the table as CSV.
* ``GET /dashboard/halbjahresbericht?jahr=…&halbjahr=1|2``: per provider and
  Hilfebedarfsgruppe the cases worked, the closed cases and the average effort per case
  (seed 002 §4.6.3, § 5 of the Hamm contract; Stichtag 30.6./31.12., due on the last
  working day of the following month). ``&format=csv``: the table as CSV.

Every page counts only the referrals the user may see (`api.access.visible`). For every
reader but the coordination and the administration, cells of 1 or 2 cases (counts, and
shares, means, medians, percentiles and hours over 1 or 2 cases) are shown as ``"< 3"`` in
HTML and CSV (statistical secrecy, see `models.kennzahlen`). Every page view and CSV
export is written to the audit trail (``report_read``: report, parameters, format).
"""

from __future__ import annotations

import bisect
import calendar
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlmodel import Session, col

from api.access import visible
from api.dashboard import charts
from api.dashboard.web import DashboardUser, csv_response, page
from api.deps import NowDep, RegistryDep, SessionDep
from models.calendar import is_working_day
from models.clock import local_date
from models.german import prozent, zahl
from models.kennzahlen import (
    COLUMNS,
    PHASE_TITLES,
    SUPPRESSED,
    CaseFacts,
    KennzahlenRow,
    exact_figures,
    is_small,
    kennzahlen,
    per_service_type,
    small_fields,
)
from models.process import Registry
from models.tables import Feedback, Provider, Referral, Role, User
from tasks.kennzahlen import load_case_facts
from tasks.repository import Actor, audit

router = APIRouter()

MONTHS = ("Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez")


# --- shared helpers (also used by the providers page) ----------------------------------------


class BadPeriod(ValueError):
    """A period the user asked for that cannot be used; the message is German."""


FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
MAX_PERIOD_DAYS = 3660
"""A report period lies within `FIRST_DAY` … `LAST_DAY` and spans at most about ten years
(a page has one chart point per month); other values are answered with a German error
page (400), never with 500 (``bis=9999-12-31`` once overflowed the month loop)."""


def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if len(text) <= 10 else None
    except ValueError:
        day = None
    if day is None:
        raise BadPeriod(f"„{name}“ ist kein Datum (JJJJ-MM-TT): {text[:20]!r}")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadPeriod(
            f"„{name}“ muss zwischen dem {FIRST_DAY:%d.%m.%Y} und dem {LAST_DAY:%d.%m.%Y} liegen."
        )
    return day


def parse_period(
    von: str | None, bis: str | None, *, default: tuple[date, date]
) -> tuple[date, date]:
    """``von``/``bis`` query values (ISO dates; empty = default) as a checked period;
    raises `BadPeriod` (German) for a non-date, a day outside `FIRST_DAY` … `LAST_DAY`,
    an end before the start or a period longer than `MAX_PERIOD_DAYS`."""
    start = _day(von, "von") or default[0]
    end = _day(bis, "bis") or default[1]
    if end < start:
        raise BadPeriod("Das Ende des Zeitraums („bis“) liegt vor seinem Beginn („von“).")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise BadPeriod("Der Zeitraum darf höchstens zehn Jahre umfassen.")
    return start, end


def csv_number(value: float | None, digits: int = 1) -> str:
    """German decimal comma, no thousands separator (what Excel reads); None -> ""."""
    return zahl(value, digits, missing="")


def csv_share(value: float | None) -> str:
    """A share as ``"60,0 %"`` (plain space: a CSV cell, not a line of text); None -> ""."""
    return prozent(value, missing="", space=" ")


def display_names(providers: Iterable[Provider]) -> dict[int, str]:
    """Provider id -> name; a name used twice gets its code appended (as in Bericht 01)."""
    providers = list(providers)
    counts = Counter(p.name for p in providers)
    return {
        p.id: p.name if counts[p.name] == 1 else f"{p.name} ({p.code})"
        for p in providers
        if p.id is not None
    }


def month_label(year: int, month: int) -> str:
    return f"{MONTHS[month - 1]} {year}"


def month_ends(start: date, end: date) -> list[tuple[date, date]]:
    """(first day, last day) of every month touching ``start`` … ``end``, clipped to it."""
    months = []
    year, month = start.year, start.month
    while date(year, month, 1) <= end:
        first = max(date(year, month, 1), start)
        last = min(date(year, month, calendar.monthrange(year, month)[1]), end)
        months.append((first, last))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# --- Kennzahlen ------------------------------------------------------------------------------

STATE_SERIES = (
    "vor Beratung (Gutschein/Termin)",
    "in Beratung",
    "abgeschlossen im Monat",
)


def cases_by_state(
    cases: Iterable[CaseFacts], months: Sequence[tuple[date, date]]
) -> dict[str, list[int]]:
    """Per month: referrals before counselling and in counselling at the month's last day,
    and referrals closed during the month. Sorted counts and bisection: O(n log n).

    Before counselling: started, no first appointment yet, not closed (staged, voucher,
    appointment booked, no-show, rerouting). In counselling: first appointment held, not
    closed. Only ``started_on``, ``first_appointment_on`` and ``closed_on`` are used.
    """
    started: list[date] = []
    left_before: list[date] = []  # the day a referral stopped being "before counselling"
    first: list[date] = []
    closed_after_first: list[date] = []
    closed: list[date] = []
    for case in cases:
        started.append(case.started_on)
        ends = [d for d in (case.first_appointment_on, case.closed_on) if d is not None]
        if ends:
            left_before.append(min(ends))
        if case.first_appointment_on is not None:
            first.append(case.first_appointment_on)
            if case.closed_on is not None:
                closed_after_first.append(max(case.closed_on, case.first_appointment_on))
        if case.closed_on is not None:
            closed.append(case.closed_on)
    for values in (started, left_before, first, closed_after_first, closed):
        values.sort()

    def upto(values: list[date], day: date) -> int:
        return bisect.bisect_right(values, day)

    series: dict[str, list[int]] = {name: [] for name in STATE_SERIES}
    before, counselling, done = STATE_SERIES
    for month_first, month_last in months:
        series[before].append(upto(started, month_last) - upto(left_before, month_last))
        series[counselling].append(upto(first, month_last) - upto(closed_after_first, month_last))
        series[done].append(upto(closed, month_last) - upto(closed, month_first - timedelta(1)))
    return series


def _own_vouchers_only(cases: list[CaseFacts]) -> list[CaseFacts]:
    """For a provider: drop vouchers a referral had at another provider before."""
    return [
        replace(c, vouchers=tuple(v for v in c.vouchers if v.provider == c.provider)) for c in cases
    ]


def _phases(rows: Sequence[KennzahlenRow]) -> list[str]:
    seen = {phase for row in rows for phase in row.open_over_90_days}
    return [p for p in PHASE_TITLES if p in seen] + sorted(seen - set(PHASE_TITLES))


@dataclass(frozen=True)
class Cell:
    text: str
    number: bool = True


def _display(value: Any, field_name: str, *, csv: bool) -> str:
    if field_name == "provider":
        return str(value)
    if value is None:
        return "" if csv else "–"
    if field_name == "share_u25":
        return csv_share(value) if csv else prozent(value)  # "12,5 %" on the page
    if isinstance(value, int):
        return str(value)
    return csv_number(value)


def audit_report_read(
    session: Session,
    user: User,
    now: datetime,
    report: str,
    parameters: dict[str, Any],
    format: str,
) -> None:
    """Write and commit the audit row of one read of `report` (a page view or an export)."""
    audit(
        session,
        now,
        Actor(user.username, user.role),
        "report_read",
        None,
        report=report,
        parameters=parameters,
        format=format,
    )
    session.commit()


def kennzahlen_table(
    rows: Sequence[KennzahlenRow], *, csv: bool = False, exact: bool = True
) -> tuple[list[str], list[list[str]]]:
    """Flat headers and cells; "open > 90 days" becomes one column per occurring phase.
    Unless `exact`, small cells are `SUPPRESSED` (`models.kennzahlen.small_fields`)."""
    phases = _phases(rows)
    headers: list[str] = []
    for field_name, title in COLUMNS:
        if field_name == "open_over_90_days" and phases:
            headers += [f"> 90 Tage: {PHASE_TITLES.get(p, p)}" for p in phases]
        else:
            headers.append(title)
    cells = []
    for row in rows:
        small = frozenset() if exact else small_fields(row)
        line = []
        for field_name, _ in COLUMNS:
            if field_name == "open_over_90_days":
                line += [
                    SUPPRESSED
                    if f"open_over_90_days:{p}" in small
                    else str(row.open_over_90_days.get(p, 0))
                    for p in phases
                ] or ["0"]
            elif field_name in small:
                line.append(SUPPRESSED)
            else:
                line.append(_display(getattr(row, field_name), field_name, csv=csv))
        cells.append(line)
    return headers, cells


def _sites(session: Session, user: User) -> list[str]:
    query = select(col(Referral.site)).where(visible(user)).distinct().order_by(col(Referral.site))
    return [site for site in session.scalars(query)]


@router.get("/kennzahlen", response_class=HTMLResponse, include_in_schema=False)
def kennzahlen_page(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    now: NowDep,
    von: Annotated[str | None, Query()] = None,
    bis: Annotated[str | None, Query()] = None,
    standort: Annotated[str | None, Query()] = None,
    format: Annotated[str | None, Query()] = None,
    leistungsart: Annotated[str | None, Query(max_length=60)] = None,
    *,
    registry: RegistryDep,
) -> Response:
    """The Kennzahlen of seed 002 §4.1 for a period, a site and a Leistungsart (none: all,
    with a table "je Leistungsart" of their totals, issue 10 point 6)."""
    today = local_date(now)
    sites = _sites(session, user)
    services = {key: s.title for key, s in registry.services.items()}
    try:
        start, end = parse_period(von, bis, default=(date(today.year, 1, 1), today))
        if leistungsart and leistungsart not in services:
            raise BadPeriod("Diese Leistungsart gibt es nicht.")
    except BadPeriod as problem:
        answer = page(
            request,
            "kennzahlen.html.j2",
            user,
            nav="kennzahlen",
            error=str(problem),
            sites=sites,
            site=standort or "",
            services=services,
            service="",
            von=von or "",
            bis=bis or "",
        )
        answer.status_code = 400
        return answer
    where: ColumnElement[bool] = visible(user)
    if standort:
        where = and_(where, col(Referral.site) == standort)
    if leistungsart:
        where = and_(where, col(Referral.service_type) == leistungsart)
    facts = load_case_facts(session, where)
    if user.role == Role.provider:
        facts = _own_vouchers_only(facts)
    rows = kennzahlen(facts, start, end)
    period = f"{start:%d.%m.%Y} – {end:%d.%m.%Y}"
    site_text = standort or "alle Standorte"
    if leistungsart:
        site_text = f"{services[leistungsart]}, {site_text}"
    exact = exact_figures(user.role)
    parameters = {"von": start.isoformat(), "bis": end.isoformat(), "standort": standort}
    if leistungsart:
        parameters["leistungsart"] = leistungsart
    audit_report_read(
        session, user, now, "kennzahlen", parameters, "csv" if format == "csv" else "html"
    )
    if format == "csv":
        headers, cells = kennzahlen_table(rows, csv=True, exact=exact)
        suffix = (f"_{standort}" if standort else "") + (f"_{leistungsart}" if leistungsart else "")
        return csv_response(
            f"kennzahlen_{start:%Y-%m-%d}_{end:%Y-%m-%d}{suffix}.csv", headers, cells
        )
    _, cells = kennzahlen_table(rows, exact=exact)
    phases = _phases(rows)
    months = month_ends(start, end)
    series = cases_by_state(facts, months)
    labels = [month_label(first.year, first.month) for first, _ in months]
    chart = charts.line_chart(
        labels,
        {name: [float(v) for v in values] for name, values in series.items()},
        title=f"Fälle nach Zustand im Zeitverlauf, {site_text}, {period}",
        unit="Fälle",
        y_label="Fälle",
        chart_id="zustand-zeitverlauf",
    )
    query = urlencode(
        {"von": start.isoformat(), "bis": end.isoformat()}
        | ({"standort": standort} if standort else {})
        | ({"leistungsart": leistungsart} if leistungsart else {})
    )
    by_service = [] if leistungsart else per_service_type(facts, start, end, services)
    service_headers, service_cells = kennzahlen_table(by_service, exact=exact)
    return page(
        request,
        "kennzahlen.html.j2",
        user,
        nav="kennzahlen",
        error=None,
        sites=sites,
        site=standort or "",
        site_text=site_text,
        von=start.isoformat(),
        bis=end.isoformat(),
        end=end,
        period=period,
        columns=COLUMNS,
        phase_titles=[PHASE_TITLES.get(p, p) for p in phases],
        body=[line for line, row in zip(cells, rows, strict=True) if row.provider != "Gesamt"],
        totals=[line for line, row in zip(cells, rows, strict=True) if row.provider == "Gesamt"],
        chart=chart,
        state_labels=labels,
        state_series=series,
        cases_total=len(facts),
        query=query,
        exact=exact,
        services=services,
        service=leistungsart or "",
        service_headers=["Leistungsart", *service_headers[1:]],
        service_cells=service_cells,
    )


# --- Halbjahresbericht -----------------------------------------------------------------------

NO_GROUP = 0  # key of the cases without a Hilfebedarfsgruppe


def half_year(year: int, half: int) -> tuple[date, date]:
    """First and last day (the Stichtag) of half-year `half` (1 or 2) of `year`."""
    return (
        (date(year, 1, 1), date(year, 6, 30))
        if half == 1
        else (date(year, 7, 1), date(year, 12, 31))
    )


def report_due(stichtag: date, land: str = "NW") -> date:
    """The last working day of the month after the Stichtag (Hamm contract, § 5)."""
    year, month = (
        (stichtag.year + 1, 1) if stichtag.month == 12 else (stichtag.year, stichtag.month + 1)
    )
    day = date(year, month, calendar.monthrange(year, month)[1])
    while not is_working_day(day, land):
        day -= timedelta(days=1)
    return day


def booked_hours(modules: Iterable[Any]) -> float:
    """Sum of the hours of booked modules (``[{"code": 1, "hours": 1.5}, …]``)."""
    total = 0.0
    for module in modules:
        if isinstance(module, dict):
            total += float(module.get("hours") or 0)
    return total


@dataclass
class GroupFigures:
    """Figures of one provider, Leistungsart and HBG (or of all its HBG: ``group=None``)."""

    provider: str
    service_type: str
    service_title: str
    group: int | None
    group_title: str
    guideline: str
    cases: int = 0
    closed: int = 0
    hours: float = 0.0
    referral_ids: list[int] = field(default_factory=list, repr=False)

    @property
    def average_hours(self) -> float | None:
        return self.hours / self.cases if self.cases else None


@dataclass(frozen=True)
class HalfYearReport:
    year: int
    half: int
    start: date
    end: date
    due: date
    provisional: bool
    providers: list[tuple[str, list[GroupFigures], GroupFigures]]


def catalog_titles(registry: Registry, service_type: str, group: int) -> tuple[str, str, str]:
    """(service title, HBG title, guideline effort) from the catalog, as far as known."""
    service = registry.services.get(service_type)
    if service is None:
        return service_type, f"HBG {group}", ""
    if group == NO_GROUP:
        return service.title, "ohne Einstufung", ""
    need_group = next(
        (g for g in (service.catalog.need_groups if service.catalog else []) if g.code == group),
        None,
    )
    if need_group is None:
        return service.title, f"Hilfebedarfsgruppe {group}", ""
    return service.title, need_group.title, need_group.effort or ""


def half_year_report(
    session: Session, user: User, registry: Registry, year: int, half: int, today: date
) -> HalfYearReport:
    """Cases worked, closed cases and average booked hours per provider and HBG.

    * Worked ("bearbeitet"): the provider's referrals whose counselling overlaps the
      half-year (first appointment on or before its end, not closed before its start).
    * HBG: the latest classification reported on or before the Stichtag (feedback), else
      the referral's current one; none -> "ohne Einstufung".
    * Effort: hours of the modules booked in feedback received in the half-year, summed
      per referral; the average is over all worked cases of the group.
    * A provider reading its own report sees the classifications and hours of its own
      reports only (`tasks.visibility`: a rerouted case's earlier reports by another
      provider are status only for it), and no fallback to the referral's current HBG.
    """
    start, end = half_year(year, half)
    worked = and_(
        visible(user),
        col(Referral.provider_id).is_not(None),
        col(Referral.first_appointment_on) <= end,
        or_(col(Referral.closed_on).is_(None), col(Referral.closed_on) >= start),
    )
    names = display_names(session.scalars(select(Provider)))
    referrals = session.execute(
        select(
            col(Referral.id),
            col(Referral.provider_id),
            col(Referral.service_type),
            col(Referral.need_group),
            col(Referral.closed_on),
        ).where(worked)
    ).all()
    feedback = session.execute(
        select(
            col(Feedback.referral_id),
            col(Feedback.received_on),
            col(Feedback.need_group),
            col(Feedback.modules),
        )
        .join(Referral, col(Feedback.referral_id) == col(Referral.id))
        .where(worked, col(Feedback.received_on) <= end, _own_reports(user))
        .order_by(col(Feedback.referral_id), col(Feedback.received_on), col(Feedback.id))
    )
    classified: dict[int, int] = {}
    hours: defaultdict[int, float] = defaultdict(float)
    for rid, received_on, need_group, modules in feedback:
        if need_group is not None:
            classified[rid] = need_group
        if received_on >= start:
            hours[rid] += booked_hours(modules or [])

    groups: dict[tuple[str, str, int], GroupFigures] = {}
    for rid, provider_id, service_type, need_group, closed_on in referrals:
        name = names.get(provider_id, "–")
        fallback = None if user.role == Role.provider else need_group
        group = classified.get(rid, fallback) or NO_GROUP
        key = (name, service_type, group)
        if key not in groups:
            service_title, group_title, guideline = catalog_titles(registry, service_type, group)
            groups[key] = GroupFigures(
                name, service_type, service_title, group, group_title, guideline
            )
        figures = groups[key]
        figures.cases += 1
        figures.closed += closed_on is not None and start <= closed_on <= end
        figures.hours += hours.get(rid, 0.0)
        figures.referral_ids.append(rid)

    by_provider: defaultdict[str, list[GroupFigures]] = defaultdict(list)
    for key in sorted(groups, key=lambda k: (k[0].casefold(), k[1], k[2] == NO_GROUP, k[2])):
        by_provider[key[0]].append(groups[key])
    providers = []
    for name, rows in by_provider.items():
        total = GroupFigures(name, "", "", None, "alle Hilfebedarfsgruppen", "")
        for row in rows:
            total.cases += row.cases
            total.closed += row.closed
            total.hours += row.hours
        providers.append((name, rows, total))
    land = next(iter(registry.services.values())).land if registry.services else "NW"
    return HalfYearReport(
        year, half, start, end, report_due(end, land), provisional=today <= end, providers=providers
    )


def _own_reports(user: User) -> ColumnElement[bool]:
    """For a provider: only the reports it wrote; for everyone else: every report."""
    if user.role == Role.provider:
        return col(Feedback.provider_id) == (user.provider_id or -1)
    return true()


def half_year_cells(row: GroupFigures, *, exact: bool, csv: bool) -> list[str]:
    """Bearbeitete Fälle, abgeschlossene Fälle, Stunden, Ø Stunden je Fall as text; unless
    `exact`, counts of 1 or 2 and hours over 1 or 2 cases are `SUPPRESSED`."""
    small_group = not exact and is_small(row.cases)

    def count(value: int) -> str:
        if not exact and is_small(value):
            return SUPPRESSED
        return str(value) if csv else zahl(value, 0, thousands="\u202f")

    def hours(value: float | None) -> str:
        if small_group:
            return SUPPRESSED
        return csv_number(value) if csv else zahl(value, 1, thousands="\u202f")

    return [count(row.cases), count(row.closed), hours(row.hours), hours(row.average_hours)]


HALF_YEAR_HEADER = (
    "Träger",
    "Leistungsart",
    "Hilfebedarfsgruppe",
    "Bearbeitete Fälle",
    "Abgeschlossene Fälle",
    "Geleistete Stunden",
    "Ø Stunden je Fall",
    "Richtwert laut Katalog",
)


def _half_year_csv(report: HalfYearReport, *, exact: bool = True) -> list[list[str]]:
    lines: list[list[str]] = []
    for name, rows, total in report.providers:
        for row in [*rows, total]:
            lines.append(
                [
                    name,
                    row.service_title,
                    row.group_title,
                    *half_year_cells(row, exact=exact, csv=True),
                    row.guideline,
                ]
            )
    return lines


@router.get("/halbjahresbericht", response_class=HTMLResponse, include_in_schema=False)
def half_year_page(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
    jahr: Annotated[str | None, Query()] = None,
    halbjahr: Annotated[str | None, Query()] = None,
    format: Annotated[str | None, Query()] = None,
) -> Response:
    today = local_date(now)
    try:
        year = int(jahr) if jahr else today.year
        half = int(halbjahr) if halbjahr else (1 if today.month <= 6 else 2)
        if not 2000 <= year <= 2100 or half not in (1, 2):
            raise ValueError
    except ValueError:
        answer = page(
            request,
            "halfyear.html.j2",
            user,
            nav="halfyear",
            error="Bitte ein Jahr (2000–2100) und das Halbjahr 1 oder 2 wählen.",
            report=None,
            year=jahr or "",
            half=halbjahr or "",
        )
        answer.status_code = 400
        return answer
    report = half_year_report(session, user, registry, year, half, today)
    exact = exact_figures(user.role)
    audit_report_read(
        session,
        user,
        now,
        "halbjahresbericht",
        {"jahr": year, "halbjahr": half},
        "csv" if format == "csv" else "html",
    )
    if format == "csv":
        return csv_response(
            f"halbjahresbericht_{year}_{half}.csv",
            HALF_YEAR_HEADER,
            _half_year_csv(report, exact=exact),
        )
    return page(
        request,
        "halfyear.html.j2",
        user,
        nav="halfyear",
        error=None,
        report=report,
        year=year,
        half=half,
        query=f"jahr={year}&halbjahr={half}",
        figures=lambda row: half_year_cells(row, exact=exact, csv=False),
        exact=exact,
    )
