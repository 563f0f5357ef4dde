"""The further Leistungstypen of seeds 000, 001 and 004 as process definitions (issue 10.5).

Two Kommune directories are shipped beside the Düsseldorf default, each selectable with
``KEL_PROCESS_DIR``: ``kommunen/lvr`` (Hilfe nach § 67 SGB XII with Hilfeplanverfahren,
process ``hilfeplan_67``) and ``kommunen/hamburg`` (Ambulante Sozialpsychiatrie). The pure
state machine runs each through its lifecycle with dates given by hand.

Calendars used (checked by hand against the `holidays` package): NW 2026-2030 for the
LVR: no holiday falls on a date below except where named; Saturdays 11.3.2028,
30.3.2030 and Sundays 13.2.2028, 31.3.2030. HH 2026-2028 for Hamburg: Reformationstag
31.10. is a holiday there; Saturday 25.11.2028.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pytest

from models.process import (
    SHIPPED_DIR,
    ProcessDefinitionError,
    ServiceConfig,
    load_registry,
    relative_period,
    shift,
)
from models.statemachine import (
    CaseView,
    DeadlineReached,
    Decision,
    EntryRefused,
    Event,
    NewTimer,
    Notify,
    OpenDeadline,
    decide,
    start,
)

D = date.fromisoformat
REF = 41
LVR_DIR = SHIPPED_DIR / "kommunen" / "lvr"
HAMBURG_DIR = SHIPPED_DIR / "kommunen" / "hamburg"
ADULT = {"acute_addiction": False, "age": 34, "gerontopsychiatric": False}


def lvr() -> ServiceConfig:
    return load_registry(LVR_DIR).service("beschaeftigung_67")


def hamburg() -> ServiceConfig:
    return load_registry(HAMBURG_DIR).service("sozialpsychiatrie")


@dataclass
class Case:
    """A fake repository of one referral that saves decisions as `tasks.repository` does:
    completed and cancelled deadlines leave, started ones join with a fresh id and replace
    an open one of the same kind."""

    service: ServiceConfig
    view: CaseView
    next_id: int = 1
    history: list[Decision] = field(default_factory=list)

    @classmethod
    def started(cls, service: ServiceConfig, on: date, **facts: bool | int) -> Case:
        case = cls(service, CaseView(REF, service.service_type, ""))
        case.save(start(service, REF, on, entry_facts=facts or None))
        return case

    def save(self, decision: Decision) -> Decision:
        gone = {*decision.complete, *decision.cancel, *(d.kind for d in decision.start)}
        kept = tuple(d for d in self.view.open_deadlines if d.kind not in gone)
        new = []
        for d in decision.start:
            new.append(OpenDeadline(self.next_id, d.kind, d.due_on))
            self.next_id += 1
        self.view = replace(self.view, state=decision.state, open_deadlines=kept + tuple(new))
        self.history.append(decision)
        return decision

    def happen(self, name: str, on: date) -> Decision:
        return self.save(decide(self.view, Event(name, on), on, self.service))

    def fire(self, kind: str, step: int, today: date) -> Decision:
        deadline = self.view.open_deadline(kind)
        assert deadline is not None, f"{kind} is not open"
        timer = DeadlineReached(deadline.id, kind, deadline.due_on, step)
        return self.save(decide(self.view, timer, today, self.service))

    @property
    def due(self) -> dict[str, date]:
        return {d.kind: d.due_on for d in self.view.open_deadlines}


def timers(decision: Decision, kind: str) -> list[tuple[str, date]]:
    [deadline] = [d for d in decision.start if d.kind == kind]
    return [(t.action, t.fire_on) for t in deadline.timers]


# --- the format: month offsets, relative periods ----------------------------------------------


@pytest.mark.parametrize(
    ("day", "offset", "expected"),
    [
        ("2028-03-13", "-P1M", "2028-02-13"),  # 30 days would give 12.2.2028
        ("2028-03-13", "P1M", "2028-04-13"),  # 30 days would give 12.4.2028
        ("2029-03-31", "-P2M", "2029-01-31"),  # 60 days would give 30.1.2029
        ("2029-03-31", "-P1M", "2029-02-28"),  # no 31.2.: the month's last day
        ("2028-03-31", "-P1M", "2028-02-29"),  # leap year
        ("2026-04-22", "-P1W", "2026-04-15"),
        ("2026-04-22", "P15D", "2026-05-07"),
    ],
)
def test_an_offset_counts_calendar_months_not_thirty_days(
    day: str, offset: str, expected: str
) -> None:
    assert shift(D(day), offset) == D(expected)


@pytest.mark.parametrize(
    ("period", "offset", "expected"),
    [
        ("P24M", "-P2M", "P22M"),
        ("P2Y", "-P2M", "P22M"),
        ("P12M", "-P2M", "P10M"),
        ("P6W", "-P3D", "P39D"),
        ("P2M", "-P2M", None),  # due on the day it starts: refused by check-config
        ("P24M", "-P2W", None),  # months and days cannot be written as one period
    ],
)
def test_a_relative_period_is_one_iso_duration_where_there_is_one(
    period: str, offset: str, expected: str | None
) -> None:
    assert relative_period(period, offset) == expected


# --- LVR: Hilfe nach § 67 SGB XII with Hilfeplanverfahren (seeds 000, 001) ---------------------


def test_the_lvr_directory_loads_with_its_own_standards() -> None:
    registry = load_registry(LVR_DIR)

    assert registry.kommune == "Landschaftsverband Rheinland (LVR)"
    assert set(registry.services) == {"beschaeftigung_67"}
    service = registry.service("beschaeftigung_67")
    assert service.land == "NW"
    assert service.standard.retention == "P5Y"  # seed 001 §5.2.3
    assert service.standard.funder is not None
    assert service.period("care_plan") == "P6W"  # seed 001 §5.2.1
    assert service.period("plan_update") == "P24M"  # seed 001 §5.2.2
    assert service.period("progress_report") == "P22M"  # 2 months before it, §5.2.4


def test_the_default_registry_is_still_duesseldorf_alone() -> None:
    registry = load_registry(None)

    assert registry.kommune == "Düsseldorf"
    assert set(registry.processes) == {"kel_referral"}


def test_a_referral_waits_for_admission_without_a_voucher() -> None:
    # Mon 2.3.2026 + 4 weeks = Mon 30.3.2026
    case = Case.started(lvr(), D("2026-03-02"))

    first = case.history[0]
    assert (first.state, first.voucher, first.title) == ("referred", None, "Zuweisung angelegt")
    assert case.due == {"admission": D("2026-03-30")}


def test_admission_opens_hilfeplan_fortschreibung_and_the_verlaufsbericht_before_it() -> None:
    case = Case.started(lvr(), D("2026-03-02"))

    decision = case.happen("admitted", D("2026-03-11"))

    assert decision.state == "in_care"
    assert decision.complete == ("admission",)
    assert case.due == {
        # Wed 11.3.2026 + 6 weeks = Wed 22.4.2026
        "care_plan": D("2026-04-22"),
        # 11.3.2026 + 24 months = Sat 11.3.2028 -> Mon 13.3.2028 (§ 26 Abs. 3 SGB X)
        "plan_update": D("2028-03-13"),
        # 2 months before the Fortschreibung's due date 13.3.2028 = Thu 13.1.2028
        "progress_report": D("2028-01-13"),
    }
    assert [d.started_on for d in decision.start] == [D("2026-03-11")] * 3
    assert [d.period for d in decision.start] == ["P6W", "P24M", "P22M"]


def test_ladders_fire_by_calendar_months_around_the_fortschreibung() -> None:
    case = Case.started(lvr(), D("2026-03-02"))

    decision = case.happen("admitted", D("2026-03-11"))

    assert timers(decision, "plan_update") == [
        ("remind_provider", D("2028-02-13")),  # 13.3.2028 - 1 month (Sunday; not moved)
        ("notify_caseworker", D("2028-03-14")),  # + 1 day
        ("escalate", D("2028-04-13")),  # + 1 month
    ]
    assert timers(decision, "progress_report") == [
        ("remind_provider", D("2027-12-30")),  # 13.1.2028 - 14 days
        ("notify_caseworker", D("2028-01-14")),
        ("escalate", D("2028-01-28")),  # 13.1. + 15 days
    ]


def test_the_hilfeplan_within_six_weeks_is_met_and_nothing_else_changes() -> None:
    case = Case.started(lvr(), D("2026-03-02"))
    case.happen("admitted", D("2026-03-11"))

    decision = case.happen("care_plan_written", D("2026-04-15"))

    assert (decision.state, decision.complete, decision.start) == ("in_care", ("care_plan",), ())
    assert set(case.due) == {"plan_update", "progress_report"}


def test_the_fortschreibung_recurs_counted_from_the_last_one_with_its_verlaufsbericht() -> None:
    case = Case.started(lvr(), D("2026-03-02"))
    case.happen("admitted", D("2026-03-11"))
    case.happen("care_plan_written", D("2026-04-15"))
    case.happen("progress_report_sent", D("2028-01-10"))

    late = case.happen("care_plan_updated", D("2028-05-31"))  # after the due date 13.3.2028

    assert late.state == "in_care"
    assert late.complete == ("plan_update",)
    assert [(d.kind, d.started_on) for d in late.start] == [
        ("plan_update", D("2028-05-31")),
        ("progress_report", D("2028-05-31")),
    ]
    assert case.due == {
        # Wed 31.5.2028 + 24 months = Fri 31.5.2030
        "plan_update": D("2030-05-31"),
        # 31.5.2030 - 2 months = Sun 31.3.2030 -> Mon 1.4.2030 (Easter 2030 is 21.4.)
        "progress_report": D("2030-04-01"),
    }

    again = case.happen("care_plan_updated", D("2029-08-31"))  # early, on a Gesamtplan change

    # the open Verlaufsbericht of the old cycle is replaced by the one of the new cycle
    assert again.cancel == ("progress_report",)
    assert case.due == {
        # Fri 31.8.2029 + 24 months = Sun 31.8.2031 -> Mon 1.9.2031
        "plan_update": D("2031-09-01"),
        # 1.9.2031 - 2 months = Tue 1.7.2031
        "progress_report": D("2031-07-01"),
    }


def test_a_crisis_longer_than_four_weeks_is_reported_to_the_leistungstraeger() -> None:
    case = Case.started(lvr(), D("2026-03-02"))
    case.happen("admitted", D("2026-03-11"))

    started = case.happen("crisis_started", D("2026-06-01"))

    assert started.state == "in_crisis"
    # Mon 1.6.2026 + 4 weeks = Mon 29.6.2026; "mehr als vier Wochen": from Tue 30.6.2026
    assert case.due["crisis"] == D("2026-06-29")
    assert timers(started, "crisis") == [("notify_funder", D("2026-06-30"))]
    deadline_id = case.view.open_deadline("crisis").id  # type: ignore[union-attr]

    informed = case.fire("crisis", 0, D("2026-06-30"))

    assert (informed.event, informed.state) == ("funder_informed", "in_crisis")
    assert informed.notify == (
        Notify(
            key=f"ref-{REF}:dl-{deadline_id}:step-0",
            template="funder_notice",
            recipient="funder",
            deadline_id=deadline_id,
            title="Krisensituation länger als vier Wochen",
            due_on=D("2026-06-29"),
        ),
    )
    ended = case.happen("crisis_ended", D("2026-07-06"))
    assert (ended.state, ended.complete) == ("in_care", ("crisis",))


def test_a_crisis_that_ends_within_four_weeks_informs_nobody() -> None:
    case = Case.started(lvr(), D("2026-03-02"))
    case.happen("admitted", D("2026-03-11"))
    case.happen("crisis_started", D("2026-09-07"))
    crisis = case.view.open_deadline("crisis")
    assert crisis is not None and crisis.due_on == D("2026-10-05")  # Mon 7.9. + 4 weeks

    case.happen("crisis_ended", D("2026-09-25"))
    late_timer = DeadlineReached(crisis.id, "crisis", crisis.due_on, 0)
    decision = decide(case.view, late_timer, D("2026-10-06"), case.service)

    assert not decision.changed
    assert decision.skipped == "Frist nicht mehr offen"


def test_leaving_asks_for_the_abschlussbericht_which_closes_the_case() -> None:
    case = Case.started(lvr(), D("2026-03-02"))
    case.happen("admitted", D("2026-03-11"))
    case.happen("crisis_started", D("2028-06-01"))

    left = case.happen("left", D("2028-06-15"))

    assert left.state == "left"
    assert set(left.cancel) == {"care_plan", "plan_update", "progress_report", "crisis"}
    assert case.due == {"final_report": D("2028-07-13")}  # Thu 15.6.2028 + 4 weeks
    closed = case.happen("closing_report_sent", D("2028-07-10"))
    assert (closed.state, closed.outcome, closed.complete) == (
        "closed",
        "completed",
        ("final_report",),
    )
    assert closed.start == ()  # nothing recurs once the case has ended
    assert case.view.open_deadlines == ()


# --- Hamburg: Ambulante Sozialpsychiatrie (seed 004) ---------------------------------------------


def test_the_hamburg_directory_loads_with_hamburg_holidays() -> None:
    registry = load_registry(HAMBURG_DIR)

    assert registry.kommune == "Hamburg"
    service = registry.service("sozialpsychiatrie")
    assert (service.land, service.standard.consent) == ("HH", "required")
    assert [c.fact for c in service.process.entry] == [
        "acute_addiction",
        "age",
        "gerontopsychiatric",
    ]


@pytest.mark.parametrize(
    ("facts", "fact", "reason"),
    [
        (
            {"acute_addiction": True},
            "acute_addiction",
            "Ambulante Sozialpsychiatrie: Personen mit akuter Suchterkrankung werden nicht "
            "betreut (Leistungsbeschreibung Ziff. 2).",
        ),
        (
            {"age": 20},
            "age",
            "Ambulante Sozialpsychiatrie: Personen unter 21 Jahren werden nicht betreut "
            "(Leistungsbeschreibung Ziff. 2).",
        ),
        (
            {"gerontopsychiatric": True},
            "gerontopsychiatric",
            "Ambulante Sozialpsychiatrie: Personen, die einem gerontopsychiatrischen "
            "Krankheitsbild zuzuordnen sind, werden nicht betreut (Leistungsbeschreibung "
            "Ziff. 2).",
        ),
    ],
)
def test_each_exclusion_is_refused_at_the_start_with_its_german_reason(
    facts: dict[str, bool | int], fact: str, reason: str
) -> None:
    with pytest.raises(EntryRefused) as info:
        start(hamburg(), REF, D("2026-11-02"), entry_facts=ADULT | facts)

    assert str(info.value) == reason
    assert info.value.fact == fact


def test_a_person_of_21_is_not_under_21() -> None:
    decision = start(hamburg(), REF, D("2026-11-02"), entry_facts=ADULT | {"age": 21})

    assert decision.state == "referred"


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        (None, "fehlt die Angabe „Akute Suchterkrankung“ (acute_addiction), „Alter in Jahren“"),
        ({"acute_addiction": False, "age": 30}, "„Gerontopsychiatrisches Krankheitsbild“"),
        (ADULT | {"suicidal": False}, "Angaben suicidal werden nicht erfragt"),
        (ADULT | {"age": True}, "„Alter in Jahren“ muss eine ganze Zahl sein"),
        (ADULT | {"acute_addiction": 0}, "„Akute Suchterkrankung“ muss ja oder nein sein"),
    ],
)
def test_missing_unknown_or_mistyped_facts_are_refused_too(
    facts: dict[str, bool | int] | None, message: str
) -> None:
    with pytest.raises(EntryRefused, match=re.escape(message)):
        start(hamburg(), REF, D("2026-11-02"), entry_facts=facts)


def test_a_process_without_exclusions_takes_no_facts() -> None:
    with pytest.raises(EntryRefused, match="werden nicht erfragt"):
        start(lvr(), REF, D("2026-03-02"), entry_facts={"age": 40})


def test_the_low_threshold_path_has_no_deadlines_after_the_first_contact() -> None:
    case = Case.started(hamburg(), D("2026-11-02"), **ADULT)
    assert case.due == {"first_contact": D("2026-11-16")}  # Mon 2.11.2026 + 14 days

    decision = case.happen("low_threshold_started", D("2026-11-05"))

    assert (decision.state, decision.complete, decision.start) == (
        "low_threshold",
        ("first_contact",),
        (),
    )
    assert case.due == {}
    closed = case.happen("ended", D("2027-03-01"))
    assert (closed.state, closed.outcome) == ("closed", "completed")


def test_the_person_related_path_asks_for_the_sozial_und_verlaufsbericht() -> None:
    case = Case.started(hamburg(), D("2026-11-02"), **ADULT)

    approved = case.happen("person_related_approved", D("2026-12-01"))

    assert approved.state == "person_related"
    assert case.due == {
        # Tue 1.12.2026 + 12 months = Wed 1.12.2027
        "approval_period": D("2027-12-01"),
        # 2 months before = Fri 1.10.2027
        "social_report": D("2027-10-01"),
    }
    assert timers(approved, "social_report") == [
        ("remind_provider", D("2027-09-17")),  # 1.10. - 14 days
        ("notify_caseworker", D("2027-10-02")),
        ("escalate", D("2027-10-16")),  # 1.10. + 15 days
    ]
    report = case.happen("social_report_sent", D("2027-09-20"))
    assert report.complete == ("social_report",)

    renewed = case.happen("approval_renewed", D("2027-11-25"))

    assert renewed.complete == ("approval_period",)
    assert case.due == {
        # Thu 25.11.2027 + 12 months = Sat 25.11.2028 -> Mon 27.11.2028
        "approval_period": D("2028-11-27"),
        # 27.11.2028 - 2 months = Wed 27.9.2028
        "social_report": D("2028-09-27"),
    }


def test_low_threshold_help_can_become_person_related_and_return_as_aftercare() -> None:
    case = Case.started(hamburg(), D("2026-11-02"), **ADULT)
    case.happen("low_threshold_started", D("2026-11-05"))

    case.happen("person_related_approved", D("2027-02-01"))
    assert set(case.due) == {"approval_period", "social_report"}

    aftercare = case.happen("aftercare", D("2027-06-30"))

    assert aftercare.state == "low_threshold"
    assert set(aftercare.cancel) == {"approval_period", "social_report"}
    assert case.due == {}


def test_a_referral_never_taken_up_closes_and_tells_the_caseworker() -> None:
    case = Case.started(hamburg(), D("2026-11-02"), **ADULT)

    decision = case.happen("not_taken_up", D("2026-11-20"))

    assert (decision.state, decision.outcome, decision.cancel) == (
        "closed",
        "not_taken_up",
        ("first_contact",),
    )
    assert [n.recipient for n in decision.notify] == ["caseworker"]


def test_hamburg_counts_its_own_holidays() -> None:
    # Reformationstag 31.10. is a holiday in Hamburg, not in Nordrhein-Westfalen:
    # a first contact due Sat 30.10.2027 (Sat 16.10. + 14 days) ends on Mon 1.11.2027 in
    # Hamburg (Sunday 31.10.), in NW Allerheiligen 1.11. would move it to Tue 2.11.
    decision = start(hamburg(), REF, D("2027-10-16"), entry_facts=ADULT)

    assert [d.due_on for d in decision.start] == [D("2027-11-01")]
    assert decision.start[0].timers[0] == NewTimer(0, "remind_provider", D("2027-10-29"))


# --- kel check-config: the new format elements, with file and line ---------------------------


@pytest.fixture
def kommune(tmp_path: Path) -> Path:
    """A copy of the LVR directory that a test may break."""
    target = tmp_path / "lvr"
    shutil.copytree(LVR_DIR, target)
    return target


@pytest.fixture
def hamburg_copy(tmp_path: Path) -> Path:
    target = tmp_path / "hamburg"
    shutil.copytree(HAMBURG_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not exactly once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(path: Path, fragment: str) -> int:
    hits = [n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if fragment in line]
    assert len(hits) == 1, (fragment, hits)
    return hits[0]


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ProcessDefinitionError) as info:
        load_registry(directory)
    return info.value.problems


PROCESS, STANDARDS = "hilfeplan_67.yaml", "lvr.yaml"

CASES = [
    pytest.param(
        PROCESS,
        "relative_to: plan_update",
        "relative_to: plan_updates",
        "relative_to: plan_updates",
        "Frist 'plan_updates' nicht definiert",
        id="relative-to-an-unknown-deadline",
    ),
    pytest.param(
        PROCESS,
        "relative_to: plan_update",
        "relative_to: progress_report",
        "relative_to: progress_report",
        "Bezugsfrist 'progress_report' hat keine 'period'",
        id="relative-to-itself",
    ),
    pytest.param(
        PROCESS,
        "offset: -P2M  ",
        "offset: -2M  ",
        "offset: -2M",
        "deadlines.progress_report.offset: Value error, Versatz '-2M' ist nicht von der Form",
        id="deadline-offset-without-P",
    ),
    pytest.param(
        PROCESS,
        "{offset: -P1M, action: remind_provider}",
        "{offset: -P1.5M, action: remind_provider}",
        "{offset: -P1.5M,",
        "deadlines.plan_update.ladder.0.offset: Value error, Versatz '-P1.5M'",
        id="ladder-month-offset-with-a-fraction",
    ),
    pytest.param(
        PROCESS,
        "{offset: P1M, action: escalate}",
        "{offset: P1Y, action: escalate}",
        "{offset: P1Y,",
        "Versatz 'P1Y' ist nicht von der Form P3D, -P5D, P2W oder -P2M",
        id="ladder-offset-in-years",
    ),
    pytest.param(
        PROCESS,
        "    start: [care_plan, plan_update]\n",
        "    start: [care_plan, plan_update, progress_report]\n",
        "- event: admitted",
        "Frist 'progress_report' startet mit 'plan_update', nicht selbst",
        id="relative-deadline-named-in-start",
    ),
    pytest.param(
        PROCESS,
        "    complete: [plan_update]\n",
        "    complete: [care_plan]\n",
        "recurs: true",
        "Frist 'plan_update' wiederholt sich, wird aber nie erfüllt",
        id="recurring-deadline-never-completed",
    ),
    pytest.param(
        PROCESS,
        "    offset: -P2M  ",
        "    period: plan_update  # both\n    offset: -P2M  ",
        "plan_update  # both",
        "nur eines von 'period' und 'relative_to'",
        id="period-and-relative-to",
    ),
    pytest.param(
        STANDARDS,
        "plan_update: P24M",
        "plan_update: P2M",
        "plan_update: P2M",
        "Frist 'progress_report' (-P2M zu P2M) läge nicht nach ihrem Beginn",
        id="relative-deadline-before-its-start",
    ),
    pytest.param(
        STANDARDS,
        "retention: P5Y",
        "retention: P260W",
        "retention: P260W",
        "P260W: Aufbewahrung nur als PnY oder PnM",
        id="retention-in-weeks",
    ),
    pytest.param(
        STANDARDS,
        "    funder:\n",
        "    x_funder:\n",
        "x_funder:",
        "Extra inputs are not permitted",
        id="unknown-key-instead-of-funder",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "anchor", "message"), CASES)
def test_a_broken_new_format_element_is_reported_with_file_and_line(
    kommune: Path, file: str, old: str, new: str, anchor: str, message: str
) -> None:
    path = kommune / file
    edit(path, old, new)

    problems = problems_of(kommune)

    expected = f"{path}:{line_of(path, anchor)}: "
    assert any(p.startswith(expected) and message in p for p in problems), (expected, problems)


def test_a_process_informing_the_leistungstraeger_needs_one_in_the_standards(
    kommune: Path,
) -> None:
    path = kommune / STANDARDS
    edit(
        path,
        "    funder:\n      title: Landschaftsverband Rheinland, Dezernat Soziales\n"
        "      email: eingliederungshilfe@lvr.example\n",
        "",
    )

    problems = problems_of(kommune)

    expected = f"{path}:{line_of(path, 'process: hilfeplan_67')}: "
    assert any(
        p.startswith(expected) and "informiert den Leistungsträger: 'funder' fehlt" in p
        for p in problems
    ), problems


@pytest.mark.parametrize(
    ("old", "new", "anchor", "nth", "message"),
    [
        (
            "    refuse_below: 21\n",
            "    refuse_below: 21\n    refuse_if: true\n",
            "- fact: age",
            0,
            "genau eines von 'refuse_if' und 'refuse_below' angeben",
        ),
        ("  - fact: gerontopsychiatric\n", "  - fact: age\n", "- fact: age", 1, "'age' doppelt"),
        (
            "  - fact: age\n",
            "  - fact: Alter\n",
            "- fact: Alter",
            0,
            "entry.1.fact: String should match pattern",
        ),
    ],
)
def test_a_broken_entry_condition_is_reported_with_file_and_line(
    hamburg_copy: Path, old: str, new: str, anchor: str, nth: int, message: str
) -> None:
    path = hamburg_copy / "ambulante_sozialpsychiatrie.yaml"
    edit(path, old, new)
    lines = path.read_text("utf-8").splitlines()
    line = [n for n, text in enumerate(lines, 1) if anchor in text][nth]

    problems = problems_of(hamburg_copy)

    assert any(p.startswith(f"{path}:{line}: ") and message in p for p in problems), (
        line,
        problems,
    )
