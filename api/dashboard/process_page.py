"""Prozess: the process of a Leistungsart as a diagram with live counts (issue 10, point 1).

``GET /dashboard/prozess?leistungsart=schulden`` draws the `models.bpmn` layout as SVG
(`api.dashboard.process_svg`) with the open cases per state and the overdue deadlines per
state and deadline in the user's view (`api.access.visible`), each linked to the filtered
case list; a table below gives the same figures as text. ``GET
/dashboard/prozess/<leistungsart>.bpmn`` downloads the BPMN 2.0 file (`kel process
export-bpmn`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.access import visible
from api.dashboard.cases import error_page
from api.dashboard.error_pages import error_response
from api.dashboard.process_svg import render
from api.dashboard.web import DashboardUser, page
from api.dashboard.worklists import case_query
from api.deps import NowDep, RegistryDep, SessionDep
from models.bpmn import layout, to_bpmn_xml
from models.clock import local_date
from models.process import ServiceConfig
from models.tables import Deadline, DeadlineState, Referral, User
from tasks.read_model import worklists as q

router = APIRouter()


@router.get("/prozess", response_class=HTMLResponse, summary="Prozess")
def process_page(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
    leistungsart: Annotated[str, Query(max_length=60)] = "",
) -> HTMLResponse:
    """Das Prozessdiagramm einer Leistungsart mit offenen Fällen je Zustand und
    überfälligen Fristen je Zustand und Frist im Sichtbereich von `user`."""
    services = sorted(registry.services)
    chosen = leistungsart or busiest(session, user) or services[0]
    if chosen not in registry.services:
        return error_page(request, user, 404)
    service = registry.service(chosen)
    states = open_by_state(session, user, chosen)
    overdue = overdue_by_deadline(session, user, chosen, local_date(now))

    def link(state: str, deadline: str | None = None) -> str:
        wanted = q.CaseFilter(service=chosen, state=state, overdue=deadline is not None)
        return f"/dashboard/faelle?{case_query(wanted)}"

    diagram = layout(service)
    return page(
        request,
        "prozess.html.j2",
        user,
        nav="process",
        services=[(s, registry.service(s).title) for s in services],
        chosen=chosen,
        service=service,
        svg=render(diagram, states, overdue, link, f"Prozess {service.title}"),
        rows=_rows(service, states, overdue, link),
    )


@router.get("/prozess/{service_type}.bpmn", summary="Prozess als BPMN")
def process_bpmn(
    request: Request, service_type: str, user: DashboardUser, registry: RegistryDep
) -> Response:
    """Die Prozessdefinition der Leistungsart als BPMN-2.0-Datei (mit Diagramm); eine
    unbekannte Leistungsart ist die deutsche Fehlerseite 404."""
    if service_type not in registry.services:
        return error_response(request, 404)
    xml = to_bpmn_xml(layout(registry.service(service_type)))
    return Response(
        xml,
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{service_type}.bpmn"'},
    )


def busiest(session: Session, user: User) -> str | None:
    """The Leistungsart with the most cases in `user`'s view (the page's default)."""
    row = session.exec(
        select(col(Referral.service_type), func.count().label("n"))
        .where(visible(user))
        .group_by(col(Referral.service_type))
        .order_by(func.count().desc(), col(Referral.service_type))
        .limit(1)
    ).first()
    return row[0] if row else None


def open_by_state(session: Session, user: User, service_type: str) -> dict[str, int]:
    """Cases of `service_type` in `user`'s view per state (final states included)."""
    rows = session.exec(
        select(col(Referral.state), func.count())
        .where(visible(user), col(Referral.service_type) == service_type)
        .group_by(col(Referral.state))
    ).all()
    return {state: int(n) for state, n in rows}


def overdue_by_deadline(
    session: Session, user: User, service_type: str, today: date
) -> dict[tuple[str, str], int]:
    """Open deadlines due before `today` per (case state, deadline kind), in `user`'s view."""
    rows = session.exec(
        select(col(Referral.state), col(Deadline.kind), func.count())
        .join(Referral, col(Referral.id) == Deadline.referral_id)
        .where(
            visible(user),
            col(Referral.service_type) == service_type,
            col(Deadline.state) == DeadlineState.open,
            col(Deadline.due_on) < today,
        )
        .group_by(col(Referral.state), col(Deadline.kind))
    ).all()
    return {(state, kind): int(n) for state, kind, n in rows}


@dataclass(frozen=True)
class StateRow:
    """One line of the figures table: state title, open cases, case-list link, and the
    overdue deadlines of cases in that state as (deadline title, count)."""

    title: str
    cases: int
    url: str
    late: list[tuple[str, int]]


def _rows(
    service: ServiceConfig,
    states: dict[str, int],
    overdue: dict[tuple[str, str], int],
    link: Callable[..., str],
) -> list[StateRow]:
    process = service.process
    result = []
    for name, state in process.states.items():
        late = [
            (process.deadlines[kind].title, n)
            for (s, kind), n in sorted(overdue.items())
            if s == name and kind in process.deadlines
        ]
        result.append(StateRow(state.title, states.get(name, 0), link(state=name), late))
    return result
