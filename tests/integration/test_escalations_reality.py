"""Escalations reflect reality (issue 8 point 1): auto-resolve, days overdue as of today,
the second step of the ladder, migration 0009 and the demo's coordinator.

A Schuldnerberatung referral started on Monday 2.3.2026 (NW): first_appointment and
first_feedback are due 16.3.; both escalate at the sweep of 24.3. (ladder P8D). The
voucher (due 30.3.) would close the case on 31.3., so cases that must stay open book an
appointment first (that meets voucher_validity). Easter 2026: Good Friday 3.4., Easter
Monday 6.4. (public holidays in NW).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import MetaData
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select

from api.access import scope
from api.views import escalation_out
from demo.behaviour import COLLEAGUES, InboxItem, coordinator_day
from demo.coordinator import COORDINATOR, work_escalations
from models.calendar import is_working_day
from models.clock import local_date, start_of_day
from models.commands import FeedbackIn
from models.db import alembic_config, engine, migrate
from models.process import SHIPPED_DIR, ProcessDefinitionError, load_registry
from models.tables import AuditEvent, Command, Deadline, Escalation, Notification, Referral
from tasks.escalations import (
    days_overdue,
    overdue_text,
    reason_text,
    resolution,
    second_step_on,
)
from tasks.read_model.overview import escalation_inbox
from tasks.sweep import Swept, fire_due_timers
from tests.conftest import PG_ADMIN, PG_HOST, PG_PORT, require_postgres
from tests.factories import CASEWORKER, World, at, provider, world

STARTED = date(2026, 3, 2)
DUE = date(2026, 3, 16)
ESCALATED = date(2026, 3, 24)
TEAMLEITUNG = "teamleitung-16a@jobcenter.example"


@pytest.fixture
def kel(db_url: str) -> World:
    w = world(db_url)
    w.add(provider("SB-CARITAS"), provider("SB-DIAKONIE"))
    return w


def sweep(kel: World, day: date, hour: int = 6) -> Swept:
    return fire_due_timers(kel.session, kel.registry, kel.settings, at(day, hour))


def rows(kel: World, model: type[SQLModel], *where: Any) -> list[Any]:
    with kel.session() as s:
        return list(s.exec(select(model).where(*where).order_by(col(model.id))))  # type: ignore[attr-defined]


def escalations(kel: World, reference: str) -> dict[str, Escalation]:
    """The escalations of `reference` by the kind of their deadline."""
    with kel.session() as s:
        found = s.exec(
            select(Escalation, Deadline.kind)
            .join(Deadline, col(Deadline.id) == Escalation.deadline_id)
            .join(Referral, col(Referral.id) == Escalation.referral_id)
            .where(Referral.reference == reference)
        ).all()
    return {kind: e for e, kind in found}


def audits(kel: World, action: str) -> list[AuditEvent]:
    return rows(kel, AuditEvent, AuditEvent.action == action)


def escalated_case(kel: World, reference: str = "REF-1", *, booked: bool = True) -> None:
    """A case whose first appointment and first feedback escalated on 24.3."""
    kel.start(reference, STARTED, customer_number=f"K-{reference}")
    if booked:
        kel.event(reference, date(2026, 3, 5), "appointment_booked", appointment_on="2026-05-04")
    sweep(kel, ESCALATED)
    assert set(escalations(kel, reference)) == {"first_appointment", "first_feedback"}


def report_feedback(kel: World, reference: str, day: date) -> None:
    """The provider's 1. Rückmeldung (status only)."""
    kel.event(reference, day, "first_feedback", feedback=FeedbackIn(appointment_kept=False))
    assert rows(kel, Command, Command.status == "rejected") == []


# --- texts -------------------------------------------------------------------------


def test_the_days_overdue_are_counted_as_of_today_in_german() -> None:
    assert overdue_text(DUE, date(2026, 3, 17)) == "seit 1 Tag überfällig"
    assert overdue_text(DUE, date(2026, 3, 18)) == "seit 2 Tagen überfällig"
    assert overdue_text(DUE, date(2026, 3, 21)) == "seit 5 Tagen überfällig"
    assert overdue_text(DUE, DUE) == "fällig am 16.03.2026"  # a Frist ends with its day
    assert days_overdue(DUE, date(2026, 3, 10)) == 0
    assert reason_text("1. Rückmeldung", date(2026, 9, 3)) == (
        "1. Rückmeldung überfällig (fällig am 03.09.2026)"
    )


