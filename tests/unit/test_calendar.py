"""Deadline arithmetic (models.calendar): § 26 SGB X with §§ 187-193 BGB, § 37 Abs. 2 SGB X.

Every expected date below was checked against the real 2023-2028 calendar (weekday and
public holidays of the Land named in the case).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.calendar import (
    LANDS,
    InvalidPeriod,
    Period,
    deemed_receipt,
    due_date,
    is_working_day,
    parse_period,
)

D = date.fromisoformat


# --- parse_period ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P14D", Period(days=14)),
        ("P1D", Period(days=1)),
        ("P6W", Period(weeks=6)),
        ("P26W", Period(weeks=26)),
        ("P1M", Period(months=1)),
        ("P1Y", Period(years=1)),
        ("P1M14D", Period(months=1, days=14)),
        ("P1Y2M3W4D", Period(years=1, months=2, weeks=3, days=4)),
        ("P0Y1M", Period(months=1)),
    ],
)
def test_parse_period_valid(text: str, expected: Period) -> None:
    assert parse_period(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "14D",
        "P14",
        "PT24H",
        "P1DT2H",
        "PT0S",
        "-P14D",
        "P-14D",
        "P0D",
        "P0W",
        "P0Y0M",
        "P1.5D",
        "P1,5D",
        "p14d",
        " P14D",
        "P14D ",
        "P1D1M",
        "P14X",
        "P1W1W",
        "vierzehn Tage",
    ],
)
def test_parse_period_rejects_with_german_message_naming_the_text(text: str) -> None:
    with pytest.raises(InvalidPeriod) as info:
        parse_period(text)
    message = str(info.value)
    assert message.startswith("Ungültige Frist")
    assert f"„{text}“" in message


def test_invalid_period_is_a_value_error() -> None:
    assert issubclass(InvalidPeriod, ValueError)
    with pytest.raises(ValueError, match="Ungültige Frist"):
        due_date(D("2025-03-03"), "PT1H")


def test_period_is_frozen() -> None:
    period = parse_period("P14D")
    with pytest.raises(AttributeError):
        period.days = 3  # type: ignore[misc]


# --- calendar-day, week, month and year periods --------------------------------------------


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        # day periods: start not counted, end = start + n (§ 187 Abs. 1, § 188 Abs. 1 BGB)
        ("2025-03-03", "P1D", "2025-03-04"),
        ("2025-03-03", "P14D", "2025-03-17"),
        ("2025-09-01", "P30D", "2025-10-01"),
        # week periods end on the same weekday (§ 188 Abs. 2 BGB)
        ("2025-09-03", "P6W", "2025-10-15"),  # Wed -> Wed
        ("2025-03-05", "P26W", "2025-09-03"),  # Wed -> Wed
        ("2025-06-12", "P26W", "2025-12-11"),  # Thu -> Thu
        ("2025-03-07", "P1W", "2025-03-14"),  # Fri -> Fri
        # month and year periods: same day number, else the month's last day (§ 188 Abs. 3 BGB)
        ("2025-01-31", "P1M", "2025-02-28"),  # Fri
        ("2024-01-31", "P1M", "2024-02-29"),  # leap year, Thu
        ("2024-01-30", "P1M", "2024-02-29"),  # leap year, Thu
        ("2023-01-30", "P1M", "2023-02-28"),  # not a leap year, Tue
        ("2023-01-31", "P1M", "2023-02-28"),
        ("2025-03-31", "P1M", "2025-04-30"),  # Wed
        ("2025-08-31", "P1M", "2025-09-30"),  # Tue
        ("2025-01-15", "P3M", "2025-04-15"),  # Tue
        ("2024-02-29", "P1Y", "2025-02-28"),  # Fri
        ("2024-02-29", "P4Y", "2028-02-29"),  # Tue
    ],
)
def test_due_date_plain(start: str, period: str, expected: str) -> None:
    assert due_date(D(start), period) == D(expected)


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        # Saturday and Sunday move to Monday (§ 26 Abs. 3 SGB X, § 193 BGB)
        ("2025-05-26", "P5D", "2025-06-02"),  # Sat 31 May -> Mon
        ("2025-05-26", "P6D", "2025-06-02"),  # Sun 1 Jun -> Mon
        ("2025-05-24", "P1W", "2025-06-02"),  # Sat -> Sat 31 May -> Mon
        ("2025-10-31", "P1M", "2025-12-01"),  # Sun 30 Nov -> Mon
        ("2025-08-31", "P6M", "2026-03-02"),  # Sat 28 Feb 2026 -> Mon
        ("2025-11-30", "P3M", "2026-03-02"),  # Sat 28 Feb 2026 -> Mon
        ("2025-03-15", "P1Y", "2026-03-16"),  # Sun -> Mon
        # combined: months first, days last (cf. § 189 Abs. 2 BGB)
        ("2025-01-17", "P1M14D", "2025-03-03"),  # 17 Feb + 14 = Mon 3 Mar
        ("2025-01-15", "P1M14D", "2025-03-03"),  # 15 Feb + 14 = Sat 1 Mar -> Mon
        ("2025-01-31", "P1M1D", "2025-03-03"),  # 28 Feb + 1 = Sat 1 Mar -> Mon
    ],
)
def test_due_date_weekend_moves_to_monday(start: str, period: str, expected: str) -> None:
    assert due_date(D(start), period) == D(expected)


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        # Christmas 2025: Thu 25., Fri 26., Sat 27., Sun 28. -> Mon 29.12.
        ("2025-12-11", "P14D", "2025-12-29"),
        ("2025-11-27", "P4W", "2025-12-29"),
        ("2025-11-13", "P6W", "2025-12-29"),
        ("2025-12-12", "P14D", "2025-12-29"),  # ends on 26.12.
        ("2025-11-26", "P1M", "2025-12-29"),
        # Christmas 2024: Wed 25. -> Thu 26. is a holiday too -> Fri 27.12.
        ("2024-12-11", "P14D", "2024-12-27"),
        ("2024-12-12", "P14D", "2024-12-27"),
        # 24.12. and 31.12. are working days
        ("2025-12-10", "P14D", "2025-12-24"),
        ("2025-12-17", "P14D", "2025-12-31"),
        # New Year: 1.1.2025 (Wed) -> 2.1., 1.1.2026 (Thu) -> 2.1.
        ("2024-12-18", "P14D", "2025-01-02"),
        ("2024-12-01", "P1M", "2025-01-02"),
        ("2025-12-18", "P14D", "2026-01-02"),
        ("2025-12-04", "P4W", "2026-01-02"),
        # Easter 2025: Karfreitag 18.4., Ostermontag 21.4. -> Tue 22.4.
        ("2025-04-04", "P14D", "2025-04-22"),
        ("2025-03-24", "P4W", "2025-04-22"),
        ("2025-03-21", "P1M", "2025-04-22"),
        # Easter 2024: Karfreitag 29.3., Ostermontag 1.4. -> Tue 2.4.
        ("2024-03-15", "P14D", "2024-04-02"),
        ("2024-03-01", "P1M", "2024-04-02"),
        # Easter 2026: Karfreitag 3.4., Ostermontag 6.4. -> Tue 7.4.
        ("2026-03-20", "P14D", "2026-04-07"),
        ("2026-03-23", "P14D", "2026-04-07"),
        # Christi Himmelfahrt 29.5.2025 -> Fri 30.5., Pfingstmontag 9.6.2025 -> Tue 10.6.
        ("2025-05-15", "P14D", "2025-05-30"),
        ("2025-05-26", "P14D", "2025-06-10"),
        # Tag der Deutschen Einheit, Fri 3.10.2025 -> Mon 6.10.
        ("2025-09-19", "P14D", "2025-10-06"),
    ],
)
def test_due_date_holidays_nw(start: str, period: str, expected: str) -> None:
    assert due_date(D(start), period, "NW") == D(expected)


@pytest.mark.parametrize(
    ("start", "period", "land", "expected"),
    [
        # Fronleichnam (Thu 19.6.2025, Thu 4.6.2026, Thu 30.5.2024): holiday in NW, BY, BW, ...
        ("2025-06-05", "P14D", "NW", "2025-06-20"),
        ("2025-06-05", "P14D", "BY", "2025-06-20"),
        ("2025-06-05", "P14D", "BW", "2025-06-20"),
        ("2025-06-05", "P14D", "BE", "2025-06-19"),
        ("2025-06-05", "P14D", "HH", "2025-06-19"),
        ("2025-06-05", "P14D", "NI", "2025-06-19"),
        ("2026-05-21", "P14D", "NW", "2026-06-05"),
        ("2026-05-21", "P14D", "BE", "2026-06-04"),
        ("2024-05-16", "P14D", "NW", "2024-05-31"),
        ("2024-05-16", "P14D", "HH", "2024-05-30"),
        # Reformationstag Fri 31.10.2025: holiday in HH, NI, SN, ... not in NW
        ("2025-10-17", "P14D", "NW", "2025-10-31"),
        ("2025-10-17", "P14D", "HH", "2025-11-03"),
        ("2025-10-17", "P14D", "NI", "2025-11-03"),
        ("2025-10-17", "P14D", "SN", "2025-11-03"),
        # Allerheiligen Fri 1.11.2024: holiday in NW, BY, not in BE, HH
        ("2024-10-18", "P14D", "NW", "2024-11-04"),
        ("2024-10-18", "P14D", "BY", "2024-11-04"),
        ("2024-10-18", "P14D", "BE", "2024-11-01"),
        ("2024-10-18", "P14D", "HH", "2024-11-01"),
        # Buß- und Bettag Wed 19.11.2025: only in SN
        ("2025-11-05", "P14D", "SN", "2025-11-20"),
        ("2025-11-05", "P14D", "NW", "2025-11-19"),
        # Internationaler Frauentag Mon 8.3.2027 in BE (Sun 8.3.2026 moves anyway)
        ("2027-02-22", "P14D", "BE", "2027-03-09"),
        ("2027-02-22", "P14D", "NW", "2027-03-08"),
    ],
)
def test_due_date_holidays_differ_by_land(
    start: str, period: str, land: str, expected: str
) -> None:
    assert due_date(D(start), period, land) == D(expected)


@pytest.mark.parametrize(
    ("start", "period", "closures", "expected"),
    [
        ("2025-06-02", "P14D", [], "2025-06-16"),
        ("2025-06-02", "P14D", ["2025-06-16"], "2025-06-17"),
        ("2025-06-02", "P14D", ["2025-06-16", "2025-06-17"], "2025-06-18"),
        # a closure before the end does not shorten or lengthen a calendar period
        ("2025-06-02", "P14D", ["2025-06-10", "2025-06-13"], "2025-06-16"),
        # Rosenmontag 16.2.2026 is no public holiday in NW, but may be a closure day
        ("2026-02-02", "P14D", [], "2026-02-16"),
        ("2026-02-02", "P14D", ["2026-02-16"], "2026-02-17"),
        # closures chain with holidays and the weekend: 24.12. closed, 25./26. holidays,
        # 27./28. weekend -> Mon 29.12.2025; 29.12. closed too -> Tue 30.12.
        ("2025-12-10", "P14D", ["2025-12-24"], "2025-12-29"),
        ("2025-12-10", "P14D", ["2025-12-24", "2025-12-29"], "2025-12-30"),
        # closure on the Friday after Christi Himmelfahrt (Brückentag) -> Mon 2.6.2025
        ("2025-05-15", "P14D", ["2025-05-30"], "2025-06-02"),
    ],
)
def test_due_date_closures(start: str, period: str, closures: list[str], expected: str) -> None:
    closed = {D(day) for day in closures}
    assert due_date(D(start), period, "NW", closures=closed) == D(expected)


@pytest.mark.parametrize("weeks", [1, 2, 4, 6, 8, 13, 26, 52])
@pytest.mark.parametrize(
    "start", ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06", "2025-03-07"]
)
def test_week_periods_end_on_same_weekday_unless_moved(start: str, weeks: int) -> None:
    begin = D(start)
    raw_end = begin + timedelta(weeks=weeks)
    result = due_date(begin, f"P{weeks}W", "NW")
    if is_working_day(raw_end, "NW"):
        assert result == raw_end
        assert result.weekday() == begin.weekday()
    else:
        assert result > raw_end


@pytest.mark.parametrize("land", sorted(LANDS))
@pytest.mark.parametrize("period", ["P1D", "P3D", "P14D", "P2W", "P1M", "P1Y"])
def test_due_date_is_first_working_day_not_before_raw_end(land: str, period: str) -> None:
    """Across a whole year, the result is a working day and every day skipped was not."""
    closures = {D("2025-02-14"), D("2025-07-01"), D("2025-12-31")}
    start = D("2025-01-01")
    for offset in range(366):
        begin = start + timedelta(days=offset)
        parsed = parse_period(period)
        if parsed.months or parsed.years:
            continue  # the raw end of month periods is covered by the tables above
        raw_end = begin + timedelta(weeks=parsed.weeks, days=parsed.days)
        result = due_date(begin, period, land, closures=closures)
        assert result >= raw_end
        assert is_working_day(result, land, closures)
        day = raw_end
        while day < result:
            assert not is_working_day(day, land, closures)
            day += timedelta(days=1)


# --- working-day periods ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "period", "land", "closures", "expected"),
    [
        ("2025-03-03", "P1D", "NW", [], "2025-03-04"),
        ("2025-03-03", "P10D", "NW", [], "2025-03-17"),  # two full weeks
        ("2025-03-07", "P1D", "NW", [], "2025-03-10"),  # Fri -> Mon
        ("2025-05-31", "P1D", "NW", [], "2025-06-02"),  # start on Saturday
        ("2025-05-28", "P1D", "NW", [], "2025-05-30"),  # over Christi Himmelfahrt
        # over Easter 2025: 17. (1), 18.-21. skipped, 22. (2), 23. (3)
        ("2025-04-16", "P3D", "NW", [], "2025-04-23"),
        # Christmas 2025: 23. (1), 24. (2), 29. (3), 30. (4), 31. (5)
        ("2025-12-22", "P5D", "NW", [], "2025-12-31"),
        # with 24. and 31. closed: 23., 29., 30., 2.1., 5.1.2026
        ("2025-12-22", "P5D", "NW", ["2025-12-24", "2025-12-31"], "2026-01-05"),
        # Fronleichnam 19.6.2025 counts in BE, not in NW
        ("2025-06-16", "P5D", "NW", [], "2025-06-24"),
        ("2025-06-16", "P5D", "BE", [], "2025-06-23"),
        # a closure in the middle lengthens a working-day period
        ("2025-03-03", "P10D", "NW", ["2025-03-05"], "2025-03-18"),
    ],
)
def test_due_date_working_days(
    start: str, period: str, land: str, closures: list[str], expected: str
) -> None:
    closed = {D(day) for day in closures}
    result = due_date(D(start), period, land, working_days=True, closures=closed)
    assert result == D(expected)
    assert is_working_day(result, land, closed)


def test_working_days_count_exactly_n_working_days() -> None:
    closures = {D("2025-02-14")}
    for offset in range(366):
        begin = D("2025-01-01") + timedelta(days=offset)
        result = due_date(begin, "P7D", "NW", working_days=True, closures=closures)
        counted = sum(
            is_working_day(begin + timedelta(days=k), "NW", closures)
            for k in range(1, (result - begin).days + 1)
        )
        assert counted == 7
        assert is_working_day(result, "NW", closures)


@pytest.mark.parametrize("period", ["P2W", "P1M", "P1Y", "P1M2D", "P1W1D"])
def test_working_days_accept_only_day_periods(period: str) -> None:
    with pytest.raises(InvalidPeriod, match=f"„{period}“"):
        due_date(D("2025-03-03"), period, working_days=True)


# --- is_working_day ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "land", "closures", "expected"),
    [
        ("2025-03-03", "NW", [], True),  # Monday
        ("2025-03-08", "NW", [], False),  # Saturday
        ("2025-03-09", "NW", [], False),  # Sunday
        ("2025-12-24", "NW", [], True),
        ("2025-12-25", "NW", [], False),
        ("2025-12-26", "NW", [], False),
        ("2026-01-01", "NW", [], False),
        ("2025-04-18", "NW", [], False),  # Karfreitag
        ("2025-04-21", "NW", [], False),  # Ostermontag
        ("2025-06-19", "NW", [], False),  # Fronleichnam
        ("2025-06-19", "BE", [], True),
        ("2025-10-31", "NW", [], True),  # Reformationstag
        ("2025-10-31", "HH", [], False),
        ("2025-03-03", "NW", ["2025-03-03"], False),  # closure day
        ("2025-03-04", "NW", ["2025-03-03"], True),
    ],
)
def test_is_working_day(day: str, land: str, closures: list[str], expected: bool) -> None:
    assert is_working_day(D(day), land, {D(c) for c in closures}) is expected


# --- lands ---------------------------------------------------------------------------------------


def test_lands_are_the_sixteen_laender() -> None:
    assert len(LANDS) == 16
    assert {"NW", "BY", "BE", "HH", "SN", "TH"} <= LANDS


@pytest.mark.parametrize("land", ["XX", "nw", "", "DE", "DE-NW", "Augsburg", "NRW"])
def test_unknown_land_raises(land: str) -> None:
    with pytest.raises(ValueError, match="Unbekanntes Bundesland") as info:
        due_date(D("2025-03-03"), "P14D", land)
    assert f"„{land}“" in str(info.value)
    assert not isinstance(info.value, InvalidPeriod)
    with pytest.raises(ValueError, match="Unbekanntes Bundesland"):
        is_working_day(D("2025-03-03"), land)
    with pytest.raises(ValueError, match="Unbekanntes Bundesland"):
        due_date(D("2025-03-03"), "P3D", land, working_days=True)


def test_end_beyond_year_9999_is_an_invalid_period() -> None:
    with pytest.raises(InvalidPeriod, match="9999"):
        due_date(D("9999-12-01"), "P1M")
    with pytest.raises(InvalidPeriod, match="9999"):
        due_date(D("9999-12-30"), "P14D")


def test_a_receipt_beyond_year_9999_is_an_invalid_period_not_an_overflow() -> None:
    with pytest.raises(InvalidPeriod, match="9999"):
        deemed_receipt(D("9999-12-30"))


# --- deemed receipt (§ 37 Abs. 2 SGB X) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("posted", "expected"),
    [
        # before 2025: third day after posting
        ("2024-06-03", "2024-06-06"),  # Mon -> Thu
        ("2024-12-27", "2024-12-30"),  # Fri -> Mon
        ("2024-12-31", "2025-01-03"),  # posted 2024: still three days
        ("2024-12-26", "2024-12-29"),  # lands on Sunday: not moved
        ("2024-03-27", "2024-03-30"),  # Easter Saturday: not moved
        # from 2025-01-01: fourth day after posting
        ("2025-01-01", "2025-01-05"),  # Sunday: not moved
        ("2025-01-02", "2025-01-06"),  # Thu -> Mon
        ("2025-03-04", "2025-03-08"),  # Saturday: not moved
        ("2025-06-05", "2025-06-09"),  # Pfingstmontag: not moved
        ("2025-12-22", "2025-12-26"),  # 2. Weihnachtstag: not moved
        ("2026-03-02", "2026-03-06"),  # Mon -> Fri
    ],
)
def test_deemed_receipt(posted: str, expected: str) -> None:
    assert deemed_receipt(D(posted)) == D(expected)


def test_deemed_receipt_then_due_date() -> None:
    """Receipt on a Sunday is not moved, but a deadline running from it ends on a working day."""
    received = deemed_receipt(D("2025-01-01"))
    assert received == D("2025-01-05")
    assert due_date(received, "P14D") == D("2025-01-20")  # Sun 19.1. -> Mon 20.1.
