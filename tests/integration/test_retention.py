"""Retention (tasks.retention) against a real database: closed cases are anonymised
5 years after closure (seed 001 §5.2.3, § 84 SGB X), once, keeping the statistics.

K1 has one referral (Z-1: report with content, consent, contact data, Eingangszone);
K2 has a closed one (Z-2, never booked: reminders queued, one to the customer) and an open
one (Z-3). Both closed ones end on 1.4.2026.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlmodel import SQLModel, col, select

from models.commands import Intake
from models.tables import (
    AuditEvent,
    Command,
    Consent,
    Customer,
    CustomerContact,
    Feedback,
    IntakeDecision,
    Notification,
    Referral,
)
from tasks.retention import Anonymised, anonymise_closed_cases, years_before
from tasks.sweep import fire_due_timers
from tests.factories import CASEWORKER, World, at

START = date(2026, 3, 2)
CLOSED = date(2026, 4, 1)
DUE = date(2031, 4, 2)  # the day after the five years end (§ 188 Abs. 2 BGB)
REMINDED = date(2026, 3, 26)  # Z-2's reminders and escalations are queued by then

REPORT = {
    "counselling_ongoing": True,
    "need_group": 2,
    "modules": [{"code": 1, "hours": 3}],
    "content": {"ausgangssituation": "Mietschulden", "ziele": "Haushaltsplan"},
}


def rows(kel: World, model: type[SQLModel], *where: Any) -> list[Any]:
    with kel.session() as s:
        return list(s.exec(select(model).where(*where)))


def referral(kel: World, reference: str) -> Referral:
    return rows(kel, Referral, Referral.reference == reference)[0]


def audit_trail(kel: World) -> list[tuple[Any, ...]]:
    return [
        (a.id, a.at, a.actor, a.role, a.action, a.referral_id, a.detail)
        for a in rows(kel, AuditEvent)
    ]


def build_cases(kel: World) -> None:
    facts = {"case": "new_or_reactivated", "age": 31, "after_university": True}
    kel.record(
        "intake",
        "K1",
        START,
        Intake.model_validate({"customer_number": "K1", "site": "Aachen", "facts": facts}),
    )
    kel.start(
        "Z-1",
        START,
        customer_number="K1",
        contact_email="kunde@example.org",
        reminders_consented=True,
        consent={"form": "written", "granted_on": "2026-03-02"},
    )
    kel.event(
        "Z-1",
        START + timedelta(days=3),
        "appointment_booked",
        appointment_on=START + timedelta(days=7),
    )
    kel.event("Z-1", START + timedelta(days=7), "appointment_kept")
    kel.event("Z-1", START + timedelta(days=8), "first_feedback", feedback=REPORT)
    kel.event("Z-1", CLOSED, "customer_withdrew", actor=CASEWORKER)

    kel.start(
        "Z-2", START, customer_number="K2", contact_email="k2@example.org", reminders_consented=True
    )
    fire_due_timers(kel.session, kel.registry, kel.settings, at(REMINDED, 6))  # queued, not sent
    kel.event("Z-2", CLOSED, "customer_withdrew", actor=CASEWORKER)
    kel.start(
        "Z-3", CLOSED, customer_number="K2", service_type="sucht", provider_code="SUCHT-CARITAS"
    )


def run(kel: World, day: date) -> Anonymised:
    return anonymise_closed_cases(kel.session, kel.settings, at(day, 2))


def test_nothing_is_anonymised_one_day_before_the_five_years_are_over(kel: World) -> None:
    build_cases(kel)
    trail = audit_trail(kel)

    assert run(kel, DUE - timedelta(days=1)) == Anonymised()

    assert audit_trail(kel) == trail
    assert referral(kel, "Z-1").need_group == 2
    assert rows(kel, Feedback)[0].content["ziele"] == "Haushaltsplan"
    assert {c.customer_number for c in rows(kel, Customer)} == {"K1", "K2"}


def test_a_closed_case_is_anonymised_five_years_after_closure(kel: World) -> None:
    build_cases(kel)
    z1 = referral(kel, "Z-1")
    before = (z1.state, z1.outcome, z1.started_on, z1.first_appointment_on, z1.closed_on)
    before += (z1.provider_id, z1.site, z1.service_type)
    commands = len(rows(kel, Command, col(Command.reference).in_(["Z-1", "Z-2", "K1"])))

    done = run(kel, DUE)

    assert done == Anonymised(referrals=2, customers=1, feedback=1, commands=commands)
    z1 = referral(kel, "Z-1")
    assert z1.need_group is None
    after = (z1.state, z1.outcome, z1.started_on, z1.first_appointment_on, z1.closed_on)
    after += (z1.provider_id, z1.site, z1.service_type)
    assert after == before
    assert (before[0], before[1]) == ("closed", "withdrawn")
    feedback = rows(kel, Feedback, Feedback.referral_id == z1.id)[0]
    assert (feedback.content, feedback.modules, feedback.need_group) == ({}, [], None)
    assert (feedback.kind, feedback.counselling_ongoing) == ("first_feedback", True)
    customer = rows(kel, Customer, Customer.id == z1.customer_id)[0]
    assert (customer.customer_number, customer.age_group) == (f"anon-{customer.id}", "25-49")
    assert rows(kel, CustomerContact, CustomerContact.customer_id == customer.id) == []
    assert rows(kel, Consent, Consent.referral_id == z1.id) == []
    assert rows(kel, IntakeDecision)[0].facts == {}
    assert rows(kel, Command, Command.reference == "K1") == []
    for command in rows(kel, Command, col(Command.reference).in_(["Z-1", f"anon-{customer.id}"])):
        assert command.payload == {"anonymisiert": True}
    z2 = referral(kel, "Z-2")
    notifications = rows(kel, Notification, Notification.referral_id == z2.id)
    assert "customer" in {n.recipient_role for n in notifications}
    for notification in notifications:
        assert notification.context == {"referral_id": z2.id}
        assert notification.status == "given_up"  # a stripped message is never sent
    assert "k2@example.org" not in {n.recipient for n in notifications}
    entry = rows(
        kel, AuditEvent, AuditEvent.action == "anonymised", AuditEvent.referral_id == z1.id
    )
    assert [(e.actor, e.role) for e in entry] == [("system", "system")]
    assert entry[0].detail["feedback"] == 1 and entry[0].detail["customers"] == 1
    assert entry[0].detail["consents"] == 1


def test_a_customer_with_an_open_referral_keeps_the_customer_number(kel: World) -> None:
    build_cases(kel)

    run(kel, DUE)

    z2, z3 = referral(kel, "Z-2"), referral(kel, "Z-3")
    assert rows(kel, Customer, Customer.id == z2.customer_id)[0].customer_number == "K2"
    assert rows(kel, Command, Command.reference == "Z-2")[0].payload == {"anonymisiert": True}
    assert rows(kel, Command, Command.reference == "Z-3")[0].payload["customer_number"] == "K2"
    assert rows(kel, CustomerContact)[0].email == "k2@example.org"
    assert len(rows(kel, Consent, Consent.referral_id == z3.id)) == 1
    assert (
        rows(kel, AuditEvent, AuditEvent.action == "anonymised", AuditEvent.referral_id == z3.id)
        == []
    )


def test_a_second_run_does_nothing_and_the_audit_trail_only_grows(kel: World) -> None:
    build_cases(kel)
    trail = audit_trail(kel)

    run(kel, DUE)
    after_first = audit_trail(kel)
    again = run(kel, DUE + timedelta(days=1))

    assert again == Anonymised()
    assert audit_trail(kel) == after_first
    assert after_first[: len(trail)] == trail
    assert [e[4] for e in after_first[len(trail) :]] == ["anonymised", "anonymised"]


def test_the_retention_period_is_configurable(kel: World) -> None:
    build_cases(kel)
    ten_years = kel.settings.model_copy(update={"retention_years": 10})

    assert anonymise_closed_cases(kel.session, ten_years, at(DUE, 2)) == Anonymised()
    assert anonymise_closed_cases(kel.session, ten_years, at(date(2036, 4, 2), 2)).referrals == 2


def test_batches_cover_every_due_referral(kel: World) -> None:
    build_cases(kel)

    done = anonymise_closed_cases(kel.session, kel.settings, at(DUE, 2), batch=1)

    assert (done.referrals, done.customers) == (2, 1)


def test_years_are_subtracted_on_the_calendar_and_29_february_becomes_28_february() -> None:
    assert years_before(date(2031, 4, 1), 5) == date(2026, 4, 1)
    assert years_before(date(2028, 2, 29), 5) == date(2023, 2, 28)
    assert years_before(date(2028, 2, 29), 4) == date(2024, 2, 29)