def test_a_met_deadline_wins_over_closing_and_closing_over_cancelling() -> None:
    met, cancelled, day = "met", "cancelled", date(2026, 9, 3)
    assert resolution(met, day, day) == ("deadline_met", "erledigt: Frist erfüllt am 03.09.2026")
    assert resolution(cancelled, day, day) == ("case_closed", "Fall abgeschlossen am 03.09.2026")
    assert resolution(cancelled, day, None) == (
        "deadline_cancelled",
        "erledigt: Frist entfallen am 03.09.2026",
    )
    assert resolution("open", None, None) is None


def test_the_second_step_counts_working_days_and_skips_easter() -> None:
    # 10 working days after Tue 24.3.2026: 25, 26, 27, 30, 31.3., 1, 2, 7, 8, 9.4.
    assert second_step_on(ESCALATED, 10, "NW") == date(2026, 4, 10)
    # no holiday in between: Mon 8.6. + 10 working days = Mon 22.6., raised on 23.6.
    assert second_step_on(date(2026, 6, 8), 10, "NW") == date(2026, 6, 23)


# --- auto-resolve ---------------------------------------------------------------------


def test_an_escalation_is_resolved_when_its_deadline_is_met(kel: World) -> None:
    escalated_case(kel)
    stored = escalations(kel, "REF-1")["first_feedback"]
    assert stored.reason == "1. Rückmeldung überfällig (fällig am 16.03.2026)"
    assert "seit" not in stored.reason  # no day count frozen into the text

    report_feedback(kel, "REF-1", date(2026, 3, 26))

    found = escalations(kel, "REF-1")
    met, other = found["first_feedback"], found["first_appointment"]
    assert (met.state, met.resolution, met.resolved_by) == (
        "resolved",
        "erledigt: Frist erfüllt am 26.03.2026",
        "system",
    )
    assert met.resolved_at == at(date(2026, 3, 26), 17)
    assert other.state == "open" and other.resolution is None  # its deadline is still open
    [entry] = audits(kel, "escalation_auto_resolve")
    assert (entry.actor, entry.role, entry.referral_id) == ("system", "system", met.referral_id)
    assert entry.detail == {"escalation_id": met.id, "reason": "deadline_met"}


def test_escalations_are_resolved_when_their_deadlines_are_cancelled(kel: World) -> None:
    escalated_case(kel, booked=False)

    kel.event(
        "REF-1", date(2026, 3, 25), "provider_declined", reason_code="keine_kapazitaet"
    )  # cancels all, not closed

    found = escalations(kel, "REF-1").values()
    assert {(e.state, e.resolution) for e in found} == {
        ("resolved", "erledigt: Frist entfallen am 25.03.2026")
    }
    assert sorted(a.detail["reason"] for a in audits(kel, "escalation_auto_resolve")) == [
        "deadline_cancelled",
        "deadline_cancelled",
    ]


def test_escalations_are_resolved_when_the_case_closes(kel: World) -> None:
    escalated_case(kel)
    first = escalations(kel, "REF-1")["first_appointment"]
    with kel.session() as s:  # acknowledged escalations are resolved as well
        row = s.get(Escalation, first.id)
        assert row is not None
        row.state = "acknowledged"

    kel.event("REF-1", date(2026, 3, 27), "customer_withdrew", actor=CASEWORKER)

    found = escalations(kel, "REF-1").values()
    assert {(e.state, e.resolution, e.resolved_by) for e in found} == {
        ("resolved", "Fall abgeschlossen am 27.03.2026", "system")
    }
    assert {a.detail["reason"] for a in audits(kel, "escalation_auto_resolve")} == {"case_closed"}
    assert len(audits(kel, "escalation_auto_resolve")) == 2


def test_a_voucher_expiring_in_the_sweep_closes_the_case_and_its_escalations(
    kel: World,
) -> None:
    escalated_case(kel, booked=False)

    sweep(kel, date(2026, 3, 31))  # voucher_expired: effective 31.3.

    found = escalations(kel, "REF-1").values()
    assert {e.resolution for e in found} == {"Fall abgeschlossen am 31.03.2026"}


# --- days overdue when shown ------------------------------------------------------------


def test_the_api_view_and_the_inbox_count_days_as_of_the_injected_today(kel: World) -> None:
    escalated_case(kel)
    escalation = escalations(kel, "REF-1")["first_feedback"]

    one_day = escalation_out(escalation, "REF-1", due_on=DUE, today=date(2026, 3, 17))
    later = escalation_out(escalation, "REF-1", due_on=DUE, today=date(2026, 3, 30))

    assert (one_day.overdue_text, one_day.days_overdue) == ("seit 1 Tag überfällig", 1)
    assert (later.overdue_text, later.days_overdue) == ("seit 14 Tagen überfällig", 14)
    assert (later.due_on, later.level, later.reason) == (DUE, 1, escalation.reason)
    with kel.session() as s:
        inbox, total = escalation_inbox(s, scope(COORDINATOR), None)
    assert total == 2
    assert {e.overdue(date(2026, 3, 21)) for e in inbox} == {"seit 5 Tagen überfällig"}
    assert {e.due_on for e in inbox} == {DUE}


