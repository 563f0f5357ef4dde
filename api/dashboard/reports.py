"""Dashboard report pages: Kennzahlen (Bericht 01) and the half-yearly provider report.

* ``GET /dashboard/kennzahlen?von=…&bis=…&standort=…``: the Kennzahlen table of seed 002
  §4.1 (rows per provider, columns of `models.kennzahlen.COLUMNS`, cases open > 90 days
  per phase) for a period (default: the current calendar year up to today) and a site,
  with the chart "Fälle nach Zustand im Zeitverlauf". ``&format=csv``: the table as CSV.
* ``GET /dashboard/halbjahresbericht?jahr=…&halbjahr=1|2``: per provider and
  Hilfebedarfsgruppe the cases worked, the closed cases and the average effort per case
  (seed 002 §4.6.3, § 5 of the Hamm contract; Stichtag 30.6./31.12., due on the last
  working day of the following month). ``&format=csv``: the table as CSV.

The data come from the read model (`tasks.read_model.reports`), the figures from the
domain (`models.kennzahlen`, `models.figures`); this module parses the request, applies
the secrecy rule to the cells and renders. Every page counts only the referrals the user
may see (`api.access.scope`). For every reader but the coordination and the
administration, cells of 1 or 2 cases (counts, and shares, means, medians, percentiles and
hours over 1 or 2 cases) are shown as ``"< 3"`` in HTML and CSV (statistical secrecy, see
`models.kennzahlen`). Every page view and CSV export is written to the audit trail
(``report_read``: report, parameters, format).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from api.access import scope
from api.dashboard import charts
from api.dashboard.phase_report import phase_tables
from api.dashboard.web import DashboardUser, csv_response, page
from api.deps import NowDep, RegistryDep, SessionDep
from models.clock import local_date
from models.figures.half_year import GroupFigures, HalfYearReport
from models.figures.periods import month_ends
from models.figures.states import ReportStates, registry_states
from models.german import prozent, zahl
from models.kennzahlen import (
    COLUMNS,
    SUPPRESSED,
    KennzahlenRow,
    cases_by_state,
    exact_figures,
    is_small,
    kennzahlen,
    occurring_phases,
    per_service_type,
    small_fields,
)
from models.tables import User
from tasks.read_model import reports as read_model
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


def month_label(year: int, month: int) -> str:
    return f"{MONTHS[month - 1]} {year}"


# --- Kennzahlen ------------------------------------------------------------------------------


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
    rows: Sequence[KennzahlenRow],
    states: ReportStates,
    *,
    csv: bool = False,
    exact: bool = True,
) -> tuple[list[str], list[list[str]]]:
    """Flat headers and cells; "open > 90 days" becomes one column per occurring phase,
    titled from the process definitions (`states`). Unless `exact`, small cells are
    `SUPPRESSED` (`models.kennzahlen.small_fields`)."""
    phases = occurring_phases(rows, states)
    headers: list[str] = []
    for field_name, title in COLUMNS:
        if field_name == "open_over_90_days" and phases:
            headers += [f"> 90 Tage: {states.title(p)}" for p in phases]
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
    view = scope(user)
    sites = read_model.sites(session, view)
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
    facts = read_model.kennzahlen_facts(session, view, standort, leistungsart)
    states = registry_states(registry)
    rows = kennzahlen(facts, start, end, states)
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
        headers, cells = kennzahlen_table(rows, states, csv=True, exact=exact)
        suffix = (f"_{standort}" if standort else "") + (f"_{leistungsart}" if leistungsart else "")
        return csv_response(
            f"kennzahlen_{start:%Y-%m-%d}_{end:%Y-%m-%d}{suffix}.csv", headers, cells
        )
    _, cells = kennzahlen_table(rows, states, exact=exact)
    phases = occurring_phases(rows, states)
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
    by_service = [] if leistungsart else per_service_type(facts, start, end, services, states)
    service_headers, service_cells = kennzahlen_table(by_service, states, exact=exact)
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
        phase_titles=[states.title(p) for p in phases],
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
        phase_tables=phase_tables(  # Leistungsabschnitte (seed 002 §4.1)
            session, user, registry, end, site=standort, service_type=leistungsart
        ),
    )


# --- Halbjahresbericht -----------------------------------------------------------------------


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
    report = read_model.half_year_report(session, scope(user), registry, year, half, today)
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
