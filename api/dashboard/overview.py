"""Übersicht: open cases by state, service type, provider and site, overdue deadlines and
escalations, each count a link to the filtered worklist (`api.dashboard.worklists`: the
case list and the escalation inbox, where escalations are worked); CSV exports.

Every figure comes from a handful of set-based queries (GROUP BY, LIMIT), never one query
per case, so the page stays fast with 100,000 cases (``benchmarks/overview.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import True_, func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from api.access import visible
from api.dashboard.cases import ESCALATION_STATES
from api.dashboard.sweep_status import sweep_line
from api.dashboard.web import DashboardUser, csv_response, page
from api.dashboard.worklist_queries import escalation_counts, overdue_summary
from api.deps import NowDep, RegistryDep, SessionDep
from models.clock import BERLIN, local_date
from models.process import Registry, UnknownServiceType
from models.tables import (
    Deadline,
    DeadlineState,
    Escalation,
    EscalationState,
    Provider,
    Referral,
    Role,
    User,
)
from tasks.escalations import overdue_text

router = APIRouter()

INBOX_STATES = (EscalationState.open, EscalationState.acknowledged)
Table = Literal["state", "service", "provider", "site", "overdue", "escalations"]


@dataclass(frozen=True)
class Count:
    """One line of a count table: the code (for the CSV), its German title, open cases."""

    key: str
    title: str
    cases: int


@dataclass(frozen=True)
class OpenCases:
    total: int
    by_state: list[Count]
    by_service: list[Count]
    by_provider: list[Count]
    by_site: list[Count]


@dataclass(frozen=True)
class OverdueDeadline:
    reference: str
    title: str
    due_on: date
    days: int
    provider: str | None


@dataclass(frozen=True)
class InboxEntry:
    id: int
    reference: str
    reason: str
    state: str
    since: datetime  # local time (Europe/Berlin)
    assigned_to: str | None
    due_on: date | None = None  # the deadline's last day
    level: int = 1  # 2: raised to the second step (`tasks.escalations`)
    raised_at: datetime | None = None

    def overdue(self, today: date) -> str:
        """German days overdue as of `today` ("seit 5 Tagen überfällig"), counted from
        the deadline's `due_on` (`tasks.escalations.overdue_text`)."""
        return overdue_text(self.due_on, today) if self.due_on else "–"


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
    overdue_total, overdue_cases = overdue_summary(session, user, today)
    return page(
        request,
        "overview.html.j2",
        user,
        nav="overview",
        today=today,
        open_cases=open_cases(session, registry, user),
        overdue_total=overdue_total,
        overdue_cases=overdue_cases,
        escalations=escalation_counts(session, user),
        may_act=user.role in (Role.coordinator, Role.admin),
        sweep=sweep_line(request, session, now, user),
    )


def open_cases(session: Session, registry: Registry, user: User) -> OpenCases:
    """Open cases (state not final) counted in one GROUP BY over the visible referrals."""
    finals = sorted(
        name
        for service in registry.services.values()
        for name, state in service.process.states.items()
        if state.final
    )
    rows = session.exec(
        select(  # type: ignore[call-overload]  # sqlmodel types select() up to 4 columns
            col(Referral.service_type),
            col(Referral.state),
            col(Referral.provider_id),
            col(Referral.site),
            func.count(),
        )
        .where(visible(user), col(Referral.state).not_in(finals))
        .group_by(
            col(Referral.service_type),
            col(Referral.state),
            col(Referral.provider_id),
            col(Referral.site),
        )
    ).all()
    states: Counter[str] = Counter()
    services: Counter[str] = Counter()
    providers: Counter[int | None] = Counter()
    sites: Counter[str] = Counter()
    state_titles: dict[str, str] = {}
    for service_type, state, provider_id, site, cases in rows:
        states[state] += cases
        services[service_type] += cases
        providers[provider_id] += cases
        sites[site] += cases
        state_titles.setdefault(state, _state_title(registry, service_type, state))
    known = {p.id: p for p in session.exec(select(Provider))}
    order = _state_order(registry)
    return OpenCases(
        total=sum(states.values()),
        by_state=[
            Count(s, state_titles[s], n)
            for s, n in sorted(states.items(), key=lambda i: (order.get(i[0], len(order)), i[0]))
        ],
        by_service=[Count(s, _service_title(registry, s), n) for s, n in sorted(services.items())],
        by_provider=sorted(
            (
                Count(known[p].code, known[p].name, n)
                if p in known
                else Count("", "ohne Träger", n)
                for p, n in providers.items()
            ),
            key=lambda c: (c.key == "", c.key),
        ),
        by_site=[Count(s, s, n) for s, n in sorted(sites.items())],
    )