def test_a_resolved_escalation_counts_no_days(kel: World) -> None:
    escalated_case(kel)
    report_feedback(kel, "REF-1", date(2026, 3, 26))
    resolved = escalations(kel, "REF-1")["first_feedback"]

    out = escalation_out(resolved, "REF-1", due_on=DUE, today=date(2026, 4, 30))

    assert (out.days_overdue, out.overdue_text) == (None, None)
    assert (out.resolution, out.resolved_by) == ("erledigt: Frist erfüllt am 26.03.2026", "system")


def test_the_api_and_the_inbox_export_show_days_overdue_as_of_the_clock(db_url: str) -> None:
    from fastapi.testclient import TestClient

    from api.dashboard.web import COOKIE
    from api.main import create_app
    from api.security import start_session
    from api.trigger import InProcess
    from models.clock import FakeClock
    from models.settings import Settings
    from models.tables import User

    kel = world(db_url)
    kel.add(provider("SB-CARITAS"))
    escalated_case(kel)
    report_feedback(kel, "REF-1", date(2026, 3, 26))
    clock = FakeClock(at(date(2026, 3, 27), 20))
    settings = Settings(
        database_url=db_url,
        jwt_secret="5c1e9a7f3b2d8e4a6c0f9b1d7e3a5c8f2b4d6e0a9c7f1b3d5e8a2c4f6b0d9e7a",
    )
    with kel.session() as s:
        user = User(username="koordination", role="coordinator", password_hash="-")
        user.created_at = clock.now()
        s.add(user)
        token = start_session(s, user, settings, clock.now())
    app = create_app(settings, clock=clock, trigger=InProcess())
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        listed = {e["state"]: e for e in client.get("/api/v1/escalations").json()}
        client.cookies.set(COOKIE, token)
        export = "/dashboard/?format=csv&table=escalations"
        csv = client.get(export).content.decode("utf-8-sig")
        case_page = client.get("/dashboard/faelle/REF-1").text
        clock.advance(timedelta(hours=5))  # 01:00 the next day, same session
        tomorrow = client.get(export).content.decode("utf-8-sig")

    assert listed["open"]["overdue_text"] == "seit 11 Tagen überfällig"
    assert (listed["open"]["days_overdue"], listed["open"]["due_on"]) == (11, "2026-03-16")
    assert listed["resolved"]["overdue_text"] is None
    assert listed["resolved"]["resolution"] == "erledigt: Frist erfüllt am 26.03.2026"
    [header, line] = [row.split(";") for row in csv.splitlines()]
    assert header[:4] == ["Nr.", "Aktenzeichen", "Grund", "Überfällig"]
    assert line[2:4] == [
        "Erstgespräch überfällig (fällig am 16.03.2026)",
        "seit 11 Tagen überfällig",
    ]
    assert "seit 12 Tagen überfällig" in tomorrow
    assert "seit 11 Tagen überfällig" in case_page
    assert "erledigt: Frist erfüllt am 26.03.2026" in case_page


# --- second step ---------------------------------------------------------------------


def test_the_second_step_is_raised_once_after_ten_working_days_skipping_easter(
    kel: World,
) -> None:
    escalated_case(kel)
    report_feedback(kel, "REF-1", date(2026, 3, 26))  # only one escalation stays

    before = sweep(kel, date(2026, 4, 9))  # the 10th working day: not yet
    raised = sweep(kel, date(2026, 4, 10))
    again = [sweep(kel, date(2026, 4, 10), 12), sweep(kel, date(2026, 4, 13))]

    assert before.raised == 0
    assert raised.raised == 1
    assert [s.raised for s in again] == [0, 0]
    escalation = escalations(kel, "REF-1")["first_appointment"]
    assert (escalation.level, escalation.raised_at, escalation.state) == (
        2,
        at(date(2026, 4, 10), 6),
        "open",
    )
    [mail] = rows(kel, Notification, Notification.template == "escalation_second_step")
    assert (mail.recipient, mail.recipient_role) == (TEAMLEITUNG, "teamleitung")
    assert mail.key == f"ref-{escalation.referral_id}:esc-{escalation.id}:level-2"
    assert mail.context["deadline_title"] == "Erstgespräch"
    assert mail.context["days_overdue"] == 25
    assert mail.context["occurred_on"] == "2026-03-24"
    [entry] = audits(kel, "escalation_raised")
    assert entry.detail == {"escalation_id": escalation.id, "level": 2}


