"""The report figures of `models.figures` and the helpers moved into `models.kennzahlen`,
with values worked out by hand (no database)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from models.figures.half_year import (
    NO_GROUP,
    ReportedFeedback,
    WorkedCase,
    booked_hours,
    group_figures,
)
from models.figures.periods import month_ends
from models.figures.planning import PlanRow, build_planning, deviation, months_with_ist
from models.figures.providers import (
    ProviderFigures,
    default_start,
    first_appointment_waits,
    total_of,
)
from models.figures.states import ReportStates
from models.kennzahlen import CaseFacts, KennzahlenRow, VoucherFacts, occurring_phases
from models.kennzahlen import own_vouchers_only as own_vouchers
from models.process import StateDef, load_registry

D = date


# --- Träger page ---------------------------------------------------------------------------


def test_the_latest_redeemed_voucher_before_the_first_appointment_counts_for_its_provider() -> None:
    rows = [
        (1, D(2026, 3, 20), 10, D(2026, 3, 1)),  # older voucher of referral 1 at provider 10
        (1, D(2026, 3, 20), 11, D(2026, 3, 10)),  # the latest: 10 days, provider 11
        (2, D(2026, 4, 5), 10, D(2026, 4, 1)),  # 4 days, provider 10
        (3, D(2026, 4, 5), None, D(2026, 4, 1)),  # no provider on the voucher: nobody's
    ]
    assert first_appointment_waits(rows) == {11: [10], 10: [4]}


def test_provider_figures_load_median_p90_and_punctuality() -> None:
    row = ProviderFigures(1, "Caritas", 8, 6, 3, 5, (2.0, 4.0, 9.0, 30.0), 8, 6, 1)
    assert row.load == 0.75  # 6 new / capacity 8
    assert row.wait_median == 6.5  # (4 + 9) / 2
    assert row.wait_p90 == 30.0  # rank ceil(0.9 * 4) = 4
    assert row.punctuality == 0.75  # 6 of 8 on time


def test_provider_figures_without_capacity_waits_or_due_deadlines_are_undefined() -> None:
    row = ProviderFigures(1, "Caritas", 0, 3, 0, 0, (), 0, 0, 0)
    assert (row.load, row.wait_median, row.wait_p90, row.punctuality) == (None, None, None, None)


def test_the_total_row_pools_the_waits_and_sums_the_counts() -> None:
    a = ProviderFigures(1, "A", 10, 2, 1, 2, (1.0, 2.0, 3.0), 4, 4, 0)
    b = ProviderFigures(2, "B", 5, 3, 2, 4, (100.0,), 1, 0, 2)
    total = total_of([a, b])
    assert total is not None
    assert (total.name, total.capacity, total.new_this_month, total.open_cases) == (
        "Alle Träger",
        15,
        5,
        6,
    )
    assert total.waits == (1.0, 2.0, 3.0, 100.0)
    assert total.wait_median == 2.5  # over all cases, not the median of medians (2 and 100)
    assert total.punctuality == 0.8  # 4 of 5
    assert total_of([a]) is None


def test_the_default_period_is_the_last_twelve_calendar_months() -> None:
    assert default_start(D(2026, 11, 25)) == D(2025, 12, 1)
    assert default_start(D(2026, 12, 31)) == D(2026, 1, 1)
    assert default_start(D(2026, 1, 1)) == D(2025, 2, 1)


# --- Halbjahresbericht ---------------------------------------------------------------------


def test_booked_hours_sum_the_modules_and_skip_what_is_not_a_module() -> None:
    assert booked_hours([{"code": 1, "hours": 1.5}, {"code": 2}, "x", {"hours": 2}]) == 3.5


def test_half_year_groups_take_the_latest_classification_and_hours_of_the_half_year() -> None:
    registry = load_registry()
    start, end = D(2026, 1, 1), D(2026, 6, 30)
    cases = [
        WorkedCase(1, 7, "schulden", 1, None),
        WorkedCase(2, 7, "schulden", 2, D(2026, 5, 1)),  # closed in the half-year
        WorkedCase(3, 7, "schulden", None, D(2025, 12, 1)),  # no HBG at all
    ]
    feedback = [
        ReportedFeedback(1, D(2025, 12, 1), 1, [{"hours": 10}]),  # before: hours don't count
        ReportedFeedback(1, D(2026, 2, 1), 2, [{"hours": 3}]),  # HBG 2 is the latest
        ReportedFeedback(2, D(2026, 3, 1), None, [{"hours": 5}]),  # keeps its current HBG 2
    ]
    [(name, rows, total)] = group_figures(
        registry, {7: "Caritas"}, cases, feedback, start, end, current_group_fallback=True
    )
    assert name == "Caritas"
    assert [(r.group, r.cases, r.closed, r.hours) for r in rows] == [
        (2, 2, 1, 8.0),
        (NO_GROUP, 1, 0, 0.0),  # "ohne Einstufung" last
    ]
    assert rows[0].average_hours == 4.0
    assert rows[1].group_title == "ohne Einstufung"
    assert (total.cases, total.closed, total.hours, total.average_hours) == (3, 1, 8.0, 8 / 3)


def test_a_provider_gets_no_fallback_to_the_referrals_current_group() -> None:
    registry = load_registry()
    cases = [WorkedCase(1, 7, "schulden", 3, None)]
    [(_, rows, _)] = group_figures(
        registry, {7: "Caritas"}, cases, [], D(2026, 1, 1), D(2026, 6, 30),
        current_group_fallback=False,
    )  # fmt: skip
    assert [r.group for r in rows] == [NO_GROUP]


# --- periods and planning ------------------------------------------------------------------


def test_month_ends_clip_the_first_and_last_month_and_cross_the_year() -> None:
    assert month_ends(D(2025, 12, 15), D(2026, 2, 3)) == [
        (D(2025, 12, 15), D(2025, 12, 31)),
        (D(2026, 1, 1), D(2026, 1, 31)),
        (D(2026, 2, 1), D(2026, 2, 3)),
    ]


def test_deviation_is_percent_of_the_soll_and_undefined_without_one() -> None:
    assert deviation(12, 10) == pytest.approx(20.0)
    assert deviation(5, 10) == pytest.approx(-50.0)
    assert deviation(3, 0) is None


def test_a_plan_row_counts_the_ist_up_to_the_running_month_only() -> None:
    row = PlanRow("Aachen", (10,) * 12, (8, 12, 99) + (0,) * 9, upto=2)
    assert row.ist_months[:3] == [8, 12, None]
    assert (row.ist_sum, row.soll_to_date, row.absolute) == (20, 20, 0)
    assert row.cumulated == 0.0
    assert row.deviations[:3] == [-20.0, 20.0, None]


def test_the_total_row_counts_the_ist_of_sites_without_a_soll() -> None:
    planning = build_planning(
        2026, "schulden", {("Aachen", 1): 10}, {("Aachen", 1): 6, ("Eschweiler", 1): 4}, upto=1
    )
    assert [r.site for r in planning.rows] == ["Aachen", "Eschweiler"]
    assert (planning.total.soll[0], planning.total.ist[0]) == (10, 10)
    assert planning.total.deviations[0] == 0.0
    assert planning.without_soll == ["Eschweiler"]
    assert planning.current_month == "Januar"


def test_months_with_ist_for_past_current_and_future_years() -> None:
    today = D(2026, 4, 9)
    assert [months_with_ist(y, today) for y in (2025, 2026, 2027)] == [12, 4, 0]


# --- states from the process definition ----------------------------------------------------

STATES = ReportStates(titles={"b": "Beta", "a": "Alpha"}, final=frozenset({"a"}))


def test_phases_follow_the_definition_order_and_unknown_ones_come_last() -> None:
    def row(phases: dict[str, int]) -> KennzahlenRow:
        return KennzahlenRow("X", 0, 0, 0, 0, 0, 0.0, None, None, phases, 0, 0, None, None)

    rows = [row({"zzz": 1, "a": 2}), row({"b": 1, "mmm": 1})]
    assert occurring_phases(rows, STATES) == ["b", "a", "mmm", "zzz"]
    assert STATES.title("b") == "Beta"
    assert STATES.title("mmm") == "mmm"


def test_a_provider_sees_only_the_vouchers_on_its_own_name() -> None:
    case = CaseFacts(
        1, "Caritas", "schulden", "Aachen", "u25", "s", D(2026, 1, 1), D(2026, 1, 1),
        None, None, None,
        vouchers=(VoucherFacts(D(2026, 1, 1), "expired", "Diakonie"),
                  VoucherFacts(D(2026, 2, 1), "redeemed", "Caritas")),
    )  # fmt: skip
    [own] = own_vouchers([case])
    assert [v.provider for v in own.vouchers] == ["Caritas"]


def test_a_state_cannot_be_final_and_in_counselling() -> None:
    with pytest.raises(ValidationError, match="'counselling' und 'final'"):
        StateDef(title="X", final=True, counselling=True)
    assert StateDef(title="In Beratung", counselling=True).counselling
