"""The referral state machine (models.statemachine) applied to the shipped process definition.

The transition tables are generated from ``kel_referral.yaml`` itself (read with plain
``yaml.safe_load``, not through the loader), so every (state, event) pair is covered, the
allowed ones and the rejected ones. The stories below them spell the process out by hand.

Every expected date was checked against the 2026/2027 calendar of Nordrhein-Westfalen
(weekday and public holiday): Karfreitag 3.4., Ostermontag 6.4., 1. Mai, Christi
Himmelfahrt 14.5., Pfingstmontag 25.5., Fronleichnam 4.6., Tag der Deutschen Einheit
3.10., Weihnachten 25./26.12., Neujahr 1.1.2027.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import yaml

from models.calendar import due_date
from models.process import SHIPPED_DIR, ServiceConfig, load_registry
from models.statemachine import (
    CaseView,
    DeadlineReached,
    Decision,
    Escalate,
    Event,
    InvalidTransition,
    NewDeadline,
    NewTimer,
    Notify,
    OpenDeadline,
    allowed_events,
    decide,
    start,
)

D = date.fromisoformat
REF = 7

RAW: dict[str, Any] = yaml.safe_load(
    (SHIPPED_DIR / "kel_referral.yaml").read_text(encoding="utf-8")
)
STATES: list[str] = list(RAW["states"])
EVENTS: list[str] = sorted({t["event"] for t in RAW["transitions"]})
KINDS: list[str] = list(RAW["deadlines"])
ALLOWED: dict[tuple[str, str], dict[str, Any]] = {
    (state, t["event"]): t for t in RAW["transitions"] for state in t["from"]
}
REJECTED: list[tuple[str, str]] = [
    (state, event) for state in STATES for event in EVENTS if (state, event) not in ALLOWED
]


@pytest.fixture(scope="module")
def schulden() -> ServiceConfig:
    return load_registry().service("schulden")


def service(name: str) -> ServiceConfig:
    return load_registry().service(name)


def case(state: str, *kinds: str, reachable: bool = False) -> CaseView:
    """A schulden referral in `state` whose deadlines `kinds` are open (ids 11, 12, …)."""
    open_deadlines = tuple(
        OpenDeadline(11 + KINDS.index(kind), kind, D("2026-04-07")) for kind in kinds
    )
    return CaseView(REF, "schulden", state, open_deadlines, customer_reachable=reachable)


@dataclass
class Referral:
    """A fake repository of one referral: saves decisions the way the database layer does.

    Completed and cancelled deadlines leave ``open_deadlines``; started ones join it with
    a fresh id, as rows would.
    """

    service: ServiceConfig
    case: CaseView
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def started(
        cls, service: ServiceConfig, on: date, *, staged: bool = False, reachable: bool = False
    ) -> tuple[Referral, Decision]:
        decision = start(service, REF, on, staged=staged)
        referral = cls(
            service, CaseView(REF, service.service_type, "", customer_reachable=reachable)
        )
        referral.save(decision)
        return referral, decision

    def save(self, decision: Decision) -> None:
        gone = {*decision.complete, *decision.cancel}
        kept = tuple(d for d in self.case.open_deadlines if d.kind not in gone)
        new = tuple(OpenDeadline(next(self.ids), d.kind, d.due_on) for d in decision.start)
        self.case = dataclasses.replace(self.case, state=decision.state, open_deadlines=kept + new)

    def happen(self, name: str, on: date) -> Decision:
        decision = decide(self.case, Event(name, on), on, self.service)
        self.save(decision)
        return decision

    def timer(self, kind: str, step: int) -> DeadlineReached:
        deadline = self.case.open_deadline(kind)
        assert deadline is not None, f"{kind} is not open"
        return DeadlineReached(deadline.id, kind, deadline.due_on, step)

    def fire(self, timer: DeadlineReached, today: date) -> Decision:
        decision = decide(self.case, timer, today, self.service)
        self.save(decision)
        return decision

    @property
    def open_kinds(self) -> dict[str, date]:
        return {d.kind: d.due_on for d in self.case.open_deadlines}


def caseworker_status(event: str, on: str, title: str) -> Notify:
    return Notify(
        key=f"ref-{REF}:{event}:{on}",
        template="caseworker_status",
        recipient="caseworker",
        title=title,
    )


# --- start ---------------------------------------------------------------------------------


def test_a_new_referral_issues_a_voucher_and_opens_three_deadlines(
    schulden: ServiceConfig,
) -> None:
    decision = start(schulden, REF, D("2026-03-20"))  # a Friday

    assert decision.state == "voucher_issued"
    assert decision.event == "started"
    assert decision.changed
    assert decision.voucher == "issue"
    assert decision.start == (
        NewDeadline(
            "voucher_validity",
            "Gültigkeit des Gutscheins",
            "P4W",
            D("2026-03-20"),
            D("2026-04-17"),
            (
                NewTimer(0, "remind_customer", D("2026-04-12")),
                NewTimer(1, "event", D("2026-04-18")),
            ),
        ),
        NewDeadline(
            "first_appointment",
            "Erstgespräch",
            "P14D",
            D("2026-03-20"),
            D("2026-04-07"),  # 3.4. Karfreitag, Sa, So, 6.4. Ostermontag
            (
                NewTimer(0, "remind_provider", D("2026-04-04")),
                NewTimer(1, "notify_caseworker", D("2026-04-08")),
                NewTimer(2, "escalate", D("2026-04-15")),
            ),
        ),
        NewDeadline(
            "first_feedback",
            "1. Rückmeldung",
            "P14D",
            D("2026-03-20"),
            D("2026-04-07"),
            (
                NewTimer(0, "notify_caseworker", D("2026-04-08")),
                NewTimer(1, "escalate", D("2026-04-15")),
            ),
        ),
    )
    assert (decision.complete, decision.cancel) == ((), ())
    assert (decision.notify, decision.escalate) == ((), ())


@pytest.mark.parametrize(
    ("service_type", "started_on", "kind", "due_on"),
    [
        # 20.3.2026 Fri + 14 days = 3.4. Karfreitag -> Sa, So, Ostermontag -> Tue 7.4.
        ("schulden", "2026-03-20", "first_appointment", "2026-04-07"),
        ("schulden", "2026-03-20", "first_feedback", "2026-04-07"),
        # + 4 weeks = Fri 17.4., a working day: not moved
        ("schulden", "2026-03-20", "voucher_validity", "2026-04-17"),
        # Mon 1.6. + 14 days = Mon 15.6., not moved
        ("schulden", "2026-06-01", "first_appointment", "2026-06-15"),
        # Fri 17.4. + 14 days = Fri 1.5. (Tag der Arbeit) -> Mon 4.5.
        ("sucht", "2026-04-17", "first_appointment", "2026-05-04"),
        ("sucht", "2026-04-17", "voucher_validity", "2026-05-15"),
        # Thu 21.5. + 14 days = Thu 4.6. Fronleichnam -> Fri 5.6.
        ("kinderbetreuung", "2026-05-21", "first_feedback", "2026-06-05"),
        # Fri 11.12. + 14 days = Fri 25.12. -> 26.12. holiday + Sat, Sun -> Mon 28.12.
        ("psychosozial", "2026-12-11", "first_appointment", "2026-12-28"),
        # Fri 4.12. + 4 weeks = Fri 1.1.2027 Neujahr -> Mon 4.1.2027
        ("psychosozial", "2026-12-04", "voucher_validity", "2027-01-04"),
        # Sat 31.1. + 4 weeks = Sat 28.2. -> Mon 2.3.
        ("schulden", "2026-01-31", "voucher_validity", "2026-03-02"),
    ],
)
def test_start_counts_each_deadline_per_section_26_sgb_x(
    service_type: str, started_on: str, kind: str, due_on: str
) -> None:
    decision = start(service(service_type), REF, D(started_on))

    deadlines = {d.kind: d for d in decision.start}
    assert deadlines[kind].due_on == D(due_on)
    assert deadlines[kind].started_on == D(started_on)


@pytest.mark.parametrize("service_type", ["schulden", "sucht", "psychosozial", "kinderbetreuung"])
@pytest.mark.parametrize("started_on", ["2026-03-20", "2026-12-11"])
def test_every_timer_fires_at_the_due_date_plus_its_ladder_offset(
    service_type: str, started_on: str
) -> None:
    decision = start(service(service_type), REF, D(started_on))

    for deadline in decision.start:
        ladder = RAW["deadlines"][deadline.kind]["ladder"]
        assert [t.step for t in deadline.timers] == list(range(len(ladder)))
        assert [t.action for t in deadline.timers] == [s["action"] for s in ladder]
        for timer, step in zip(deadline.timers, ladder, strict=True):
            sign = -1 if step["offset"].startswith("-") else 1
            amount = int(step["offset"].lstrip("-P")[:-1])
            days = amount * (7 if step["offset"].endswith("W") else 1)
            assert (timer.fire_on - deadline.due_on).days == sign * days


def test_a_closure_day_of_the_office_moves_the_due_date(schulden: ServiceConfig) -> None:
    decision = start(schulden, REF, D("2026-03-20"), closures={D("2026-04-07")})

    assert {d.kind: d.due_on for d in decision.start}["first_appointment"] == D("2026-04-08")


def test_a_staged_referral_waits_without_voucher_or_deadlines(schulden: ServiceConfig) -> None:
    decision = start(schulden, REF, D("2026-03-20"), staged=True)

    assert decision.state == "staged"
    assert decision.voucher is None
    assert (decision.start) == (())
    assert (decision.notify) == (())


def test_staging_a_process_without_a_waiting_state_is_refused(schulden: ServiceConfig) -> None:
    unstaged = dataclasses.replace(
        schulden, process=schulden.process.model_copy(update={"staged": None})
    )

    with pytest.raises(ValueError, match="kennt keine Stufung"):
        start(unstaged, REF, D("2026-03-20"), staged=True)


def test_pflege_individuell_starts_no_deadline_at_all() -> None:
    """seed 002 §4.2, Pflege: "Kunde hinweisen", every period "individuell"."""
    decision = start(service("pflege"), REF, D("2026-03-20"))

    assert decision.state == "voucher_issued"
    assert decision.start == ()


# --- every allowed transition, generated from the YAML ----------------------------------------

ON = D("2026-05-04")  # a Monday


@pytest.mark.parametrize(
    ("state", "event"), sorted(ALLOWED), ids=[f"{e}-from-{s}" for s, e in sorted(ALLOWED)]
)
def test_every_allowed_transition_does_what_the_yaml_says(
    schulden: ServiceConfig, state: str, event: str
) -> None:
    spec = ALLOWED[state, event]
    everything_open = case(state, *KINDS)

    decision = decide(everything_open, Event(event, ON), ON, schulden)

    assert decision.changed
    assert decision.event == event
    assert decision.title == spec["title"]
    assert decision.state == spec.get("to", state)
    assert decision.outcome == spec.get("outcome")
    assert decision.voucher == spec.get("voucher")
    assert decision.complete == tuple(spec.get("complete", []))
    cancel = spec.get("cancel", [])
    if cancel == "all":
        cancel = [k for k in KINDS if k not in decision.complete]
    assert decision.cancel == tuple(cancel)
    # a deadline without a period for Schulden ("individuell"; `staged_release` by
    # default, `ServiceStandard.staged_release`) is not started
    started = [k for k in spec.get("start", []) if schulden.period(k) is not None]
    assert [d.kind for d in decision.start] == started
    for deadline in decision.start:
        period = schulden.standard.periods[deadline.kind]
        assert period is not None
        assert deadline.started_on == ON
        assert deadline.due_on == due_date(ON, period)
    assert (decision.escalate) == (())


@pytest.mark.parametrize(
    ("state", "event"), sorted(ALLOWED), ids=[f"{e}-from-{s}" for s, e in sorted(ALLOWED)]
)
def test_a_transition_completes_or_cancels_only_deadlines_that_are_open(
    schulden: ServiceConfig, state: str, event: str
) -> None:
    nothing_open = case(state)

    decision = decide(nothing_open, Event(event, ON), ON, schulden)

    assert (decision.complete) == (())
    assert (decision.cancel) == (())


@pytest.mark.parametrize(
    ("state", "event"), sorted(ALLOWED), ids=[f"{e}-from-{s}" for s, e in sorted(ALLOWED)]
)
def test_the_caseworker_is_notified_where_the_yaml_says_so(
    schulden: ServiceConfig, state: str, event: str
) -> None:
    spec = ALLOWED[state, event]

    decision = decide(case(state), Event(event, ON), ON, schulden)

    if "caseworker" in spec.get("notify", []):
        (notice,) = decision.notify
        assert notice.template == "caseworker_status"
        assert notice.recipient == "caseworker"
        assert str(REF) in notice.key
        assert event in notice.key
        assert ON.isoformat() in notice.key
        assert notice.title == spec["title"]
    else:
        assert (decision.notify) == (())


def test_the_generated_tables_cover_every_state_and_event_pair() -> None:
    assert len(ALLOWED) + len(REJECTED) == len(STATES) * len(EVENTS)
    assert {s for s, _ in ALLOWED} == set(STATES) - {"closed"}
    assert {e for _, e in ALLOWED} == set(EVENTS)


# --- rejected events -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "event"),
    [*REJECTED, ("voucher_issued", "frobnicated")],
    ids=[f"{e}-in-{s}" for s, e in [*REJECTED, ("voucher_issued", "frobnicated")]],
)
def test_an_event_not_allowed_in_the_state_is_rejected_naming_what_is_allowed(
    schulden: ServiceConfig, state: str, event: str
) -> None:
    with pytest.raises(InvalidTransition) as info:
        decide(case(state, *KINDS), Event(event, ON), ON, schulden)

    error = info.value
    assert (error.state, error.event) == (state, event)
    assert error.allowed == allowed_events(schulden, state)
    message = str(error)
    assert repr(state) in message
    assert repr(event) in message
    for allowed in error.allowed:
        assert allowed in message


@pytest.mark.parametrize(
    ("state", "allowed"),
    [
        ("staged", ["closed_by_caseworker", "consent_withdrawn", "customer_withdrew",
                    "prerequisite_met", "prerequisite_running"]),
        ("voucher_issued", ["appointment_booked", "closed_by_caseworker", "consent_withdrawn",
                            "customer_withdrew", "first_feedback", "provider_declined",
                            "voucher_expired", "voucher_returned_invalid"]),
        ("appointment_booked", ["appointment_kept", "closed_by_caseworker", "consent_withdrawn",
                                "customer_withdrew", "first_feedback", "no_show",
                                "provider_declined", "voucher_returned_invalid"]),
        ("no_show", ["appointment_booked", "closed_by_caseworker", "consent_withdrawn",
                     "customer_withdrew", "first_feedback", "voucher_returned_invalid"]),
        ("rerouting", ["closed_by_caseworker", "consent_withdrawn", "customer_withdrew",
                       "provider_assigned"]),
        ("in_counselling", ["aborted", "closed_by_caseworker", "consent_withdrawn",
                            "customer_withdrew", "final_report", "first_feedback",
                            "interim_report", "phase_reported", "result_report"]),
        ("closed", []),
    ],
)  # fmt: skip
def test_allowed_events_lists_the_events_of_a_state_sorted(
    schulden: ServiceConfig, state: str, allowed: list[str]
) -> None:
    assert allowed_events(schulden, state) == allowed


def test_a_closed_referral_accepts_no_event_at_all(schulden: ServiceConfig) -> None:
    with pytest.raises(InvalidTransition, match="keine") as info:
        decide(case("closed"), Event("customer_withdrew", ON), ON, schulden)

    assert info.value.allowed == []


# --- the happy path --------------------------------------------------------------------------


def test_a_referral_runs_from_voucher_to_final_report(schulden: ServiceConfig) -> None:
    referral, _ = Referral.started(schulden, D("2026-03-20"))
    assert referral.open_kinds == {
        "voucher_validity": D("2026-04-17"),
        "first_appointment": D("2026-04-07"),
        "first_feedback": D("2026-04-07"),
    }

    booked = referral.happen("appointment_booked", D("2026-03-25"))
    assert booked.state == "appointment_booked"
    assert booked.complete == ("voucher_validity",)
    assert (booked.cancel, booked.start, booked.notify) == ((), (), ())
    assert booked.voucher is None

    kept = referral.happen("appointment_kept", D("2026-04-02"))  # a Thursday
    assert kept.state == "in_counselling"
    assert kept.voucher == "redeem"
    assert kept.complete == ("first_appointment",)
    assert (kept.cancel) == (())
    interim, result = kept.start
    assert (interim.kind, interim.period, interim.started_on) == (
        "interim_report", "P6W", D("2026-04-02"),
    )  # fmt: skip
    assert interim.due_on == D("2026-05-15")  # 14.5. Christi Himmelfahrt -> Fri 15.5.
    assert interim.timers == (
        NewTimer(0, "remind_provider", D("2026-05-10")),
        NewTimer(1, "notify_caseworker", D("2026-05-16")),
        NewTimer(2, "escalate", D("2026-05-30")),
    )
    assert (result.kind, result.period, result.started_on) == (
        "result_report", "P26W", D("2026-04-02"),
    )  # fmt: skip
    assert result.due_on == D("2026-10-01")  # 26 weeks later, Thursday again
    assert result.timers == (
        NewTimer(0, "remind_provider", D("2026-09-24")),
        NewTimer(1, "notify_caseworker", D("2026-10-02")),
        NewTimer(2, "escalate", D("2026-10-16")),
    )

    feedback = referral.happen("first_feedback", D("2026-04-07"))
    assert feedback.state == "in_counselling"
    assert feedback.complete == ("first_feedback",)

    report = referral.happen("interim_report", D("2026-05-12"))
    assert report.state == "in_counselling"
    assert report.complete == ("interim_report",)  # first_feedback is no longer open

    result_report = referral.happen("result_report", D("2026-09-28"))
    assert result_report.state == "in_counselling"
    assert result_report.complete == ("result_report",)
    assert referral.open_kinds == {}

    final = referral.happen("final_report", D("2026-10-05"))
    assert final.state == "closed"
    assert final.outcome == "completed"
    assert (final.complete, final.cancel) == ((), ())
    assert allowed_events(schulden, referral.case.state) == []


def test_a_final_report_completes_the_reports_and_cancels_the_rest(
    schulden: ServiceConfig,
) -> None:
    decision = decide(
        case("in_counselling", "interim_report", "result_report", "no_show_followup"),
        Event("final_report", ON),
        ON,
        schulden,
    )

    assert decision.complete == ("interim_report", "result_report")
    assert decision.cancel == ("no_show_followup",)


@pytest.mark.parametrize(
    ("service_type", "kept_on", "expected"),
    [
        ("schulden", "2026-04-02", {"interim_report": "2026-05-15", "result_report": "2026-10-01"}),
        # Sat 11.7. + 12 weeks = Sat 3.10. (Tag der Deutschen Einheit) -> Mon 5.10.
        ("sucht", "2026-07-11", {"interim_report": "2026-10-05", "result_report": "2026-10-05"}),
        # Thu 16.4. + 4 weeks = Thu 14.5. Christi Himmelfahrt -> Fri 15.5.; + 12 weeks = 9.7.
        # psychosozial: Ergebnismeldung "individuell nach Abschluss" (no deadline)
        ("psychosozial", "2026-04-16", {"interim_report": "2026-05-15"}),
        # Thu 9.4. + 8 weeks = Thu 4.6. Fronleichnam -> Fri 5.6.; Zwischenmeldung individuell
        ("kinderbetreuung", "2026-04-09", {"result_report": "2026-06-05"}),
        ("pflege", "2026-04-09", {}),
    ],
)
def test_counselling_deadlines_run_from_the_day_the_appointment_was_kept(
    service_type: str, kept_on: str, expected: dict[str, str]
) -> None:
    decision = decide(
        case("appointment_booked", "first_appointment"),
        Event("appointment_kept", D(kept_on)),
        D(kept_on),
        service(service_type),
    )

    assert {d.kind: d.due_on for d in decision.start} == {k: D(v) for k, v in expected.items()}
    assert {d.started_on for d in decision.start} <= {D(kept_on)}


# --- side paths ------------------------------------------------------------------------------


def test_a_voucher_never_booked_expires_the_day_after_its_validity(
    schulden: ServiceConfig,
) -> None:
    referral, _ = Referral.started(schulden, D("2026-03-20"))
    stale = referral.timer("first_feedback", 1)

    expired = referral.fire(referral.timer("voucher_validity", 1), today=D("2026-04-18"))

    assert expired.state == "closed"
    assert expired.event == "voucher_expired"
    assert expired.outcome == "expired"
    assert expired.voucher == "expire"
    assert (expired.complete) == (())
    assert expired.cancel == ("voucher_validity", "first_appointment", "first_feedback")
    assert expired.notify == (
        caseworker_status("voucher_expired", "2026-04-18", "Gutschein verfallen (nicht eingelöst)"),
    )
    assert referral.open_kinds == {}
    late = referral.fire(stale, today=D("2026-04-18"))
    assert not late.changed
    assert late.state == "closed"


def test_a_late_sweep_still_dates_the_expiry_the_day_after_the_validity(
    schulden: ServiceConfig,
) -> None:
    referral, _ = Referral.started(schulden, D("2026-03-20"))

    expired = referral.fire(referral.timer("voucher_validity", 1), today=D("2026-04-22"))

    assert expired.state == "closed"
    (notice,) = expired.notify
    assert notice.key == f"ref-{REF}:voucher_expired:2026-04-18"


def test_a_missed_appointment_is_followed_up_and_can_be_booked_again(
    schulden: ServiceConfig,
) -> None:
    referral, _ = Referral.started(schulden, D("2026-03-20"))
    referral.happen("appointment_booked", D("2026-03-25"))

    missed = referral.happen("no_show", D("2026-04-01"))
    assert missed.state == "no_show"
    (followup,) = missed.start
    assert followup == NewDeadline(
        "no_show_followup",
        "Reaktion auf Nichterscheinen",
        "P14D",
        D("2026-04-01"),
        D("2026-04-15"),
        (NewTimer(0, "escalate", D("2026-04-16")),),
    )
    assert missed.notify == (
        caseworker_status("no_show", "2026-04-01", "Erstgespräch nicht wahrgenommen"),
    )

    rebooked = referral.happen("appointment_booked", D("2026-04-08"))
    assert rebooked.state == "appointment_booked"
    assert rebooked.complete == ("no_show_followup",)  # the voucher's deadline is long met
    assert set(referral.open_kinds) == {"first_appointment", "first_feedback"}

    kept = referral.happen("appointment_kept", D("2026-04-10"))
    assert kept.state == "in_counselling"


def test_a_declining_provider_leads_to_a_new_voucher_with_new_deadlines(
    schulden: ServiceConfig,
) -> None:
    referral, _ = Referral.started(schulden, D("2026-03-20"))
    old_timer = referral.timer("first_appointment", 1)

    declined = referral.happen("provider_declined", D("2026-03-27"))
    assert declined.state == "rerouting"
    assert declined.voucher == "invalidate"
    assert declined.cancel == ("voucher_validity", "first_appointment", "first_feedback")
    (reroute,) = declined.start
    assert (reroute.kind, reroute.due_on) == ("reroute", D("2026-04-07"))  # 3.4. Karfreitag
    assert declined.notify == (
        caseworker_status(
            "provider_declined",
            "2026-03-27",
            "Träger hat abgelehnt oder keine Kapazität – Neuzuweisung erforderlich",
        ),
    )

    assigned = referral.happen("provider_assigned", D("2026-04-07"))
    assert assigned.state == "voucher_issued"
    assert assigned.voucher == "issue"
    assert assigned.complete == ("reroute",)
    assert {d.kind: d.due_on for d in assigned.start} == {
        "voucher_validity": D("2026-05-05"),
        "first_appointment": D("2026-04-21"),
        "first_feedback": D("2026-04-21"),
    }
    assert (assigned.notify) == (())

    # the first provider's timer belongs to a deadline that was cancelled: same kind, other id
    stale = referral.fire(old_timer, today=D("2026-04-08"))
    assert not stale.changed
    assert stale.skipped


@pytest.mark.parametrize("state", ["staged", "voucher_issued", "no_show", "in_counselling"])
def test_a_customer_who_withdraws_closes_the_referral_quietly(
    schulden: ServiceConfig, state: str
) -> None:
    decision = decide(case(state, "first_feedback"), Event("customer_withdrew", ON), ON, schulden)

    assert decision.state == "closed"
    assert decision.outcome == "withdrawn"
    assert decision.voucher == "invalidate"
    assert decision.cancel == ("first_feedback",)
    assert (decision.notify) == (())


def test_withdrawn_consent_keeps_the_state_and_tells_the_caseworker(
    schulden: ServiceConfig,
) -> None:
    decision = decide(
        case("in_counselling", "interim_report", "result_report"),
        Event("consent_withdrawn", ON),
        ON,
        schulden,
    )

    assert decision.changed
    assert decision.state == "in_counselling"
    assert (decision.start, decision.complete, decision.cancel) == ((), (), ())
    assert decision.voucher is None
    assert decision.notify == (
        caseworker_status(
            "consent_withdrawn", ON.isoformat(), "Schweigepflichtentbindung widerrufen"
        ),
    )


def test_aborted_counselling_closes_cancels_and_tells_the_caseworker(
    schulden: ServiceConfig,
) -> None:
    decision = decide(
        case("in_counselling", "interim_report", "result_report"),
        Event("aborted", ON),
        ON,
        schulden,
    )

    assert decision.state == "closed"
    assert decision.outcome == "aborted"
    assert decision.cancel == ("interim_report", "result_report")
    assert (decision.complete) == (())
    assert decision.notify == (
        caseworker_status("aborted", ON.isoformat(), "Abbruch der Beratung"),
    )


def test_a_staged_referral_gets_its_voucher_once_the_prerequisite_is_met(
    schulden: ServiceConfig,
) -> None:
    referral, _ = Referral.started(schulden, D("2026-03-20"), staged=True)
    assert referral.case.state == "staged"
    assert referral.open_kinds == {}

    met = referral.happen("prerequisite_met", D("2026-05-04"))

    assert met.state == "voucher_issued"
    assert met.voucher == "issue"
    assert referral.open_kinds == {
        "voucher_validity": D("2026-06-01"),
        "first_appointment": D("2026-05-18"),
        "first_feedback": D("2026-05-18"),
    }


# --- DeadlineReached: the ladder -------------------------------------------------------------

VOUCHER = OpenDeadline(11, "voucher_validity", D("2026-04-17"))
APPOINTMENT = OpenDeadline(12, "first_appointment", D("2026-04-07"))
FEEDBACK = OpenDeadline(13, "first_feedback", D("2026-04-07"))


def issued(*, reachable: bool = False, state: str = "voucher_issued") -> CaseView:
    return CaseView(REF, "schulden", state, (VOUCHER, APPOINTMENT, FEEDBACK), reachable)


def reached(deadline: OpenDeadline, step: int) -> DeadlineReached:
    return DeadlineReached(deadline.id, deadline.kind, deadline.due_on, step)


@pytest.mark.parametrize(
    ("deadline", "step", "today", "reachable", "template", "recipient", "title"),
    [
        (APPOINTMENT, 0, "2026-04-04", False, "provider_reminder", "provider", "Erstgespräch"),
        (APPOINTMENT, 0, "2026-04-07", False, "provider_reminder", "provider", "Erstgespräch"),
        (
            VOUCHER, 0, "2026-04-12", True,
            "customer_reminder", "customer", "Gültigkeit des Gutscheins",
        ),
    ],
    ids=["provider-on-fire-day", "provider-on-due-day", "customer-reachable"],
)  # fmt: skip
def test_a_reminder_before_the_due_date_is_sent_once_per_step(
    schulden: ServiceConfig,
    deadline: OpenDeadline,
    step: int,
    today: str,
    reachable: bool,
    template: str,
    recipient: str,
    title: str,
) -> None:
    decision = decide(issued(reachable=reachable), reached(deadline, step), D(today), schulden)

    assert decision.changed
    assert decision.event == "reminder"
    assert decision.state == "voucher_issued"
    assert decision.notify == (
        Notify(
            key=f"ref-{REF}:dl-{deadline.id}:step-{step}",
            template=template,
            recipient=recipient,  # type: ignore[arg-type]
            deadline_id=deadline.id,
            title=title,
            due_on=deadline.due_on,
        ),
    )
    assert (decision.start, decision.complete, decision.cancel) == ((), (), ())
    assert decision.escalate == ()


@pytest.mark.parametrize(
    ("deadline", "step", "today", "reachable"),
    [
        (APPOINTMENT, 0, "2026-04-08", False),
        (VOUCHER, 0, "2026-04-18", True),
        (VOUCHER, 0, "2026-04-12", False),
    ],
    ids=["provider-after-due", "customer-after-due", "customer-not-reachable"],
)
def test_a_reminder_that_comes_too_late_or_cannot_reach_anyone_is_skipped(
    schulden: ServiceConfig, deadline: OpenDeadline, step: int, today: str, reachable: bool
) -> None:
    decision = decide(issued(reachable=reachable), reached(deadline, step), D(today), schulden)

    assert not decision.changed
    assert decision.skipped
    assert decision.state == "voucher_issued"
    assert (decision.notify, decision.escalate) == ((), ())


@pytest.mark.parametrize(("deadline", "step"), [(APPOINTMENT, 1), (FEEDBACK, 0)])
def test_an_overdue_deadline_is_reported_to_the_caseworker(
    schulden: ServiceConfig, deadline: OpenDeadline, step: int
) -> None:
    decision = decide(issued(), reached(deadline, step), D("2026-04-08"), schulden)

    assert decision.changed
    assert decision.event == "overdue"
    assert decision.state == "voucher_issued"
    (notice,) = decision.notify
    assert notice.key == f"ref-{REF}:dl-{deadline.id}:step-{step}"
    assert (notice.template, notice.recipient) == ("caseworker_overdue", "caseworker")
    assert (notice.deadline_id, notice.due_on) == (deadline.id, deadline.due_on)
    assert (decision.escalate) == (())


@pytest.mark.parametrize(
    ("deadline", "step", "today", "days_overdue"),
    [
        (APPOINTMENT, 2, "2026-04-15", 8),
        (APPOINTMENT, 2, "2026-04-20", 13),  # the sweep ran late: counted to today
        (FEEDBACK, 1, "2026-04-15", 8),
    ],
)
def test_an_escalation_counts_the_days_overdue_and_tells_the_coordinator(
    schulden: ServiceConfig, deadline: OpenDeadline, step: int, today: str, days_overdue: int
) -> None:
    decision = decide(issued(), reached(deadline, step), D(today), schulden)

    assert decision.changed
    assert decision.event == "escalated"
    assert decision.state == "voucher_issued"
    assert decision.escalate == (
        Escalate(
            deadline.id,
            deadline.kind,
            schulden.process.deadlines[deadline.kind].title,
            deadline.due_on,
            days_overdue,
        ),
    )
    (notice,) = decision.notify
    assert notice.key == f"ref-{REF}:dl-{deadline.id}:step-{step}"
    assert (notice.template, notice.recipient) == ("coordinator_escalation", "coordinator")


@pytest.mark.parametrize(
    ("case_view", "timer"),
    [
        (
            CaseView(REF, "schulden", "voucher_issued", (VOUCHER, FEEDBACK)),
            reached(APPOINTMENT, 1),
        ),
        (
            issued(),
            DeadlineReached(99, "first_appointment", D("2026-04-07"), 1),
        ),
        (issued(), reached(APPOINTMENT, 3)),
        (issued(state="appointment_booked"), reached(VOUCHER, 1)),
        (issued(state="closed"), reached(VOUCHER, 1)),
    ],
    ids=[
        "deadline-no-longer-open",
        "other-deadline-of-the-same-kind",
        "ladder-step-not-defined",
        "voucher-expiry-after-booking",
        "voucher-expiry-after-closing",
    ],
)
def test_a_timer_that_no_longer_applies_changes_nothing(
    schulden: ServiceConfig, case_view: CaseView, timer: DeadlineReached
) -> None:
    decision = decide(case_view, timer, D("2026-04-20"), schulden)

    assert not decision.changed
    assert decision.event is None
    assert decision.skipped
    assert decision.state == case_view.state
    assert (decision.notify, decision.escalate, decision.start) == ((), (), ())
    assert (decision.complete, decision.cancel) == ((), ())


def test_a_voucher_expiry_step_in_the_wrong_state_says_which_event_was_refused(
    schulden: ServiceConfig,
) -> None:
    decision = decide(issued(state="appointment_booked"), reached(VOUCHER, 1), ON, schulden)

    assert decision.skipped is not None
    assert "voucher_expired" in decision.skipped
    assert "appointment_booked" in decision.skipped


# --- working days ----------------------------------------------------------------------------


def test_a_service_counted_in_working_days_skips_weekends_and_holidays(
    schulden: ServiceConfig,
) -> None:
    standard = schulden.standard.model_copy(
        update={
            "day_count": "working_days",
            "periods": {**schulden.standard.periods, "voucher_validity": "P20D"},
        }
    )
    in_working_days = dataclasses.replace(schulden, standard=standard)
    assert in_working_days.working_days

    decision = start(in_working_days, REF, D("2026-03-20"))

    due = {d.kind: d.due_on for d in decision.start}
    # Arbeitstage after Fri 20.3.: 23.-27.3. (5), 30.3.-2.4. (9), Karfreitag and
    # Ostermontag skipped, 7.-10.4. (13), Mon 13.4. is the 14th
    assert due["first_appointment"] == D("2026-04-13")
    assert due["first_feedback"] == D("2026-04-13")
    # 20 Arbeitstage: 14.-17.4. (18), 20.4. (19), 21.4. (20)
    assert due["voucher_validity"] == D("2026-04-21")
    # the ladder still counts calendar days from the due date
    timers = {d.kind: d.timers for d in decision.start}
    assert timers["first_appointment"][0].fire_on == D("2026-04-10")
    assert schulden.working_days is False