def test_a_resolved_escalation_is_not_raised(kel: World) -> None:
    escalated_case(kel)
    kel.event("REF-1", date(2026, 3, 27), "closed_by_caseworker", actor=CASEWORKER)

    assert sweep(kel, date(2026, 4, 20)).raised == 0
    assert rows(kel, Notification, Notification.template == "escalation_second_step") == []


def test_the_second_step_mail_renders_in_german_without_personal_data(kel: World) -> None:
    from notifications import render
    from tasks.delivery import _template_context

    escalated_case(kel)
    sweep(kel, date(2026, 4, 10))
    mail = rows(kel, Notification, Notification.template == "escalation_second_step")[0]

    message = render(
        mail.template,
        key=mail.key,
        to=mail.recipient,
        context=_template_context(mail.context, "REF-1", kel.settings),
    )

    assert message.subject.startswith("2. Eskalationsstufe: ")
    assert "seit 25 Tagen überfällig" in message.subject
    assert "24.03.2026" in message.text and "16.03.2026" in message.text
    assert "K-REF-1" not in message.text + message.html  # no customer number


def test_the_second_step_is_configuration_checked_like_every_key(tmp_path: Path) -> None:
    for source in SHIPPED_DIR.glob("*.yaml"):
        shutil.copy(source, tmp_path / source.name)
    standards = tmp_path / "duesseldorf.yaml"
    text = standards.read_text(encoding="utf-8")
    standards.write_text(
        text.replace(
            "second_step_after_working_days: 10", "second_step_after_working_days: 0"
        ).replace(TEAMLEITUNG, "teamleitung"),
        encoding="utf-8",
    )

    with pytest.raises(ProcessDefinitionError) as error:
        load_registry(tmp_path)

    problems = "\n".join(error.value.problems)
    assert "escalation.second_step_after_working_days" in problems
    assert "escalation.second_step_email" in problems
    assert "duesseldorf.yaml:" in problems
    shipped = load_registry().escalation
    assert shipped is not None
    assert (shipped.second_step_after_working_days, shipped.second_step_email) == (10, TEAMLEITUNG)


# --- migration 0009 -------------------------------------------------------------------

MIGRATED = datetime(2026, 4, 1, 8, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no migration yet), SQLite or PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    require_postgres()
    psycopg = pytest.importorskip("psycopg")
    name = f"kel_esc_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    try:
        yield url
    finally:
        engine(url).dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed_before_0009(url: str) -> None:
    """Two referrals (one closed) and five escalations as the old code wrote them."""
    meta = MetaData()
    meta.reflect(engine(url), only=["provider", "customer", "referral", "deadline", "escalation"])
    t = meta.tables
    with engine(url).begin() as conn:
        conn.execute(
            t["customer"].insert().values(id=1, customer_number="K1", site="A", age_group="u25")
        )
        for rid, closed_on, outcome in ((1, None, None), (2, date(2026, 3, 31), "expired")):
            conn.execute(
                t["referral"]
                .insert()
                .values(
                    id=rid,
                    reference=f"R-{rid}",
                    customer_id=1,
                    service_type="schulden",
                    site="A",
                    caseworker_email="ifk@jobcenter.example",
                    state="closed" if closed_on else "appointment_booked",
                    state_since=STARTED,
                    started_on=STARTED,
                    closed_on=closed_on,
                    outcome=outcome,
                    created_at=MIGRATED,
                    updated_at=MIGRATED,
                )
            )
        # escalation id: (referral, deadline state, completed_on, escalation state)
        cases = {
            1: (1, "met", date(2026, 3, 26), "open"),
            2: (1, "open", None, "acknowledged"),
            3: (2, "cancelled", date(2026, 3, 31), "open"),
            4: (1, "cancelled", date(2026, 3, 25), "acknowledged"),
            5: (1, "met", date(2026, 3, 20), "resolved"),
        }
        for eid, (rid, state, completed_on, escalation_state) in cases.items():
            conn.execute(
                t["deadline"]
                .insert()
                .values(
                    id=eid,
                    referral_id=rid,
                    kind=f"kind_{eid}",
                    title="Erstgespräch",
                    period="P14D",
                    started_on=STARTED,
                    due_on=DUE,
                    state=state,
                    completed_on=completed_on,
                )
            )
            conn.execute(
                t["escalation"]
                .insert()
                .values(
                    id=eid,
                    referral_id=rid,
                    deadline_id=eid,
                    reason="Erstgespräch seit 8 Tagen überfällig (fällig am 16.03.2026)",
                    created_at=start_of_day(ESCALATED),
                    state=escalation_state,
                )
            )


