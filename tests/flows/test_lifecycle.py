"""One referral from intake to Abschluss through the real Prefect flows, on a fake clock."""

from __future__ import annotations

from datetime import date, timedelta

from prefect.client.orchestration import get_client
from sqlmodel import select

from flows.commands import carry_out_follow_ups
from flows.simulation import simulate_days, sweep_at
from models.clock import FakeClock
from models.commands import Intake, ReferralEvent
from models.tables import (
    Command,
    Deadline,
    Escalation,
    IntakeDecision,
    Notification,
    Referral,
    Voucher,
)
from notifications import SmtpSink
from tests.factories import CASEWORKER, PROVIDER, World, at, start_referral

START = date(2026, 3, 2)  # a Monday


def run_command(
    kel: World, kind: str, reference: str, on: date, payload: object, actor=CASEWORKER
) -> int:  # type: ignore[no-untyped-def]
    """Decide and save the command on the API's path, then run its follow-up flow (the
    e-mails); returns 1 when the command was applied."""
    command = kel.execute(kind, reference, on, payload, actor=actor, now=at(on, 10))
    assert command.id is not None and command.status == "applied"
    carry_out_follow_ups(command.id)
    return 1


def test_a_referral_runs_from_intake_to_closure_through_the_flows(
    flow_env: World, smtp: SmtpSink
) -> None:
    kel = flow_env
    facts = {"case": "new_or_reactivated", "age": 31, "after_university": True}
    intake = Intake.model_validate({"customer_number": "K1", "site": "Aachen", "facts": facts})
    assert run_command(kel, "intake", "K1", START, intake) == 1
    assert (
        run_command(kel, "start_referral", "Z-1", START, start_referral(customer_number="K1")) == 1
    )

    clock = FakeClock(at(START, 6))
    clock.advance(timedelta(days=11))  # 13.03.: three days before the first appointment is due
    assert sweep_at(clock.now())["sent"] == 1  # reminder to the provider

    for day, event, extra in [
        (START + timedelta(days=12), "appointment_booked", {"appointment_on": "2026-03-16"}),
        (START + timedelta(days=14), "appointment_kept", {}),
        (START + timedelta(days=14), "first_feedback", {"feedback": {"appointment_kept": True}}),
    ]:
        payload = ReferralEvent.model_validate({"event": event, **extra})
        assert run_command(kel, "event", "Z-1", day, payload, actor=PROVIDER) == 1

    clock.set(at(START + timedelta(days=14 + 42 + 20), 6))  # Zwischenmeldung long overdue
    swept = sweep_at(clock.now())
    assert swept["timers"] >= 2

    final = ReferralEvent.model_validate(
        {
            "event": "final_report",
            "feedback": {"ended": True, "need_group": 2, "modules": [{"code": 1, "hours": 7}]},
        }
    )
    assert run_command(kel, "event", "Z-1", clock.now().date(), final, actor=PROVIDER) == 1

    with kel.session() as s:
        referral = s.exec(select(Referral)).one()
        assert (referral.state, referral.outcome) == ("closed", "completed")
        assert s.exec(select(IntakeDecision)).one().rule == "1.2c"
        assert s.exec(select(Voucher)).one().status == "redeemed"
        deadlines = {d.kind: d for d in s.exec(select(Deadline))}
        assert deadlines["first_appointment"].state == "met"
        interim = deadlines["interim_report"]  # met by the final report, but late
        assert interim.state == "met" and interim.completed_on > interim.due_on
        escalation = s.exec(select(Escalation)).one()
        assert "Zwischenmeldung" in escalation.reason
        notifications = s.exec(select(Notification)).all()
        assert {n.template for n in notifications} == {
            "provider_reminder",
            "caseworker_overdue",
            "coordinator_escalation",
        }
        assert all(n.status == "sent" for n in notifications)
        assert all(c.status == "applied" for c in s.exec(select(Command)))
    mails = smtp.wait_for(len(notifications))
    escalation_mail = next(m for m in mails if m["To"] == "koordination@jobcenter.example")
    assert "Eskalation" in escalation_mail["Subject"]


def test_flow_runs_are_tagged_with_the_cases_aktenzeichen(flow_env: World) -> None:
    """The tag the case page links to (`models.urls.prefect_runs_url`): ``fall-<Aktenzeichen>``,
    never the database id."""
    kel = flow_env
    kel.execute("start_referral", "Z-6", START, start_referral(customer_number="K6"))
    command = kel.execute("start_referral", "Z-7", START, start_referral())
    assert command.id is not None

    state = carry_out_follow_ups(command.id, return_state=True)
    # the morning of the reminders to the provider, for both cases
    sweep = sweep_at(at(START + timedelta(days=11), 6), return_state=True)

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        swept = client.read_flow_run(sweep.state_details.flow_run_id)
    assert run.name == "Z-7 · Zuweisung angelegt"  # the step, not the command id (issue 10)
    assert [t for t in run.tags if t.startswith("fall-")] == ["fall-Z-7"]
    assert {"fall-Z-6", "fall-Z-7"} <= set(swept.tags)


def test_a_sweep_after_downtime_catches_up_once(flow_env: World) -> None:
    kel = flow_env
    run_command(kel, "start_referral", "Z-2", START, start_referral())

    first = sweep_at(at(START + timedelta(days=60), 6))
    again = sweep_at(at(START + timedelta(days=60), 7))

    with kel.session() as s:
        referral = s.exec(select(Referral)).one()
        assert (referral.state, referral.outcome) == ("closed", "expired")
        escalations = s.exec(select(Escalation)).all()
    assert first["timers"] > 0 and again["timers"] == 0
    assert len(escalations) == 2  # Erstgespräch and 1. Rückmeldung, once each


def test_simulated_days_apply_reports_and_sweep_in_daily_order(flow_env: World) -> None:
    kel = flow_env
    kel.record("start_referral", "Z-3", START, start_referral())
    booked = ReferralEvent(event="appointment_booked", appointment_on=START + timedelta(days=5))
    kel.record("event", "Z-3", START + timedelta(days=2), booked, actor=PROVIDER)

    totals = simulate_days(START, 7)

    assert totals["commands"] == 2 and totals["rejected"] == 0
    with kel.session() as s:
        assert s.exec(select(Referral.state)).one() == "appointment_booked"
