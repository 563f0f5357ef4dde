"""German formats (DIN 5008) used by reports, dashboard, PDFs and e-mails."""

from datetime import UTC, date, datetime

import pytest

from models.german import anzahl, datum, prozent, zahl


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2026, 3, 2), "02.03.2026"),
        (datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "02.03.2026"),  # 00:30 in Berlin
        (None, "–"),
    ],
)
def test_dates_are_written_day_month_year_in_berlin(value: date | None, expected: str) -> None:
    assert datum(value) == expected


def test_numbers_take_a_decimal_comma_and_the_thousands_separator_asked_for() -> None:
    assert zahl(1234.56) == "1234,6"
    assert zahl(1234.56, 2, thousands=".") == "1.234,56"
    assert zahl(1234567, 0, thousands="\u202f") == "1\u202f234\u202f567"
    assert zahl(None, missing="") == ""


def test_shares_are_written_as_percent_with_one_decimal_and_a_non_breaking_space() -> None:
    assert prozent(0.125) == "12,5\u00a0%"
    assert prozent(-0.086) == "-8,6\u00a0%"
    assert prozent(0.6, space=" ") == "60,0 %"  # a CSV cell
    assert prozent(None) == "–"


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 Tage"), (1, "1 Tag"), (2, "2 Tage"), (-1, "-1 Tag"), (12345, "12\u202f345 Tage")],
)
def test_counts_take_the_noun_in_singular_only_for_one(count: int, expected: str) -> None:
    assert anzahl(count, "Tag", "Tage") == expected
    assert anzahl(None, "Tag", "Tage") == "–"