def escalation_rows(url: str) -> dict[int, tuple[Any, ...]]:
    meta = MetaData()
    meta.reflect(engine(url), only=["escalation"])
    e = meta.tables["escalation"]
    with engine(url).connect() as conn:
        found = conn.execute(
            sa_select(e.c.id, e.c.state, e.c.resolution, e.c.resolved_by, e.c.level, e.c.reason)
        )
        return {r[0]: tuple(r[1:]) for r in found}


def test_migration_0009_resolves_stale_escalations_and_unfreezes_reasons(
    fresh_url: str,
) -> None:
    migrate(fresh_url, "0008")
    seed_before_0009(fresh_url)

    migrate(fresh_url, "0009")

    found = escalation_rows(fresh_url)
    reason = "Erstgespräch überfällig (fällig am 16.03.2026)"
    assert found == {
        1: ("resolved", "erledigt: Frist erfüllt am 26.03.2026", "system", 1, reason),
        2: ("acknowledged", None, None, 1, reason),  # deadline open, case open: stays
        3: ("resolved", "Fall abgeschlossen am 31.03.2026", "system", 1, reason),
        4: ("resolved", "erledigt: Frist entfallen am 25.03.2026", "system", 1, reason),
        5: ("resolved", None, None, 1, reason),  # resolved before: untouched
    }
    with engine(fresh_url).connect() as conn:  # no audit rows: the chain is not touched
        assert conn.exec_driver_sql("SELECT count(*) FROM auditevent").scalar() == 0

    command.downgrade(alembic_config(fresh_url), "0008")

    meta = MetaData()
    meta.reflect(engine(fresh_url), only=["escalation"])
    assert "level" not in meta.tables["escalation"].c


# --- the demo's coordinator -----------------------------------------------------------


def test_the_coordinator_works_only_on_working_days_and_deterministically() -> None:
    inbox = [InboxItem(i, "open", None, ESCALATED) for i in range(1, 30)]

    assert coordinator_day(date(2026, 4, 4), inbox, 7) == []  # Saturday
    assert coordinator_day(date(2026, 4, 6), inbox, 7) == []  # Easter Monday
    assert coordinator_day(date(2026, 8, 5), inbox, 7) == []  # summer leave
    days = [date(2026, 4, 7) + timedelta(days=n) for n in range(10)]
    plans = {d: coordinator_day(d, inbox, 7) for d in days if is_working_day(d)}
    assert plans == {d: coordinator_day(d, inbox, 7) for d in plans}  # same seed, same plan
    actions = [a for plan in plans.values() for a in plan]
    assert actions and len({a.escalation_id for a in actions}) < len(inbox)  # not all at once
    assert all(8 * 60 <= a.minute <= 15 * 60 for a in actions)
    assert {a.assigned_to for a in actions if a.action == "assign"} <= set(COLLEAGUES)


def test_a_small_simulation_ends_with_far_fewer_open_escalations_than_overdue_deadlines(
    db_url: str,
) -> None:
    kel = world(db_url)
    kel.add(provider("SB-CARITAS"))
    for n in range(8):  # booked, then the provider never reports: deadlines stay overdue
        reference = f"REF-{n}"
        kel.start(reference, STARTED + timedelta(days=n % 3), customer_number=f"K-{n}")
        kel.event(reference, date(2026, 3, 6), "appointment_booked", appointment_on="2026-06-01")
    day = STARTED
    while day < date(2026, 5, 8):
        sweep(kel, day)
        work_escalations.fn(kel.settings, day, 2026)
        day += timedelta(days=1)

    overdue = rows(kel, Deadline, Deadline.state == "open", col(Deadline.due_on) < day)
    raised = rows(kel, Escalation)
    unresolved = [e for e in raised if e.state != "resolved"]
    assert len(overdue) == 16 and len(raised) == 16
    assert len(unresolved) <= 4  # the coordinator settled most of them
    handled = [
        a
        for a in rows(kel, AuditEvent, col(AuditEvent.action).startswith("escalation_"))
        if a.actor == "koordination"
    ]
    assert {a.action for a in handled} >= {"escalation_acknowledge", "escalation_resolve"}
    assert all(is_working_day(local_date(a.at)) for a in handled)
    assert len({local_date(a.at) for a in handled}) >= 5  # spread over days, not one
    assert any(e.assigned_to in COLLEAGUES for e in raised)
    assert {e.resolved_by for e in raised if e.state == "resolved"} == {"koordination"}
