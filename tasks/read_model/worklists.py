"""The read model of the worklists (`api.dashboard.worklists`) and the overview's counts: one
page of cases or escalations, its total, and the choices of the filter forms.

A page costs a fixed number of queries (count, page, a lookup for the page's rows), never
one per row, and stays fast with 100,000 referrals: the overdue order reads the index
``ix_deadline_overdue`` (state, due_on, referral_id), the inbox ``ix_escalation_inbox``
(migration 0004). Everything is limited to the cases of the reader's `Scope`
(`api.access.visible`). Text search is partial and case-insensitive (``LIKE`` on
``lower()``, with ``%`` and ``_`` in the search term taken literally).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Subquery, func, or_
from sqlmodel import Session, col, select

from models.clock import BERLIN
from models.figures.states import registry_states
from models.process import Registry, UnknownServiceType
from models.tables import (
    Customer,
    Deadline,
    DeadlineState,
    Escalation,
    EscalationState,
    Provider,
    Referral,
    Role,
    Site,
    User,
)
from tasks.process_versions import UnknownVersion, service_for
from tasks.read_model.scope import Scope

OPEN = "offen"  # `CaseFilter.state`: every state that is not final (the default)
ALL = "alle"  # `CaseFilter.state`: open and closed cases
NO_PROVIDER = "-"  # `CaseFilter.provider` / `InboxFilter.provider`: cases without a Träger
INBOX_STATES = (EscalationState.open.value, EscalationState.acknowledged.value)
CASE_SORTS = ("frist", "aktenzeichen", "neueste", "aelteste")


@dataclass(frozen=True)
class CaseFilter:
    """What the case list shows: codes as in the URL (`api.dashboard.worklists.CASE_PARAMS`);
    empty strings and False mean "no restriction"."""

    service: str = ""
    provider: str = ""
    site: str = ""
    state: str = OPEN
    overdue: bool = False
    escalated: bool = False
    mine: bool = False
    search: str = ""
    sort: str = "frist"


@dataclass(frozen=True)
class InboxFilter:
    """What the escalation inbox shows; `state` is ``open``, ``acknowledged`` or "" (both),
    `level` the ladder step (0: every step), `new_since` set for "nur neue"."""

    service: str = ""
    provider: str = ""
    site: str = ""
    state: str = ""
    level: int = 0
    mine: bool = False
    search: str = ""
    new_since: datetime | None = None


@dataclass(frozen=True)
class CaseRow:
    """One line of the case list (titles in German; `overdue_*` of the case's earliest
    open deadline that is past due, None/0 when none is)."""

    reference: str
    customer_number: str | None  # None for providers
    service: str
    state: str
    provider: str
    site: str
    started_on: date
    overdue_title: str | None
    overdue_since: date | None
    overdue_days: int


@dataclass(frozen=True)
class InboxRow:
    """One escalation of the inbox with its case and deadline; `created_at` local time."""

    id: int
    reference: str
    reason: str
    state: str
    assigned_to: str | None
    level: int
    created_at: datetime
    new: bool
    deadline_title: str
    due_on: date
    deadline_state: str
    completed_on: date | None
    service: str
    site: str
    provider: str


@dataclass(frozen=True)
class Choice:
    """One option of a filter's select: the code in the URL and its German title."""

    code: str
    title: str


@dataclass(frozen=True)
class Choices:
    services: list[Choice]
    providers: list[Choice]
    sites: list[Choice]
    states: list[Choice]


# --- the case list ---------------------------------------------------------------


def case_count(
    session: Session, registry: Registry, scope: Scope, f: CaseFilter, today: date
) -> int:
    """How many visible cases match `f`."""
    query = select(func.count()).select_from(Referral)
    query = query.where(*_case_conditions(registry, scope, f, today))
    return int(session.exec(query).one())


