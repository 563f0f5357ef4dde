from dataclasses import replace
from datetime import date, timedelta

import pytest

from models.figures.states import ReportStates, registry_states
from models.kennzahlen import (
    COLUMNS,
    CaseFacts,
    KennzahlenRow,
    VoucherFacts,
    kennzahlen,
    percentile_nearest_rank,
)
from models.process import load_registry

START = date(2026, 1, 1)
END = date(2026, 12, 31)
PHASE_TITLES = {
    "staged": "Gestuft – wartet auf vorrangige Leistung",
    "voucher_issued": "Gutschein ausgegeben",
    "appointment_booked": "Erstgespräch terminiert",
    "no_show": "Erstgespräch nicht wahrgenommen",
    "rerouting": "Neuzuweisung erforderlich",
    "in_counselling": "In Beratung",
    "closed": "Abgeschlossen",
}
STATES = ReportStates(
    titles=PHASE_TITLES,
    final=frozenset({"closed"}),
    counselling=frozenset({"in_counselling"}),
    feedback_deadlines=frozenset({"first_feedback", "interim_report", "result_report"}),
)


def case(rid: int, provider: str = "Caritas", **kw: object) -> CaseFacts:
    values: dict[str, object] = {
        "referral_id": rid,
        "provider": provider,
        "service_type": "schulden",
        "site": "Aachen",
        "age_group": "25-49",
        "state": "voucher_issued",
        "state_since": date(2026, 3, 1),
        "started_on": date(2026, 3, 1),
        "first_appointment_on": None,
        "closed_on": None,
        "outcome": None,
        "vouchers": (),
        "escalations": 0,
        "open_escalations": 0,
    }
    values.update(kw)
    return CaseFacts(**values)  # type: ignore[arg-type]


def v(issued_on: date, status: str, provider: str = "Caritas") -> VoucherFacts:
    return VoucherFacts(issued_on=issued_on, status=status, provider=provider)


def by_provider(rows: list[KennzahlenRow]) -> dict[str, KennzahlenRow]:
    return {row.provider: row for row in rows}


def test_rows_sorted_by_name_with_total_last() -> None:
    cases = [case(1, "Stadt"), case(2, "Ärztehaus"), case(3, "caritas"), case(4, "–")]
    assert [r.provider for r in kennzahlen(cases, START, END, STATES)] == [
        "Ärztehaus",
        "caritas",
        "Stadt",
        "–",
        "Gesamt",
    ]


def test_empty_input_gives_a_zero_total_row() -> None:
    [total] = kennzahlen([], START, END, STATES)
    assert total.provider == "Gesamt"
    assert total.vouchers_issued == 0
    assert total.share_u25 == 0.0
    assert total.counselling_days_mean is None
    assert total.first_appointment_days_p90 is None
    assert total.open_over_90_days == {}


def test_voucher_figures_add_up_and_respect_the_period() -> None:
    vouchers = (
        v(date(2026, 2, 1), "redeemed"),
        v(date(2026, 2, 2), "issued"),
        v(date(2026, 2, 3), "expired"),
        v(date(2026, 2, 4), "returned_invalid"),
        v(date(2025, 12, 31), "redeemed"),  # before the period
        v(date(2027, 1, 1), "issued"),  # after the period
    )
    row = by_provider(kennzahlen([case(1, vouchers=vouchers)], START, END, STATES))["Caritas"]
    assert row.vouchers_issued == 4
    assert row.vouchers_redeemed == 1
    assert row.vouchers_not_started == 2
    assert row.vouchers_returned_invalid == 1


def test_rerouted_referral_has_vouchers_at_two_providers() -> None:
    rerouted = case(
        1,
        "Diakonie",
        state="in_counselling",
        vouchers=(
            v(date(2026, 2, 1), "expired", "Caritas"),
            v(date(2026, 4, 1), "redeemed", "Diakonie"),
        ),
    )
    rows = by_provider(kennzahlen([rerouted], START, END, STATES))
    assert rows["Caritas"].vouchers_issued == 1
    assert rows["Caritas"].vouchers_not_started == 1
    assert rows["Caritas"].customers_in_counselling == 0  # counts at the current provider
    assert rows["Diakonie"].vouchers_issued == 1
    assert rows["Diakonie"].vouchers_redeemed == 1
    assert rows["Diakonie"].customers_in_counselling == 1
    assert rows["Gesamt"].vouchers_issued == 2
    assert rows["Gesamt"].customers_in_counselling == 1


