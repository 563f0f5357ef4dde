"""The read model of the Übersicht (`api.dashboard.overview`): open cases by state, service
type, provider and site, overdue deadlines and the escalation inbox.

Every figure comes from a handful of set-based queries (GROUP BY, LIMIT), never one query
per case, so the page stays fast with 100,000 cases (``benchmarks/overview.py``). Every
query is limited to the cases of the reader's `Scope`; which states are open (not
``final``), their titles and order come from the process definitions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from models.clock import BERLIN
from models.figures.states import registry_states
from models.process import Registry, UnknownServiceType
from models.tables import (
    Deadline,
    DeadlineState,
    Escalation,
    EscalationState,
    Provider,
    Referral,
)
from tasks.escalations import overdue_text
from tasks.read_model.scope import Scope
from tasks.read_model.worklists import final_states, service_title

INBOX_STATES = (EscalationState.open, EscalationState.acknowledged)


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


def open_cases(session: Session, registry: Registry, scope: Scope) -> OpenCases:
    """Open cases (state not final) counted in one GROUP BY over the visible referrals."""
    finals = final_states(registry)
    rows = session.exec(
        select(  # type: ignore[call-overload]  # sqlmodel types select() up to 4 columns
            col(Referral.service_type),
            col(Referral.state),
            col(Referral.provider_id),
            col(Referral.site),
            func.count(),
        )
        .where(scope.cases, col(Referral.state).not_in(finals))
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
    order = registry_states(registry).order
    return OpenCases(
        total=sum(states.values()),
        by_state=[
            Count(s, state_titles[s], n)
            for s, n in sorted(states.items(), key=lambda i: order(i[0]))
        ],
        by_service=[Count(s, service_title(registry, s), n) for s, n in sorted(services.items())],
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
    session: Session, scope: Scope, today: date, limit: int | None
) -> tuple[list[OverdueDeadline], int]:
    """Open deadlines due before `today`, the most recently overdue first, and their count."""
    overdue = (col(Deadline.state) == DeadlineState.open, col(Deadline.due_on) < today)
    counted = select(func.count()).select_from(Deadline).where(*overdue)
    total = session.exec(_restricted(counted, Deadline.referral_id, scope)).one()
    query = (
        select(
            col(Referral.reference), col(Deadline.title), col(Deadline.due_on), col(Provider.code)
        )
        .join(Referral, col(Referral.id) == Deadline.referral_id)
        .outerjoin(Provider, col(Provider.id) == Referral.provider_id)
        .where(scope.cases, *overdue)
        .order_by(col(Deadline.due_on).desc(), col(Deadline.id).desc())
        .limit(limit)
    )
    rows = [
        OverdueDeadline(reference, title, due_on, (today - due_on).days, code)
        for reference, title, due_on, code in session.exec(query)
    ]
    return rows, int(total)


def escalation_inbox(
    session: Session, scope: Scope, limit: int | None
) -> tuple[list[InboxEntry], int]:
    """Open and acknowledged escalations of visible cases, newest first, and their count.

    One query per state, each read in index order (state, created_at) with a LIMIT, so
    thousands of resolved or waiting escalations are never sorted as a whole."""
    counted = (
        select(func.count()).select_from(Escalation).where(col(Escalation.state).in_(INBOX_STATES))
    )
    total = session.exec(_restricted(counted, Escalation.referral_id, scope)).one()
    entries: list[InboxEntry] = []
    for state in INBOX_STATES:
        query = (
            select(Escalation, col(Referral.reference), col(Deadline.due_on))
            .join(Referral, col(Referral.id) == Escalation.referral_id)
            .join(Deadline, col(Deadline.id) == Escalation.deadline_id)
            .where(scope.cases, Escalation.state == state)
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


def _restricted(query: SelectOfScalar[int], referral_id: int, scope: Scope) -> SelectOfScalar[int]:
    """`query` limited to the cases of `scope`; the join to `Referral` is left out when
    the access rule admits every case (coordination, administration), so a count reads
    one index only."""
    if scope.everything:
        return query
    return query.join(Referral, col(Referral.id) == referral_id).where(scope.cases)


def _state_title(registry: Registry, service_type: str, state: str) -> str:
    try:
        states = registry.service(service_type).process.states
    except UnknownServiceType:
        return state
    return states[state].title if state in states else state