def case_rows(
    session: Session,
    registry: Registry,
    scope: Scope,
    f: CaseFilter,
    today: date,
    offset: int,
    limit: int,
) -> list[CaseRow]:
    """The visible cases matching `f`, in the order `f.sort` names, rows `offset` to
    `offset + limit`; four queries whatever the page size."""
    overdue = (
        select(
            col(Deadline.referral_id).label("referral_id"),
            func.min(col(Deadline.due_on)).label("since"),
        )
        .where(*_overdue(today))
        .group_by(col(Deadline.referral_id))
        .subquery("overdue")
    )
    query = (
        select(Referral, overdue.c.since)
        .outerjoin(overdue, overdue.c.referral_id == Referral.id)
        .where(*_case_conditions(registry, scope, f, today))
        .order_by(*_case_order(f.sort, overdue))
        .offset(offset)
        .limit(limit)
    )
    found = session.exec(query).all()
    ids = [r.id for r, _ in found]
    earliest = _earliest_overdue(session, ids, today)
    customers = (
        {}
        if scope.user.role == Role.provider
        else _customer_numbers(session, {r.customer_id for r, _ in found})
    )
    providers = _provider_names(session, {r.provider_id for r, _ in found})
    rows = []
    for referral, since in found:
        title = earliest.get(referral.id or 0)
        rows.append(
            CaseRow(
                reference=referral.reference,
                customer_number=customers.get(referral.customer_id),
                service=service_title(registry, referral.service_type),
                state=_title_in_version(session, registry, referral),
                provider=providers.get(referral.provider_id, "–"),
                site=referral.site,
                started_on=referral.started_on,
                overdue_title=title,
                overdue_since=since,
                overdue_days=(today - since).days if since else 0,
            )
        )
    return rows


