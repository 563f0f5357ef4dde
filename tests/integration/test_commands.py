"""Recording commands in the inbox and applying them (tasks.commands) against SQLite.

Start dates are chosen so that § 26 SGB X matters: a referral started on Friday
20.3.2026 has its 14-day deadlines end on Karfreitag 3.4.2026, moved over Easter
(Karsamstag, Ostersonntag, Ostermontag 6.4.) to Tuesday 7.4.2026; four weeks end on
Friday 17.4.2026.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel, col, select

from models.commands import ReferralEvent
from models.tables import (
    AuditEvent,
    Command,
    CommandStatus,
    Consent,
    Customer,
    Deadline,
    Feedback,
    Provider,
    Referral,
    Voucher,
    VoucherStatus,
)
from tasks.commands import REFERENCE_TAKEN
from tests.factories import CASEWORKER, World, at, start_referral

FRIDAY = date(2026, 3, 20)
AFTER_EASTER = date(2026, 4, 7)


def rows(kel: World, model: type[SQLModel], *where: Any) -> list[Any]:
    with kel.session() as s:
        return list(s.exec(select(model).where(*where).order_by(col(model.id))))  # type: ignore[attr-defined]


def one(kel: World, model: type[SQLModel], *where: Any) -> Any:
    [row] = rows(kel, model, *where)
    return row


def provider_id(kel: World, code: str) -> int:
    return one(kel, Provider, Provider.code == code).id


def open_deadlines(kel: World, referral_id: int) -> dict[str, Deadline]:
    found = rows(kel, Deadline, Deadline.referral_id == referral_id, Deadline.state == "open")
    return {d.kind: d for d in found}


def test_starting_a_referral_issues_a_voucher_and_opens_three_deadlines_per_26_sgb_x(
    kel: World,
) -> None:
    applied = kel.start("REF-1", FRIDAY)

    assert (applied.applied, applied.rejected) == (1, 0)
    referral = one(kel, Referral)
    assert referral.state == "voucher_issued"
    assert referral.started_on == FRIDAY
    voucher = one(kel, Voucher)
    assert voucher.number == f"GS-2026-{referral.id:06d}-1"
    assert voucher.provider_id == provider_id(kel, "SB-CARITAS")
    assert (voucher.status, voucher.issued_on) == (VoucherStatus.issued, FRIDAY)
    deadlines = open_deadlines(kel, referral.id)
    assert {k: d.due_on for k, d in deadlines.items()} == {
        "voucher_validity": date(2026, 4, 17),
        "first_appointment": AFTER_EASTER,
        "first_feedback": AFTER_EASTER,
    }
    assert {d.started_on for d in deadlines.values()} == {FRIDAY}
    command = one(kel, Command)
    assert command.status == CommandStatus.applied
    assert command.applied_at == at(FRIDAY)
    assert command.referral_id == referral.id
    [audit] = rows(kel, AuditEvent, AuditEvent.referral_id == referral.id)
    assert (audit.action, audit.actor, audit.role) == ("started", "ifk.mueller", "caseworker")
    assert audit.detail["state_to"] == "voucher_issued"


@pytest.mark.parametrize("service_type", ["psychosozial"])  # Sucht: test_consent_rules.py
def test_addiction_or_psychosocial_counselling_without_consent_is_rejected(
    kel: World, service_type: str
) -> None:
    kel.add(
        Provider(
            code="PSY-AWO", name="AWO", email="psy@awo.example", service_types=["psychosozial"]
        )
    )
    code = "SUCHT-CARITAS" if service_type == "sucht" else "PSY-AWO"
    payload = start_referral(service_type, code).model_copy(update={"consent": None})
    kel.record("start_referral", "REF-1", FRIDAY, payload)

    applied = kel.apply(at(FRIDAY))

    assert (applied.applied, applied.rejected) == (0, 1)
    command = one(kel, Command)
    assert command.status == CommandStatus.rejected
    assert command.error is not None and "Schweigepflichtentbindung" in command.error
    assert rows(kel, Referral) == []


def test_a_consent_given_with_the_start_is_stored_for_the_referral(kel: World) -> None:
    kel.start("REF-1", FRIDAY, service_type="sucht", provider_code="SUCHT-CARITAS")

    consent = one(kel, Consent)
    assert consent.referral_id == one(kel, Referral).id
    assert (consent.form, consent.granted_on) == ("written", date(2026, 1, 1))


@pytest.mark.parametrize(
    ("provider_code", "reason"),
    [
        ("SB-UNBEKANNT", "Unbekannter Träger 'SB-UNBEKANNT'"),
        ("SUCHT-CARITAS", "Träger 'SUCHT-CARITAS' erbringt keine Leistungsart 'schulden'"),
    ],
    ids=["unknown provider", "provider without that service type"],
)
def test_a_start_with_an_unsuitable_provider_is_rejected_and_writes_only_command_and_audit(
    kel: World, provider_code: str, reason: str
) -> None:
    kel.record("start_referral", "REF-1", FRIDAY, start_referral(provider_code=provider_code))

    applied = kel.apply(at(FRIDAY))

    assert applied.rejected == 1
    command = one(kel, Command)
    assert (command.status, command.error) == (CommandStatus.rejected, reason)
    for model in (Referral, Customer, Voucher, Deadline, Consent):
        assert rows(kel, model) == [], model.__name__
    audit = one(kel, AuditEvent)
    assert audit.action == "command_rejected"
    assert audit.detail == {"command_id": command.id, "kind": "start_referral"}


def test_an_event_not_allowed_in_the_state_is_rejected_naming_state_and_allowed_events(
    kel: World,
) -> None:
    kel.start("REF-1", FRIDAY)
    before = one(kel, Referral)
    deadlines_before = rows(kel, Deadline)

    applied = kel.event("REF-1", FRIDAY + timedelta(days=1), "appointment_kept")

    assert applied.rejected == 1
    error = rows(kel, Command)[-1].error
    assert "'appointment_kept'" in error
    assert "'voucher_issued'" in error
    assert "appointment_booked" in error and "voucher_expired" in error
    assert one(kel, Referral) == before
    assert rows(kel, Deadline) == deadlines_before
    assert one(kel, Voucher).status == VoucherStatus.issued


def test_recording_a_command_twice_with_one_idempotency_key_keeps_the_first(
    kel: World,
) -> None:
    first = kel.record("start_referral", "REF-1", FRIDAY, start_referral(), key="fv-4711")
    second = kel.record("start_referral", "REF-2", FRIDAY, start_referral(), key="fv-4711")

    assert second.id == first.id
    assert second.reference == "REF-1"
    assert len(rows(kel, Command)) == 1
    assert kel.apply(at(FRIDAY)).applied == 1
    assert len(rows(kel, Referral)) == 1


def test_debt_counselling_waits_for_addiction_counselling_and_starts_when_it_runs(
    kel: World,
) -> None:
    kel.start("SUCHT-1", FRIDAY, service_type="sucht", provider_code="SUCHT-CARITAS")
    kel.start("SCHULD-1", FRIDAY)
    sucht = one(kel, Referral, Referral.reference == "SUCHT-1")
    schulden = one(kel, Referral, Referral.reference == "SCHULD-1")
    assert schulden.state == "staged"
    assert schulden.staged_after_id == sucht.id
    assert rows(kel, Voucher, Voucher.referral_id == schulden.id) == []
    assert open_deadlines(kel, schulden.id) == {}

    kel.event("SUCHT-1", date(2026, 3, 23), "appointment_booked", appointment_on=date(2026, 3, 26))
    assert one(kel, Referral, Referral.id == schulden.id).state == "staged"
    kept = date(2026, 3, 26)  # Thursday: + 14 days = Thursday 9.4.2026
    kel.event("SUCHT-1", kept, "appointment_kept")

    assert one(kel, Referral, Referral.id == sucht.id).state == "in_counselling"
    released = one(kel, Referral, Referral.id == schulden.id)
    assert (released.state, released.state_since) == ("voucher_issued", kept)
    voucher = one(kel, Voucher, Voucher.referral_id == schulden.id)
    assert (voucher.status, voucher.issued_on) == (VoucherStatus.issued, kept)
    assert voucher.provider_id == provider_id(kel, "SB-CARITAS")
    deadlines = open_deadlines(kel, schulden.id)
    assert {k: (d.started_on, d.due_on) for k, d in deadlines.items()} == {
        "voucher_validity": (kept, date(2026, 4, 23)),
        "first_appointment": (kept, date(2026, 4, 9)),
        "first_feedback": (kept, date(2026, 4, 9)),
    }


def test_a_declined_referral_is_rerouted_to_a_new_provider_with_a_new_voucher(
    kel: World,
) -> None:
    kel.start("REF-1", FRIDAY)
    referral_id = one(kel, Referral).id
    declined = date(2026, 3, 24)

    kel.event("REF-1", declined, "provider_declined")

    assert one(kel, Referral).state == "rerouting"
    old = one(kel, Voucher)
    assert (old.status, old.closed_on) == (VoucherStatus.returned_invalid, declined)
    assert set(open_deadlines(kel, referral_id)) == {"reroute"}

    assigned = date(2026, 3, 26)
    applied = kel.event(
        "REF-1", assigned, "provider_assigned", actor=CASEWORKER, provider_code="SB-DIAKONIE"
    )

    assert applied.applied == 1
    referral = one(kel, Referral)
    diakonie = provider_id(kel, "SB-DIAKONIE")
    assert (referral.state, referral.provider_id) == ("voucher_issued", diakonie)
    old, new = rows(kel, Voucher)
    assert old.status == VoucherStatus.returned_invalid
    assert new.number == f"GS-2026-{referral_id:06d}-2"
    assert (new.provider_id, new.status, new.issued_on) == (
        diakonie,
        VoucherStatus.issued,
        assigned,
    )
    deadlines = open_deadlines(kel, referral_id)
    assert {k: (d.started_on, d.due_on) for k, d in deadlines.items()} == {
        "voucher_validity": (assigned, date(2026, 4, 23)),
        "first_appointment": (assigned, date(2026, 4, 9)),
        "first_feedback": (assigned, date(2026, 4, 9)),
    }
    [reroute] = rows(kel, Deadline, Deadline.kind == "reroute")
    assert (reroute.state, reroute.completed_on) == ("met", assigned)


def test_feedback_is_stored_with_need_group_modules_and_content(kel: World) -> None:
    kel.start("REF-1", FRIDAY)
    feedback = {
        "appointment_kept": True,
        "need_group": 2,
        "modules": [{"code": 1, "hours": 1.5}, {"code": 3}],
        "content": {"ausgangssituation": "Mehrere Gläubiger", "ziele": "Haushaltsplan"},
    }

    applied = kel.event("REF-1", date(2026, 3, 27), "first_feedback", feedback=feedback)

    assert applied.applied == 1
    stored = one(kel, Feedback)
    assert (stored.kind, stored.received_on) == ("first_feedback", date(2026, 3, 27))
    assert stored.appointment_kept is True
    assert stored.need_group == 2
    assert stored.modules == [{"code": 1, "hours": 1.5}, {"code": 3, "hours": 0.0}]
    assert stored.content["ausgangssituation"] == "Mehrere Gläubiger"
    assert stored.content["ziele"] == "Haushaltsplan"
    assert one(kel, Referral).need_group == 2
    [met] = rows(kel, Deadline, Deadline.kind == "first_feedback")
    assert met.state == "met"


def test_a_feedback_event_without_feedback_is_rejected_and_changes_nothing(kel: World) -> None:
    kel.start("REF-1", FRIDAY)

    applied = kel.event("REF-1", date(2026, 3, 27), "first_feedback")

    assert applied.rejected == 1
    error = rows(kel, Command)[-1].error
    assert error is not None and "feedback" in error
    assert rows(kel, Feedback) == []
    assert set(open_deadlines(kel, one(kel, Referral).id)) >= {"first_feedback"}


def test_an_event_dated_before_the_referral_started_is_rejected(kel: World) -> None:
    kel.start("REF-1", FRIDAY)
    before = one(kel, Referral)
    kel.record(
        "event",
        "REF-1",
        FRIDAY - timedelta(days=1),
        ReferralEvent(event="appointment_booked", appointment_on=FRIDAY),
    )

    applied = kel.apply(at(FRIDAY, 17))

    assert applied.rejected == 1
    error = rows(kel, Command)[-1].error
    assert error == "Ereignisdatum 19.03.2026 liegt vor Beginn der Zuweisung (20.03.2026)"
    assert one(kel, Referral) == before


def test_an_event_for_an_unknown_reference_is_rejected(kel: World) -> None:
    applied = kel.event("REF-404", FRIDAY, "appointment_booked", appointment_on=FRIDAY)

    assert applied.rejected == 1
    assert "REF-404" in (rows(kel, Command)[-1].error or "")


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(actor="jemand.anderes"),
        delete(AuditEvent),
    ],
    ids=["update", "delete"],
)
def test_the_audit_trail_refuses_updates_and_deletes(kel: World, statement: Any) -> None:
    kel.start("REF-1", FRIDAY)
    trail = rows(kel, AuditEvent)
    assert trail

    with pytest.raises(DBAPIError, match="unveränderlich"), kel.session() as s:
        s.exec(statement)  # type: ignore[call-overload]

    assert rows(kel, AuditEvent) == trail


def test_a_second_start_with_a_reference_already_in_use_is_rejected(kel: World) -> None:
    kel.start("REF-1", FRIDAY)

    applied = kel.start("REF-1", FRIDAY + timedelta(days=3), customer_number="K000002")

    assert applied.rejected == 1
    assert rows(kel, Command)[-1].error == REFERENCE_TAKEN
    assert len(rows(kel, Referral)) == 1
    assert len(rows(kel, Customer)) == 1