def test_customers_in_counselling_at_the_period_end() -> None:
    cases = [
        case(1, state="in_counselling", state_since=date(2025, 6, 1)),
        case(2, state="in_counselling", state_since=date(2026, 12, 31)),
        case(3, state="in_counselling", state_since=date(2027, 1, 2)),  # not yet at the end
        case(4, state="closed", state_since=date(2026, 5, 1), closed_on=date(2026, 5, 1)),
        case(5, state="appointment_booked"),
    ]
    assert (
        by_provider(kennzahlen(cases, START, END, STATES))["Caritas"].customers_in_counselling == 2
    )


def test_share_u25_of_referrals_started_in_the_period() -> None:
    cases = [
        case(1, age_group="u25"),
        case(2, age_group="25-49"),
        case(3, age_group="50+"),
        case(4, age_group="u25", started_on=date(2025, 11, 1)),  # not in the period
        case(5, "Diakonie", age_group="u25"),
    ]
    rows = by_provider(kennzahlen(cases, START, END, STATES))
    assert rows["Caritas"].share_u25 == pytest.approx(1 / 3)
    assert rows["Diakonie"].share_u25 == 1.0
    assert rows["Gesamt"].share_u25 == pytest.approx(2 / 4)
    only_old = kennzahlen([case(1, started_on=date(2024, 1, 1))], START, END, STATES)
    assert only_old[0].share_u25 == 0.0


def test_counselling_length_to_close_or_period_end() -> None:
    cases = [
        # closed in the period: 10 days
        case(
            1,
            state="closed",
            first_appointment_on=date(2026, 3, 1),
            closed_on=date(2026, 3, 11),
        ),
        # still open: to the period end, 30 days
        case(2, state="in_counselling", first_appointment_on=date(2026, 12, 1)),
        # closed after the period: open at its end, 20 days
        case(
            3,
            state="closed",
            first_appointment_on=date(2026, 12, 11),
            closed_on=date(2027, 2, 1),
        ),
        # begun in an earlier year, still open: 365 days (counts, "inkl. Vorjahre")
        case(4, state="in_counselling", first_appointment_on=date(2025, 12, 31)),
        # closed before the period: not counted
        case(
            5,
            state="closed",
            first_appointment_on=date(2025, 1, 1),
            closed_on=date(2025, 6, 1),
        ),
        # first appointment after the period: not counted
        case(6, state="in_counselling", first_appointment_on=date(2027, 1, 5)),
        # no first appointment: not counted
        case(7, state="voucher_issued"),
    ]
    row = by_provider(kennzahlen(cases, START, END, STATES))["Caritas"]
    assert row.counselling_days_mean == pytest.approx((10 + 30 + 20 + 365) / 4)
    assert row.counselling_days_median == 25.0  # mean of the two middle values 20 and 30


def test_open_over_90_days_per_phase() -> None:
    limit = END - timedelta(days=90)
    cases = [
        case(1, state="voucher_issued", state_since=limit - timedelta(days=1)),  # 91 days
        case(2, state="voucher_issued", state_since=date(2025, 1, 1)),
        case(3, state="voucher_issued", state_since=limit),  # exactly 90: not "more than"
        case(4, state="in_counselling", state_since=date(2026, 1, 1)),
        case(5, state="staged", state_since=date(2026, 2, 1)),
        case(6, state="closed", state_since=date(2025, 1, 1), closed_on=date(2025, 1, 1)),
        case(7, "Diakonie", state="no_show", state_since=date(2026, 4, 1)),
    ]
    rows = by_provider(kennzahlen(cases, START, END, STATES))
    assert rows["Caritas"].open_over_90_days == {
        "staged": 1,
        "voucher_issued": 2,
        "in_counselling": 1,
    }
    assert list(rows["Caritas"].open_over_90_days) == ["staged", "voucher_issued", "in_counselling"]
    assert rows["Diakonie"].open_over_90_days == {"no_show": 1}
    assert rows["Gesamt"].open_over_90_days == {
        "staged": 1,
        "voucher_issued": 2,
        "no_show": 1,
        "in_counselling": 1,
    }