def overdue_deadlines(
    session: Session, user: User, today: date, limit: int | None
) -> tuple[list[OverdueDeadline], int]:
    """Open deadlines due before `today`, the most recently overdue first, and their count."""
    overdue = (col(Deadline.state) == DeadlineState.open, col(Deadline.due_on) < today)
    counted = select(func.count()).select_from(Deadline).where(*overdue)
    total = session.exec(_restricted(counted, Deadline.referral_id, user)).one()
    query = (
        select(
            col(Referral.reference), col(Deadline.title), col(Deadline.due_on), col(Provider.code)
        )
        .join(Referral, col(Referral.id) == Deadline.referral_id)
        .outerjoin(Provider, col(Provider.id) == Referral.provider_id)
        .where(visible(user), *overdue)
        .order_by(col(Deadline.due_on).desc(), col(Deadline.id).desc())
        .limit(limit)
    )
    rows = [
        OverdueDeadline(reference, title, due_on, (today - due_on).days, code)
        for reference, title, due_on, code in session.exec(query)
    ]
    return rows, int(total)


def escalation_inbox(
    session: Session, user: User, limit: int | None
) -> tuple[list[InboxEntry], int]:
    """Open and acknowledged escalations of visible cases, newest first, and their count.

    One query per state, each read in index order (state, created_at) with a LIMIT, so
    thousands of resolved or waiting escalations are never sorted as a whole."""
    counted = (
        select(func.count()).select_from(Escalation).where(col(Escalation.state).in_(INBOX_STATES))
    )
    total = session.exec(_restricted(counted, Escalation.referral_id, user)).one()
    entries: list[InboxEntry] = []
    for state in INBOX_STATES:
        query = (
            select(Escalation, col(Referral.reference), col(Deadline.due_on))
            .join(Referral, col(Referral.id) == Escalation.referral_id)
            .join(Deadline, col(Deadline.id) == Escalation.deadline_id)
            .where(visible(user), Escalation.state == state)
            .order_by(col(Escalation.created_at).desc(), col(Escalation.id).desc())
            .limit(limit)
        )
        entries += (
            InboxEntry(
                id=e.id or 0,
                reference=reference,
                reason=e.reason,
                state=e.state,
                since=e.created_at.astimezone(BERLIN),
                assigned_to=e.assigned_to,
                due_on=due_on,
                level=e.level,
                raised_at=e.raised_at.astimezone(BERLIN) if e.raised_at else None,
            )
            for e, reference, due_on in session.exec(query)
        )
    entries.sort(key=lambda e: (e.since, e.id), reverse=True)
    return entries[:limit], int(total)


def _restricted(query: SelectOfScalar[int], referral_id: int, user: User) -> SelectOfScalar[int]:
    """`query` limited to the cases `user` may see; the join to `Referral` is left out when
    the access rule admits every case (coordination, administration), so a count reads
    one index only."""
    condition = visible(user)
    if isinstance(condition, True_):
        return query
    return query.join(Referral, col(Referral.id) == referral_id).where(condition)


def _csv(session: Session, registry: Registry, user: User, today: date, table: Table) -> Response:
    name = f"uebersicht-{table}-{today:%Y-%m-%d}.csv"
    if table == "overdue":
        overdue, _ = overdue_deadlines(session, user, today, None)
        return csv_response(
            name,
            ("Aktenzeichen", "Frist", "Fällig am", "Tage überfällig", "Träger"),
            ((d.reference, d.title, f"{d.due_on:%d.%m.%Y}", d.days, d.provider) for d in overdue),
        )
    if table == "escalations":
        inbox, _ = escalation_inbox(session, user, None)
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
    cases = open_cases(session, registry, user)
    counts: dict[str, tuple[Sequence[str], list[Count]]] = {
        "state": (("Zustand", "Bezeichnung"), cases.by_state),
        "service": (("Leistungsart", "Bezeichnung"), cases.by_service),
        "provider": (("Träger", "Name"), cases.by_provider),
        "site": (("Standort", "Bezeichnung"), cases.by_site),
    }
    header, lines = counts[table]
    return csv_response(name, (*header, "Offene Fälle"), ((c.key, c.title, c.cases) for c in lines))


def _state_title(registry: Registry, service_type: str, state: str) -> str:
    try:
        states = registry.service(service_type).process.states
    except UnknownServiceType:
        return state
    return states[state].title if state in states else state


def _service_title(registry: Registry, service_type: str) -> str:
    try:
        return registry.service(service_type).title
    except UnknownServiceType:
        return service_type


def _state_order(registry: Registry) -> dict[str, int]:
    """States in the order the process definitions list them (the process's course)."""
    order: dict[str, int] = {}
    for service in registry.services.values():
        for name in service.process.states:
            order.setdefault(name, len(order))
    return order
