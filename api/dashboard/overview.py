"""Übersicht: open cases by state, service type, provider and site, overdue deadlines and
escalations, each count a link to the filtered worklist (`api.dashboard.worklists`: the
case list and the escalation inbox, where escalations are worked); CSV exports.

The figures come from the read model (`tasks.read_model.overview`, set-based queries
limited to the user's scope); this module parses the request and renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from api.access import scope
from api.dashboard.cases import ESCALATION_STATES
from api.dashboard.sweep_status import sweep_line
from api.dashboard.web import DashboardUser, csv_response, page
from api.deps import NowDep, RegistryDep, SessionDep
from models.clock import local_date
from models.process import Registry
from models.tables import Role, User
from tasks.read_model.overview import Count, escalation_inbox, open_cases, overdue_deadlines
from tasks.read_model.worklists import escalation_counts, overdue_summary

router = APIRouter()

Table = Literal["state", "service", "provider", "site", "overdue", "escalations"]


@router.get("/", response_class=HTMLResponse, summary="Übersicht")
def overview(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
    format: Literal["html", "csv"] = "html",
    table: Table | None = None,
) -> Response:
    """Offene Fälle, überfällige Fristen und Eskalationen im Sichtbereich von `user`, als
    Zahlen mit Links auf die gefilterten Arbeitslisten."""
    today = local_date(now)
    if format == "csv":
        return _csv(session, registry, user, today, table or "state")
    view = scope(user)
    overdue_total, overdue_cases = overdue_summary(session, view, today)
    return page(
        request,
        "overview.html.j2",
        user,
        nav="overview",
        today=today,
        open_cases=open_cases(session, registry, view),
        overdue_total=overdue_total,
        overdue_cases=overdue_cases,
        escalations=escalation_counts(session, view),
        may_act=user.role in (Role.coordinator, Role.admin),
        sweep=sweep_line(request, session, now, user),
    )


def _csv(session: Session, registry: Registry, user: User, today: date, table: Table) -> Response:
    name = f"uebersicht-{table}-{today:%Y-%m-%d}.csv"
    if table == "overdue":
        overdue, _ = overdue_deadlines(session, scope(user), today, None)
        return csv_response(
            name,
            ("Aktenzeichen", "Frist", "Fällig am", "Tage überfällig", "Träger"),
            ((d.reference, d.title, f"{d.due_on:%d.%m.%Y}", d.days, d.provider) for d in overdue),
        )
    if table == "escalations":
        inbox, _ = escalation_inbox(session, scope(user), None)
        return csv_response(
            name,
            (
                "Nr.",
                "Aktenzeichen",
                "Grund",
                "Überfällig",
                "Status",
                "Stufe",
                "Seit",
                "Zugewiesen an",
            ),
            (
                (
                    e.id,
                    e.reference,
                    e.reason,
                    e.overdue(today),
                    ESCALATION_STATES.get(e.state, e.state),
                    e.level,
                    f"{e.since:%d.%m.%Y %H:%M}",
                    e.assigned_to,
                )
                for e in inbox
            ),
        )
    cases = open_cases(session, registry, scope(user))
    counts: dict[str, tuple[Sequence[str], list[Count]]] = {
        "state": (("Zustand", "Bezeichnung"), cases.by_state),
        "service": (("Leistungsart", "Bezeichnung"), cases.by_service),
        "provider": (("Träger", "Name"), cases.by_provider),
        "site": (("Standort", "Bezeichnung"), cases.by_site),
    }
    header, lines = counts[table]
    return csv_response(name, (*header, "Offene Fälle"), ((c.key, c.title, c.cases) for c in lines))
