"""The deadline sweep (tasks.sweep.fire_due_timers) against a real database.

DESIGN §3: timers fire never early, possibly late; after downtime every overdue timer
fires once (catch-up), never twice. DESIGN §4.2: the sweep re-checks the case at fire time.

A referral started on Monday 2.3.2026 (NW, no holiday in March) gets three deadlines:
first_appointment and first_feedback due 16.3., voucher_validity due 30.3. Its timers:

    13.3. first_appointment  remind_provider     17.3. first_appointment  notify_caseworker
    17.3. first_feedback     notify_caseworker   24.3. first_appointment  escalate
    24.3. first_feedback     escalate            25.3. voucher_validity   remind_customer
    31.3. voucher_validity   voucher_expired
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, col, select

from models.clock import start_of_day
from models.db import engine, migrate
from models.process import load_registry
from models.settings import Settings
from models.tables import (
    Deadline,
    Escalation,
    Notification,
    Referral,
    Timer,
    Voucher,
    VoucherStatus,
)
from tasks.sweep import Swept, fire_due_timers
from tests.conftest import require_postgres
from tests.factories import World, at, provider, start_referral

STARTED = date(2026, 3, 2)
DUE = date(2026, 3, 16)  # first_appointment and first_feedback
VOUCHER_DUE = date(2026, 3, 30)
REMINDER_AT = start_of_day(DUE - timedelta(days=3))  # first_appointment, step 0


def sweep(kel: World, now: Any) -> Swept:
    return fire_due_timers(kel.session, kel.registry, kel.settings, now)


def rows(kel: World, model: type[SQLModel], *where: Any) -> list[Any]:
    with kel.session() as s:
        return list(s.exec(select(model).where(*where)))


def timer(kel: World, kind: str, step: int) -> Timer:
    with kel.session() as s:
        return s.exec(
            select(Timer)
            .join(Deadline, col(Deadline.id) == Timer.deadline_id)
            .where(Deadline.kind == kind, Timer.step == step)
        ).one()


def test_a_timer_does_not_fire_one_second_before_its_time_and_fires_exactly_at_it(
    kel: World,
) -> None:
    kel.start("REF-1", STARTED)
    reminder = timer(kel, "first_appointment", 0)
    assert reminder.fire_at == REMINDER_AT
    assert reminder.action == "remind_provider"

    early = sweep(kel, REMINDER_AT - timedelta(seconds=1))

    assert early.fired == 0
    assert timer(kel, "first_appointment", 0).fired_at is None
    assert rows(kel, Notification) == []

    on_time = sweep(kel, REMINDER_AT)

    assert (on_time.fired, on_time.acted) == (1, 1)
    fired = timer(kel, "first_appointment", 0)
    assert fired.fired_at == REMINDER_AT
    assert fired.result == "reminder"
    [reminder_mail] = rows(kel, Notification)
    assert reminder_mail.template == "provider_reminder"
    assert reminder_mail.recipient == "sb-caritas@traeger.example"


def test_after_sixty_days_of_downtime_one_sweep_fires_every_overdue_timer_exactly_once(
    kel: World,
) -> None:
    kel.start("REF-1", STARTED)
    now = at(STARTED + timedelta(days=60))
    all_timers = rows(kel, Timer)
    assert len(all_timers) == 7
    overdue = [t for t in all_timers if t.fire_at <= now]

    swept = sweep(kel, now)

    assert swept.fired == len(overdue) == 7
    fired = rows(kel, Timer, col(Timer.fired_at).is_not(None))
    assert sorted(t.id for t in fired) == sorted(t.id for t in overdue)
    assert all(t.fired_at == now for t in fired)
    escalations = rows(kel, Escalation)
    assert sorted(e.deadline_id for e in escalations) == sorted(
        d.id
        for d in rows(
            kel, Deadline, col(Deadline.kind).in_(["first_appointment", "first_feedback"])
        )
    )
    [referral] = rows(kel, Referral)
    assert (referral.state, referral.outcome) == ("closed", "expired")
    [voucher] = rows(kel, Voucher)
    assert voucher.status == VoucherStatus.expired
    assert {d.state for d in rows(kel, Deadline)} == {"cancelled"}


def test_a_second_sweep_after_catch_up_fires_nothing_and_writes_nothing_new(kel: World) -> None:
    kel.start("REF-1", STARTED)
    now = at(STARTED + timedelta(days=60))
    sweep(kel, now)
    notifications = {n.key for n in rows(kel, Notification)}
    escalations = {e.id for e in rows(kel, Escalation)}
    assert notifications and escalations

    again = sweep(kel, now)
    later = sweep(kel, now + timedelta(days=30))

    assert again.fired == later.fired == 0
    assert {n.key for n in rows(kel, Notification)} == notifications
    assert {e.id for e in rows(kel, Escalation)} == escalations
    assert all(t.fired_at == now for t in rows(kel, Timer))


def test_an_escalation_timer_of_a_deadline_met_in_time_fires_as_a_no_op(kel: World) -> None:
    kel.start("REF-1", STARTED)
    kel.event("REF-1", date(2026, 3, 5), "appointment_booked", appointment_on=date(2026, 3, 10))
    kel.event("REF-1", date(2026, 3, 10), "appointment_kept")
    [met] = rows(kel, Deadline, Deadline.kind == "first_appointment")
    assert met.state == "met"

    sweep(kel, at(date(2026, 3, 25)))

    escalate = timer(kel, "first_appointment", 2)
    assert escalate.action == "escalate"
    assert escalate.fired_at is not None
    assert escalate.result is not None and escalate.result.startswith("übersprungen")
    assert rows(kel, Escalation, Escalation.deadline_id == met.id) == []
    assert rows(kel, Notification, col(Notification.key).contains(f"dl-{met.id}:")) == []


def test_a_reminder_processed_after_its_due_date_sends_no_provider_reminder(kel: World) -> None:
    kel.start("REF-1", STARTED)

    sweep(kel, at(DUE + timedelta(days=1)))

    reminder = timer(kel, "first_appointment", 0)
    assert reminder.fired_at is not None
    assert reminder.result == "übersprungen: Erinnerung nach Fristablauf entfällt"
    assert rows(kel, Notification, Notification.template == "provider_reminder") == []


def test_a_reminder_processed_on_the_due_date_itself_is_still_sent(kel: World) -> None:
    kel.start("REF-1", STARTED)

    sweep(kel, at(DUE, 23))

    assert len(rows(kel, Notification, Notification.template == "provider_reminder")) == 1


def test_a_customer_with_contact_and_consent_gets_a_reminder_at_that_address(kel: World) -> None:
    kel.start("REF-1", STARTED, contact_email="kundin@example.org", reminders_consented=True)

    sweep(kel, at(VOUCHER_DUE - timedelta(days=5)))

    [reminder] = rows(kel, Notification, Notification.template == "customer_reminder")
    assert reminder.recipient == "kundin@example.org"
    assert reminder.recipient_role == "customer"
    assert timer(kel, "voucher_validity", 0).result == "reminder"


def test_a_customer_without_consent_to_reminders_gets_none(kel: World) -> None:
    kel.start("REF-1", STARTED, contact_email="kundin@example.org", reminders_consented=False)

    sweep(kel, at(VOUCHER_DUE - timedelta(days=5)))

    assert rows(kel, Notification, Notification.recipient_role == "customer") == []
    result = timer(kel, "voucher_validity", 0).result
    assert result == "übersprungen: kein Kontaktweg oder keine Einwilligung"


# --- PostgreSQL: two sweeps at once never fire a timer twice (FOR UPDATE SKIP LOCKED) ---

PG_HOST, PG_PORT = "127.0.0.1", 5432


@pytest.fixture
def pg_world() -> Iterator[World]:
    require_postgres()
    psycopg = pytest.importorskip("psycopg")
    name = f"kel_test_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL nicht nutzbar: {exc}")
    url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    try:
        migrate(url)
        w = World(
            Settings(database_url=url, coordinator_email="koordination@jobcenter.example"),
            load_registry(),
        )
        w.add(provider("SB-CARITAS", ("schulden",)))
        yield w
    finally:
        engine(url).dispose()  # close pooled connections before dropping the database
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_concurrent_sweeps_on_postgresql_fire_every_timer_exactly_once(
    pg_world: World,
) -> None:
    referrals = 30
    for i in range(referrals):
        pg_world.record(
            "start_referral", f"REF-{i:03d}", STARTED, start_referral(customer_number=f"K{i:06d}")
        )
    applied = pg_world.apply(at(STARTED))
    assert applied.applied == referrals
    now = at(STARTED + timedelta(days=60))
    due = len(rows(pg_world, Timer, Timer.fire_at <= now))
    assert due == referrals * 7

    barrier = threading.Barrier(2)
    results: list[Swept] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(
                fire_due_timers(
                    pg_world.session, pg_world.registry, pg_world.settings, now, batch=7
                )
            )
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    assert len(results) == 2
    assert sum(r.fired for r in results) == due
    assert len(rows(pg_world, Timer, col(Timer.fired_at).is_not(None))) == due
    with pg_world.session() as s:
        total = s.exec(select(func.count()).select_from(Notification)).one()
        distinct = s.exec(select(func.count(func.distinct(Notification.key)))).one()
        keys = [n.key for n in s.exec(select(Notification))]
    assert total == distinct
    referral_ids = {r.id for r in rows(pg_world, Referral)}
    expected = _expected_keys(pg_world, referral_ids)
    assert sorted(keys) == sorted(expected)
    assert len(rows(pg_world, Escalation)) == 2 * referrals
    assert {r.state for r in rows(pg_world, Referral)} == {"closed"}


def _expected_keys(w: World, referral_ids: set[int]) -> list[str]:
    """Per referral: overdue notice and escalation of both 16.3. deadlines, and the
    caseworker's notice that the voucher expired on 31.3. (reminders are stale)."""
    keys = []
    for deadline in rows(
        w, Deadline, col(Deadline.kind).in_(["first_appointment", "first_feedback"])
    ):
        last = 2 if deadline.kind == "first_appointment" else 1
        keys += [
            f"ref-{deadline.referral_id}:dl-{deadline.id}:step-{last - 1}",
            f"ref-{deadline.referral_id}:dl-{deadline.id}:step-{last}",
        ]
    keys += [f"ref-{rid}:voucher_expired:2026-03-31" for rid in referral_ids]
    return keys