def test_escalations_of_cases_active_in_the_period() -> None:
    cases = [
        case(1, escalations=3, open_escalations=1),
        case(2, "Diakonie", escalations=1, open_escalations=1),
        # closed before the period: its escalations are not in this report
        case(
            3,
            state="closed",
            started_on=date(2025, 1, 1),
            closed_on=date(2025, 10, 1),
            escalations=5,
            open_escalations=0,
        ),
        # started before the period, still open: counts
        case(4, started_on=date(2025, 6, 1), escalations=2, open_escalations=2),
    ]
    rows = by_provider(kennzahlen(cases, START, END, STATES))
    assert (rows["Caritas"].escalations, rows["Caritas"].open_escalations) == (5, 3)
    assert (rows["Diakonie"].escalations, rows["Diakonie"].open_escalations) == (1, 1)
    assert (rows["Gesamt"].escalations, rows["Gesamt"].open_escalations) == (6, 4)


def waiting_case(rid: int, days: int, provider: str = "Caritas") -> CaseFacts:
    issued = date(2026, 3, 1)
    return case(
        rid,
        provider,
        state="in_counselling",
        first_appointment_on=issued + timedelta(days=days),
        vouchers=(v(issued, "redeemed", provider),),
    )


def test_days_to_first_appointment_median_and_p90_nearest_rank() -> None:
    days = [3, 14, 7, 1, 21, 10, 5, 30, 8, 12, 60]  # n = 11
    rows = by_provider(
        kennzahlen([waiting_case(i, d) for i, d in enumerate(days)], START, END, STATES)
    )
    row = rows["Caritas"]
    assert row.first_appointment_days_median == 10.0
    # sorted: 1 3 5 7 8 10 12 14 21 30 60; rank ceil(0.9 * 11) = 10 -> 30
    assert row.first_appointment_days_p90 == 30.0


def test_days_to_first_appointment_uses_the_redeemed_voucher() -> None:
    rerouted = case(
        1,
        "Diakonie",
        state="in_counselling",
        first_appointment_on=date(2026, 4, 11),
        vouchers=(
            v(date(2026, 2, 1), "returned_invalid", "Caritas"),
            v(date(2026, 4, 1), "redeemed", "Diakonie"),
        ),
    )
    outside = replace(waiting_case(2, 5), first_appointment_on=date(2025, 12, 20))
    rows = by_provider(kennzahlen([rerouted, outside], START, END, STATES))
    assert rows["Diakonie"].first_appointment_days_median == 10.0
    assert rows["Diakonie"].first_appointment_days_p90 == 10.0
    assert rows["Caritas"].first_appointment_days_median is None  # its only case is outside
    assert rows["Gesamt"].first_appointment_days_median == 10.0  # the other is outside


def test_even_count_median_and_total_row_recomputed_not_summed() -> None:
    cases = [waiting_case(1, 2), waiting_case(2, 4), waiting_case(3, 100, "Diakonie")]
    rows = by_provider(kennzahlen(cases, START, END, STATES))
    assert rows["Caritas"].first_appointment_days_median == 3.0
    assert rows["Caritas"].first_appointment_days_p90 == 4.0  # ceil(0.9 * 2) = 2
    assert rows["Gesamt"].first_appointment_days_median == 4.0
    assert rows["Gesamt"].first_appointment_days_p90 == 100.0  # ceil(0.9 * 3) = 3


def test_percentile_nearest_rank() -> None:
    assert percentile_nearest_rank([], 90) is None
    assert percentile_nearest_rank([7], 90) == 7.0
    values = list(range(1, 11))  # 1..10
    assert percentile_nearest_rank(values, 90) == 9.0
    assert percentile_nearest_rank(values, 91) == 10.0
    assert percentile_nearest_rank(values, 50) == 5.0
    with pytest.raises(ValueError):
        percentile_nearest_rank(values, 0)


def test_period_must_not_be_reversed() -> None:
    with pytest.raises(ValueError):
        kennzahlen([], END, START, STATES)


def test_columns_cover_every_field_and_phase_titles_are_german() -> None:
    fields = [name for name, _ in COLUMNS]
    assert sorted(fields) == sorted(set(KennzahlenRow.__dataclass_fields__) - {"bases"})
    assert fields[0] == "provider"
    assert dict(COLUMNS)["vouchers_not_started"] == "davon Beratung noch nicht eingeleitet"
    assert registry_states(load_registry()) == STATES  # the shipped process says the same