def _case_conditions(
    registry: Registry, scope: Scope, f: CaseFilter, today: date
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [scope.cases, *_common(f.service, f.provider, f.site)]
    finals = final_states(registry)
    if f.state == OPEN:
        conditions.append(col(Referral.state).not_in(finals))
    elif f.state != ALL:
        conditions.append(col(Referral.state) == f.state)
    if f.overdue:
        late = select(col(Deadline.referral_id)).where(*_overdue(today))
        conditions.append(col(Referral.id).in_(late))
    if f.escalated:
        conditions.append(col(Referral.id).in_(_escalated_cases()))
    if f.mine:
        conditions.append(col(Referral.id).in_(_escalated_cases().where(_assigned_to(scope.user))))
    if f.search:
        conditions.append(_case_search(scope.user, f.search))
    return conditions


def _common(service: str, provider: str, site: str) -> list[ColumnElement[bool]]:
    """Leistungsart, Träger (code, or `NO_PROVIDER`) and Standort of the referral."""
    conditions: list[ColumnElement[bool]] = []
    if service:
        conditions.append(col(Referral.service_type) == service)
    if provider == NO_PROVIDER:
        conditions.append(col(Referral.provider_id).is_(None))
    elif provider:
        ids = select(col(Provider.id)).where(col(Provider.code) == provider)
        conditions.append(col(Referral.provider_id).in_(ids))
    if site:
        conditions.append(col(Referral.site) == site)
    return conditions


def _overdue(today: date) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return col(Deadline.state) == DeadlineState.open.value, col(Deadline.due_on) < today


def _escalated_cases() -> Any:
    """Ids of referrals with an open or acknowledged escalation (a SELECT to add to)."""
    return select(col(Escalation.referral_id)).where(col(Escalation.state).in_(INBOX_STATES))


def _assigned_to(user: User) -> ColumnElement[bool]:
    """Assigned to `user`: the assignee is the user name (any upper/lower case)."""
    return func.lower(col(Escalation.assigned_to)) == user.username.lower()


def _case_search(user: User, term: str) -> ColumnElement[bool]:
    """Aktenzeichen contains `term`, or (not for providers) the customer number does."""
    by_reference = col(Referral.reference).icontains(term, autoescape=True)
    if user.role == Role.provider:
        return by_reference
    customers = select(col(Customer.id)).where(
        col(Customer.customer_number).icontains(term, autoescape=True)
    )
    return or_(by_reference, col(Referral.customer_id).in_(customers))


def _case_order(sort: str, overdue: Subquery) -> Sequence[Any]:
    reference = col(Referral.reference)
    if sort == "aktenzeichen":
        return (reference,)
    if sort == "neueste":
        return (col(Referral.started_on).desc(), reference)
    if sort == "aelteste":
        return (col(Referral.started_on), reference)
    return (overdue.c.since.asc().nulls_last(), reference)  # oldest overdue first


def _earliest_overdue(session: Session, ids: list[int | None], today: date) -> dict[int, str]:
    """Title of each case's earliest past-due open deadline, for the cases `ids`."""
    if not ids:
        return {}
    rows = session.exec(
        select(col(Deadline.referral_id), col(Deadline.title))
        .where(col(Deadline.referral_id).in_(ids), *_overdue(today))
        .order_by(col(Deadline.due_on).desc(), col(Deadline.id).desc())
    ).all()
    return dict(rows)  # the last (earliest due) wins


def _customer_numbers(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    query = select(col(Customer.id), col(Customer.customer_number))
    rows = session.exec(query.where(col(Customer.id).in_(ids))).all()
    return {id_: number for id_, number in rows if id_ is not None}


def _provider_names(session: Session, ids: set[int | None]) -> dict[int | None, str]:
    ids.discard(None)
    if not ids:
        return {}
    query = select(col(Provider.id), col(Provider.name)).where(col(Provider.id).in_(ids))
    return dict(session.exec(query).all())


# --- the escalation inbox ----------------------------------------------------------


def inbox_count(session: Session, scope: Scope, f: InboxFilter) -> int:
    """How many open or acknowledged escalations of visible cases match `f`."""
    query = (
        select(func.count())
        .select_from(Escalation)
        .join(Referral, col(Referral.id) == Escalation.referral_id)
        .where(*_inbox_conditions(scope, f))
    )
    return int(session.exec(query).one())


def inbox_rows(
    session: Session,
    registry: Registry,
    scope: Scope,
    f: InboxFilter,
    offset: int,
    limit: int,
    new_since: datetime | None,
) -> list[InboxRow]:
    """Open and acknowledged escalations matching `f`, the one whose deadline fell due
    first at the top; `new` for those created after `new_since` (the user's last visit)."""
    query = (
        select(Escalation, Referral, Deadline)
        .join(Referral, col(Referral.id) == Escalation.referral_id)
        .join(Deadline, col(Deadline.id) == Escalation.deadline_id)
        .where(*_inbox_conditions(scope, f))
        .order_by(col(Deadline.due_on), col(Escalation.id))
        .offset(offset)
        .limit(limit)
    )
    found = session.exec(query).all()
    providers = _provider_names(session, {r.provider_id for _, r, _ in found})
    return [
        InboxRow(
            id=e.id or 0,
            reference=r.reference,
            reason=e.reason,
            state=e.state,
            assigned_to=e.assigned_to,
            level=e.level,
            created_at=e.created_at.astimezone(BERLIN),
            new=new_since is not None and e.created_at > new_since,
            deadline_title=d.title,
            due_on=d.due_on,
            deadline_state=d.state,
            completed_on=d.completed_on,
            service=service_title(registry, r.service_type),
            site=r.site,
            provider=providers.get(r.provider_id, "–"),
        )
        for e, r, d in found
    ]


def new_count(session: Session, scope: Scope, since: datetime | None) -> int:
    """Open or acknowledged escalations of visible cases created after `since`."""
    if since is None:
        return 0
    return inbox_count(session, scope, InboxFilter(new_since=since))


def _inbox_conditions(scope: Scope, f: InboxFilter) -> list[ColumnElement[bool]]:
    states = (f.state,) if f.state in INBOX_STATES else INBOX_STATES
    conditions: list[ColumnElement[bool]] = [
        scope.cases,
        col(Escalation.state).in_(states),
        *_common(f.service, f.provider, f.site),
    ]
    if f.level:
        conditions.append(col(Escalation.level) == f.level)
    if f.mine:
        conditions.append(_assigned_to(scope.user))
    if f.search:
        conditions.append(col(Referral.reference).icontains(f.search, autoescape=True))
    if f.new_since is not None:
        conditions.append(col(Escalation.created_at) > f.new_since)
    return conditions


# --- overview figures, case lookup, filter choices -----------------------------------


def overdue_summary(session: Session, scope: Scope, today: date) -> tuple[int, int]:
    """Open deadlines past due in visible cases, and the number of those cases."""
    query = select(func.count(), func.count(func.distinct(col(Deadline.referral_id)))).where(
        *_overdue(today)
    )
    if not scope.everything:  # all cases visible: the index alone answers
        query = query.join(Referral, col(Referral.id) == Deadline.referral_id).where(scope.cases)
    deadlines, cases = session.exec(query).one()
    return int(deadlines), int(cases)


def references_like(session: Session, scope: Scope, reference: str) -> list[str]:
    """The Aktenzeichen of visible cases equal to `reference` in any upper/lower case
    (at most two: more than one match is ambiguous)."""
    if not reference or len(reference) > 200:
        return []
    query = (
        select(col(Referral.reference))
        .where(scope.cases, func.lower(col(Referral.reference)) == reference.lower())
        .order_by(col(Referral.reference))
        .limit(2)
    )
    return list(session.exec(query).all())


def choices(session: Session, registry: Registry, scope: Scope) -> Choices:
    """The options of the filter forms: Leistungsarten and states from the process
    definitions, the Träger and Standorte the user's cases can have."""
    services = [Choice(s, c.title) for s, c in sorted(registry.services.items())]
    providers = session.exec(select(Provider).order_by(col(Provider.name))).all()
    user = scope.user
    if user.role == Role.provider:
        providers = [p for p in providers if p.id == user.provider_id]
    names = dict(session.exec(select(col(Site.code), col(Site.name))).all())
    used = session.exec(select(col(Referral.site)).where(scope.cases).distinct()).all()
    codes = set(used) | (set(names) if user.role != Role.caseworker else set())
    return Choices(
        services=services,
        providers=[Choice(p.code, f"{p.name} ({p.code})") for p in providers],
        sites=[Choice(c, names.get(c, c)) for c in sorted(codes)],
        states=[Choice(name, title) for name, title in state_titles(registry).items()],
    )


def assignees(session: Session) -> list[str]:
    """User names of the active coordinators and admins (suggestions for "zuweisen")."""
    query = select(col(User.username)).where(
        col(User.role).in_((Role.coordinator.value, Role.admin.value)),
        col(User.active).is_(True),
    )
    return sorted(session.exec(query).all())


def final_states(registry: Registry) -> list[str]:
    """The states marked ``final`` in the definitions (`models.figures.states`), sorted."""
    return sorted(registry_states(registry).final)


def state_titles(registry: Registry) -> dict[str, str]:
    """Every state's German title, in the order the process definitions list them."""
    return registry_states(registry).titles


def state_title(registry: Registry, service_type: str, state: str) -> str:
    service = registry.services.get(service_type)
    states = service.process.states if service else {}
    return states[state].title if state in states else state_titles(registry).get(state, state)


def _title_in_version(session: Session, registry: Registry, referral: Referral) -> str:
    """The title of `referral`'s state in the process version it runs on (looked up once
    per version, `tasks.process_versions.service_for`); else as `state_title`."""
    try:
        states = service_for(session, registry, referral).process.states
    except (UnknownServiceType, UnknownVersion):
        states = {}
    found = states.get(referral.state)
    return found.title if found else state_title(registry, referral.service_type, referral.state)


def service_title(registry: Registry, service_type: str) -> str:
    service = registry.services.get(service_type)
    return service.title if service else service_type


def escalation_counts(session: Session, scope: Scope) -> dict[str, int]:
    """Open and acknowledged escalations of visible cases, by state (both keys present)."""
    query = select(col(Escalation.state), func.count()).where(
        col(Escalation.state).in_(INBOX_STATES)
    )
    if not scope.everything:
        query = query.join(Referral, col(Referral.id) == Escalation.referral_id).where(scope.cases)
    query = query.group_by(col(Escalation.state))
    counts = dict.fromkeys(INBOX_STATES, 0)
    counts.update({state: int(n) for state, n in session.exec(query).all()})
    return counts