def test_after_downtime_an_expired_voucher_is_recorded_as_closed_the_day_after_validity(
    kel: World,
) -> None:
    kel.start("REF-1", STARTED)

    sweep(kel, at(STARTED + timedelta(days=60)))

    expired_on = VOUCHER_DUE + timedelta(days=1)
    [referral] = rows(kel, Referral)
    [voucher] = rows(kel, Voucher)
    assert (referral.closed_on, referral.state_since) == (expired_on, expired_on)
    assert voucher.closed_on == expired_on


def test_a_staged_referral_is_released_when_the_sweep_closes_the_one_it_waits_for(
    kel: World,
) -> None:
    kel.start("SUCHT-1", STARTED, service_type="sucht", provider_code="SUCHT-CARITAS")
    kel.start("SCHULD-1", STARTED)
    [staged] = rows(kel, Referral, Referral.reference == "SCHULD-1")
    assert staged.state == "staged"

    sweep(kel, at(STARTED + timedelta(days=60)))

    [sucht] = rows(kel, Referral, Referral.reference == "SUCHT-1")
    assert (sucht.state, sucht.outcome) == ("closed", "expired")
    [released] = rows(kel, Referral, Referral.reference == "SCHULD-1")
    assert released.state == "voucher_issued"
    assert len(rows(kel, Voucher, Voucher.referral_id == released.id)) == 1
