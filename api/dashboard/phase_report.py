"""Bericht 01's phase rows on the Kennzahlen page and as CSV (seed 002 §4.1): per
Leistungsart with ``phases:``, per phase "Anzahl Fälle, bei denen der LA n nicht
abgeschlossen ist", "LA n seit mehr als 90 Tagen nicht abgeschlossen" and "Anteil (%)",
one column per provider and ``Gesamt``, on the period's last day (the Stichtag).

* `phase_tables` gives the tables for the Kennzahlen page (`api.dashboard.reports`);
* ``GET /dashboard/kennzahlen/leistungsabschnitte.csv?bis=…&standort=…&leistungsart=…``:
  the same rows as CSV (audited as ``report_read``).

Counts only the referrals the user may see (`api.access.scope`); for every reader but the
coordination and the administration, counts of 1 or 2 and shares over 1 or 2 cases are
``"< 3"`` (`models.kennzahlen.is_small`). The figures are `models.phases.phase_figures`,
the query `tasks.read_model.phases`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlmodel import Session

from api.access import scope
from api.dashboard.web import DashboardUser, csv_response
from api.deps import NowDep, RegistryDep, SessionDep
from models.clock import local_date
from models.german import prozent
from models.kennzahlen import SUPPRESSED, exact_figures, is_small
from models.phases import PhaseColumn, phase_figures
from models.process import Registry
from models.tables import User
from tasks.read_model.phases import load_case_phases

router = APIRouter()


@dataclass(frozen=True)
class PhaseTable:
    """One Leistungsart's phase rows: `headers` (figure, then one per provider and
    ``Gesamt``) and `rows` of text cells, on the Stichtag `as_of`."""

    service_type: str
    title: str
    as_of: date
    headers: list[str]
    rows: list[list[str]]


def _cell(count: int, exact: bool) -> str:
    return SUPPRESSED if not exact and is_small(count) else str(count)


def _share(stale: int, open_: int, exact: bool, *, csv: bool) -> str:
    if not exact and is_small(open_):
        return SUPPRESSED
    if not open_:
        return "" if csv else "–"
    return prozent(stale / open_, space=" ") if csv else prozent(stale / open_)


def table_rows(
    columns: list[PhaseColumn], days: dict[str, int], *, exact: bool, csv: bool = False
) -> list[list[str]]:
    """Three rows per phase, as in Bericht 01; `days` is each phase's ``stale_after_days``."""
    rows: list[list[str]] = []
    if not columns:
        return rows
    for i, figure in enumerate(columns[0].figures):
        label = figure.title
        rows.append(
            [f"Fälle, bei denen {label} nicht abgeschlossen ist"]
            + [_cell(c.figures[i].open, exact) for c in columns]
        )
        rows.append(
            [f"{label} seit mehr als {days[figure.phase]} Tagen nicht abgeschlossen"]
            + [_cell(c.figures[i].stale, exact) for c in columns]
        )
        rows.append(
            ["Anteil (%)"]
            + [_share(c.figures[i].stale, c.figures[i].open, exact, csv=csv) for c in columns]
        )
    return rows


def phase_tables(
    session: Session,
    user: User,
    registry: Registry,
    as_of: date,
    *,
    site: str | None = None,
    service_type: str | None = None,
    csv: bool = False,
) -> list[PhaseTable]:
    """The phase rows of every Leistungsart with phases (only `service_type`, if given) in
    `user`'s view (and `site`) on the Stichtag `as_of`."""
    tables = []
    for key, service in registry.services.items():
        phases = service.standard.phases
        if not phases or (service_type and key != service_type):
            continue
        cases = load_case_phases(session, scope(user), key, site)
        columns = phase_figures(phases, cases, as_of)
        days = {p.code: p.stale_after_days for p in phases}
        rows = table_rows(columns, days, exact=exact_figures(user.role), csv=csv)
        headers = ["Kennzahl", *(c.provider for c in columns)]
        tables.append(PhaseTable(key, service.title, as_of, headers, rows))
    return tables


@router.get("/kennzahlen/leistungsabschnitte.csv", include_in_schema=False)
def phase_csv(
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
    bis: Annotated[str | None, Query(max_length=10)] = None,
    standort: Annotated[str | None, Query(max_length=60)] = None,
    leistungsart: Annotated[str | None, Query(max_length=60)] = None,
) -> Response:
    """Die Zeilen „LA n seit mehr als 90 Tagen nicht abgeschlossen“ als CSV; Stichtag
    ``bis`` (Standard: heute). 400 bei ungültigem Datum oder unbekannter Leistungsart."""
    from api.dashboard.reports import BadPeriod, audit_report_read, parse_period

    today = local_date(now)
    try:
        _, as_of = parse_period(None, bis, default=(date(today.year, 1, 1), today))
        if leistungsart and leistungsart not in registry.services:
            raise BadPeriod("Diese Leistungsart gibt es nicht.")
    except BadPeriod as problem:
        return Response(str(problem), status_code=400, media_type="text/plain; charset=utf-8")
    tables = phase_tables(
        session, user, registry, as_of, site=standort, service_type=leistungsart, csv=True
    )
    parameters = {"bis": as_of.isoformat(), "standort": standort, "leistungsart": leistungsart}
    audit_report_read(session, user, now, "leistungsabschnitte", parameters, "csv")
    header = ["Leistungsart", *(tables[0].headers if tables else ["Kennzahl"])]
    rows = [[t.title, *row] for t in tables for row in t.rows]
    return csv_response(f"leistungsabschnitte_{as_of:%Y-%m-%d}.csv", header, rows)
