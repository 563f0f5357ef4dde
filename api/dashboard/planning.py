"""Eintrittsplanung (seed 002 §4.1, "Na Schulen 2015"): Soll per site and month, the Ist
counted from the referrals' start dates, and the deviation per month, cumulated and absolute
(figures: `models.figures.planning`, data: `tasks.read_model.planning`).

The tables are laid out like the seed's: SOLL (site × Januar..Dezember + Summe), IST (site ×
months + Summe + Soll bis zum laufenden Monat) and Abweichung (site × months in %, kumuliert %,
absolut), each with a total row. Months after the current one have no Ist and no deviation;
a deviation against a Soll of 0 is undefined and shown as "–". Coordinators and admins
enter the Soll; a caseworker sees the rows of their own site; providers are not admitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlmodel import Session, select

from api.access import scope
from api.dashboard.charts import grouped_bars
from api.dashboard.csrf import CsrfDep
from api.dashboard.reports import audit_report_read
from api.dashboard.web import DashboardUser, csv_response, page
from api.deps import NowDep, RegistryDep, SessionDep
from api.errors import Problem
from models.clock import local_date
from models.figures.planning import MONTHS, Planning
from models.german import zahl
from models.process import Registry
from models.tables import IntakePlan, Role, User
from tasks.read_model.planning import known_sites, load_planning, plan_of
from tasks.repository import Actor, audit

router = APIRouter()

SHORT_MONTHS = tuple(m[:3] for m in MONTHS)
MAX_SOLL = 100_000
#: ``hinweis`` codes of the page after a POST (no free text in the URL).
SAVED = "soll-gespeichert"
MAX_SITE = 60
PLANNERS = (Role.coordinator, Role.admin)


# --- the tables as CSV --------------------------------------------------------------------


def percent(value: float | None) -> str:
    """A deviation for the CSV: one decimal, decimal comma, "–" where undefined."""
    return zahl(value, 1)


def csv_rows(planning: Planning) -> list[list[Any]]:
    """All three tables in one long table: Tabelle, Standort, 12 months and the totals."""
    out: list[list[Any]] = []
    for row in [*planning.rows, planning.total]:
        name = "Summe" if row is planning.total else row.site
        out.append(["Soll", name, *row.soll, row.soll_sum, None, None, None])
    for row in [*planning.rows, planning.total]:
        name = "Summe" if row is planning.total else row.site
        out.append(["Ist", name, *row.ist_months, row.ist_sum, row.soll_to_date, None, None])
    for row in [*planning.rows, planning.total]:
        shown = [percent(v) if m < planning.upto else None for m, v in enumerate(row.deviations)]
        cumulated = percent(row.cumulated) if planning.upto else None
        out.append(["Abweichung %", row.site, *shown, None, None, cumulated, row.absolute])
    return out


CSV_HEADER = [
    "Tabelle",
    "Standort",
    *MONTHS,
    "Summe",
    "Soll bis lfd. Monat",
    "kumuliert %",
    "absolut",
]


# --- saving the Soll -----------------------------------------------------------------------


def save_plan(
    session: Session,
    user: User,
    now: datetime,
    year: int,
    service_type: str,
    site: str,
    values: Sequence[int],
) -> None:
    """Insert or update the Soll of `site` for all twelve months (one audit entry)."""
    existing = {
        p.month: p
        for p in session.exec(
            select(IntakePlan).where(
                IntakePlan.year == year,
                IntakePlan.service_type == service_type,
                IntakePlan.site == site,
            )
        )
    }
    for month, planned in enumerate(values, start=1):
        plan = existing.get(month) or IntakePlan(
            year=year, month=month, site=site, service_type=service_type, planned=planned
        )
        plan.planned, plan.updated_by, plan.updated_at = planned, user.username, now
        session.add(plan)
    audit(
        session,
        now,
        Actor(user.username, user.role),
        "intake_plan_saved",
        None,
        year=year,
        service_type=service_type,
        site=site,
        planned=list(values),
    )
    session.commit()


# --- pages --------------------------------------------------------------------------------


class SollForm(BaseModel):
    """The fields of the Soll form (strings, so that mistakes are shown on the page)."""

    jahr: int
    leistungsart: str
    standort: str = ""
    neuer_standort: str = ""
    soll_1: str = ""
    soll_2: str = ""
    soll_3: str = ""
    soll_4: str = ""
    soll_5: str = ""
    soll_6: str = ""
    soll_7: str = ""
    soll_8: str = ""
    soll_9: str = ""
    soll_10: str = ""
    soll_11: str = ""
    soll_12: str = ""

    @property
    def raw(self) -> list[str]:
        return [str(getattr(self, f"soll_{m}")).strip() for m in range(1, 13)]

    @property
    def site(self) -> str:
        return (self.neuer_standort.strip() or self.standort.strip())[:MAX_SITE]


def parse_soll(raw: Sequence[str]) -> tuple[list[int], list[str]]:
    """Whole numbers 0..100 000 (blank is 0); returns the values and the months in error."""
    values: list[int] = []
    errors: list[str] = []
    for month, text in zip(MONTHS, raw, strict=True):
        try:
            value = int(text) if text else 0
        except ValueError:
            value = -1
        if not 0 <= value <= MAX_SOLL:
            errors.append(month)
        values.append(max(value, 0))
    return values, errors


def default_service(registry: Registry) -> str:
    return "schulden" if "schulden" in registry.services else sorted(registry.services)[0]


def _check_service(registry: Registry, service_type: str) -> None:
    if service_type not in registry.services:
        raise Problem(
            404,
            f"Unbekannte Leistungsart {service_type!r}",
            known=sorted(registry.services),
        )


def _forbidden(request: Request, user: User) -> HTMLResponse:
    response = page(request, "planning.html.j2", user, nav="planning", forbidden=True)
    response.status_code = 403
    return response


def _chart(planning: Planning, title: str) -> str:
    """Soll vs Ist of the total row for the months that have an Ist (a future year: the
    Soll alone); the description states every value."""
    total = planning.total
    shown = range(planning.upto or 12)
    series = {"Soll": [float(total.soll[m]) for m in shown]}
    if planning.upto:
        series["Ist"] = [float(total.ist[m]) for m in shown]
    listed = "; ".join(
        f"{MONTHS[m]}: Soll {total.soll[m]}" + (f", Ist {total.ist[m]}" if planning.upto else "")
        for m in shown
    )
    span = f"bis {planning.current_month}" if planning.current_month else "(noch kein Ist)"
    return grouped_bars(
        [SHORT_MONTHS[m] for m in shown],
        series,
        title=f"Soll und Ist je Monat {span} – {title} {planning.year}",
        desc=f"Geplante (Soll) und begonnene (Ist) Eintritte je Monat. {listed}.",
        unit="Eintritte",
        chart_id="soll-ist",
    )


def _render(
    request: Request,
    user: User,
    session: Session,
    registry: Registry,
    today: date,
    year: int,
    service_type: str,
    site: str | None,
    *,
    entered: Sequence[str] | None = None,
    errors: Sequence[str] = (),
    new_site: str = "",
    saved: bool = False,
) -> HTMLResponse:
    planning = load_planning(session, scope(user), year, service_type, today)
    may_edit = user.role in PLANNERS
    sites = known_sites(session) if may_edit else []
    chosen = site or (planning.rows[0].site if planning.rows else (sites[0] if sites else ""))
    if chosen and chosen not in sites:
        new_site = new_site or chosen  # a site without referrals or plans yet
    if entered is None:
        values: Sequence[int | str] = plan_of(session, year, service_type, chosen)
    else:
        values = entered
    service = registry.service(service_type)
    query = urlencode({"jahr": year, "leistungsart": service_type})
    response = page(
        request,
        "planning.html.j2",
        user,
        nav="planning",
        forbidden=False,
        planning=planning,
        months=MONTHS,
        short_months=SHORT_MONTHS,
        today=today,
        year=year,
        service_type=service_type,
        service_title=service.title,
        services=sorted(((k, s.title) for k, s in registry.services.items()), key=lambda x: x[1]),
        may_edit=may_edit,
        sites=sites,
        chosen=chosen,
        new_site=new_site,
        values=list(values),
        errors=list(errors),
        csv_url=f"/dashboard/eintrittsplanung?{query}&format=csv",
        saved=saved and bool(chosen),
        chart=_chart(planning, service.title),
    )
    if errors:
        response.status_code = 422
    return response


@router.get("/eintrittsplanung", response_class=HTMLResponse, include_in_schema=False)
def planning_page(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
    jahr: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    leistungsart: str | None = None,
    standort: str | None = None,
    neuer_standort: str | None = None,
    format: str = "html",
    hinweis: str | None = None,
) -> Response:
    """The three tables, the chart, and for coordinators the Soll form; ``format=csv``."""
    if user.role not in (*PLANNERS, Role.caseworker):
        return _forbidden(request, user)
    today = local_date(now)
    year = jahr or today.year
    service_type = leistungsart or default_service(registry)
    _check_service(registry, service_type)
    audit_report_read(
        session,
        user,
        now,
        "eintrittsplanung",
        {
            "jahr": year,
            "leistungsart": service_type,
            "standort": ((neuer_standort or "").strip() or (standort or "").strip())[:MAX_SITE],
        },
        "csv" if format == "csv" else "html",
    )
    if format == "csv":
        planning = load_planning(session, scope(user), year, service_type, today)
        return csv_response(
            f"eintrittsplanung-{service_type}-{year}.csv", CSV_HEADER, csv_rows(planning)
        )
    chosen = (neuer_standort or "").strip() or (standort or "").strip()
    site = chosen[:MAX_SITE] or None
    saved = hinweis == SAVED and user.role in PLANNERS
    return _render(request, user, session, registry, today, year, service_type, site, saved=saved)


@router.post(
    "/eintrittsplanung",
    response_class=HTMLResponse,
    include_in_schema=False,
    dependencies=[CsrfDep],
)
def planning_save(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
    form: Annotated[SollForm, Form()],
) -> Response:
    """Save the Soll of one site for the twelve months, then back to the page (303) with
    ``hinweis=soll-gespeichert``: it confirms the save in a role=status message."""
    if user.role not in PLANNERS:
        return _forbidden(request, user)
    _check_service(registry, form.leistungsart)
    today = local_date(now)
    values, errors = parse_soll(form.raw)
    site = form.site
    if not 2000 <= form.jahr <= 2100:
        errors.insert(0, "Jahr")
    if not site:
        errors.insert(0, "Standort")
    if errors:
        return _render(
            request,
            user,
            session,
            registry,
            today,
            form.jahr if 2000 <= form.jahr <= 2100 else today.year,
            form.leistungsart,
            form.standort.strip() or None,
            entered=form.raw,
            errors=errors,
            new_site=form.neuer_standort.strip(),
        )
    save_plan(session, user, now, form.jahr, form.leistungsart, site, values)
    query = urlencode(
        {"jahr": form.jahr, "leistungsart": form.leistungsart, "standort": site, "hinweis": SAVED}
    )
    return RedirectResponse(f"/dashboard/eintrittsplanung?{query}#meldung", status_code=303)
