"""The demo's Koordinator/in § 16a: works the escalation inbox on the simulated day.

What is done is planned by `demo.behaviour.coordinator_day` (pure); it is applied on the
one path of the API and the dashboard: `api.routes.escalations.escalation_for` (lock,
scope) and `change_escalation` (change and audit), one transaction per action.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlmodel import col, select

from api.errors import Problem
from api.routes.escalations import change_escalation, escalation_for
from demo.behaviour import CoordinatorAction, InboxItem, coordinator_day
from models.clock import local_date, start_of_day
from models.db import session, write_session
from models.settings import Settings
from models.tables import Escalation, Role, User
from tasks.escalations import UNRESOLVED

#: The demo's coordinator account (not stored: the demo has no logins).
COORDINATOR = User(
    username="koordination",
    role=Role.coordinator,
    password_hash="-",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def inbox_on(url: str, day: date) -> list[InboxItem]:
    """The unresolved escalations raised by the morning of `day` (local date)."""
    with session(url) as s:
        rows = s.exec(
            select(Escalation).where(
                col(Escalation.state).in_(UNRESOLVED),
                col(Escalation.created_at) < start_of_day(day + timedelta(days=1)),
            )
        ).all()
        return [
            InboxItem(e.id or 0, e.state, e.assigned_to, local_date(e.created_at)) for e in rows
        ]


def apply_action(url: str, day: date, action: CoordinatorAction) -> bool:
    """Apply one action at its minute of `day`; False when the escalation was resolved
    meanwhile (the API's 409) or is gone."""
    now = start_of_day(day) + timedelta(minutes=action.minute)
    with write_session(url) as s:
        escalation, _ = escalation_for(s, COORDINATOR, action.escalation_id)
        try:
            change_escalation(s, escalation, action.action, COORDINATOR, now, action.assigned_to)
        except Problem:
            return False
    return True


@task(name="Koordination bearbeitet Eskalationen", cache_policy=NO_CACHE)
def work_escalations(settings: Settings, day: date, seed: int) -> int:
    """The coordinator's working day `day` on the inbox; returns the actions applied."""
    url = settings.database_url
    actions = coordinator_day(day, inbox_on(url, day), seed)
    return sum(apply_action(url, day, action) for action in actions)
