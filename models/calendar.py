"""Deadline arithmetic (Fristberechnung) for referrals, pure and without I/O.

This module holds the calendar rules of DESIGN §3:

- `parse_period` reads an ISO 8601 duration (``P14D``, ``P6W``, ``P1M14D`` …) into a
  `Period`; bad text raises `InvalidPeriod`.
- `due_date` computes the last day of a period under § 26 SGB X with §§ 187-193 BGB,
  either in calendar days/weeks/months/years or in working days (Arbeitstage).
- `is_working_day` tells whether a day is a working day in a Land, given the office's
  closure days.
- `deemed_receipt` gives the day a posted letter counts as received (§ 37 Abs. 2 SGB X).

All dates are local calendar dates in Europe/Berlin (plain `datetime.date`, no time of
day); converting an instant to such a date is `models.clock.local_date`. Public holidays
come from the `holidays` package (``holidays.country_holidays("DE", subdiv=land)``), at
the level of the whole Land; office closure days are a separate calendar passed in by
the caller. No database, Prefect or web code lives here.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import holidays

__all__ = [
    "LANDS",
    "HolidayCalendar",
    "InvalidPeriod",
    "Period",
    "add_months",
    "deemed_receipt",
    "due_date",
    "is_working_day",
    "parse_period",
]

LANDS: frozenset[str] = frozenset(
    {"BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH"}
)
"""The sixteen German Länder by their ISO 3166-2:DE codes (without the ``DE-`` prefix)."""

# From this posting date on, a letter counts as received on the fourth day after posting,
# before it on the third (§ 37 Abs. 2 SGB X as amended by the Postrechtsmodernisierungsgesetz).
_FOUR_DAY_RULE_FROM = date(2025, 1, 1)

_PERIOD_RE = re.compile(
    r"P(?:(?P<years>[0-9]+)Y)?(?:(?P<months>[0-9]+)M)?(?:(?P<weeks>[0-9]+)W)?(?:(?P<days>[0-9]+)D)?"
)

_SATURDAY = 5  # date.weekday(): Monday is 0


class InvalidPeriod(ValueError):
    """A period text that is not a usable deadline period; the message is German and names it."""


@dataclass(frozen=True)
class Period:
    """A deadline period as parsed from ISO 8601: whole years, months, weeks and days.

    All parts are non-negative integers and at least one is positive. Years and months
    are calendar months (§ 188 Abs. 2, 3 BGB), weeks are seven calendar days ending on
    the same weekday (§ 188 Abs. 2 BGB), days are calendar days unless `due_date` is
    asked for working days.
    """

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0

    @property
    def is_days_only(self) -> bool:
        """True if the period is a plain day count (``PnD``), the only form allowed in
        working days."""
        return self.years == 0 and self.months == 0 and self.weeks == 0


def parse_period(period: str) -> Period:
    """Parse an ISO 8601 duration into a `Period`.

    Accepted shape: ``P[nY][nM][nW][nD]`` with non-negative whole numbers in this order,
    e.g. ``P14D``, ``P6W``, ``P26W``, ``P1M``, ``P1Y``, ``P1M14D``. The text must match
    exactly (upper-case designators, no surrounding blanks).

    Raises `InvalidPeriod` (a `ValueError`) with a German message naming the text if it
    has a time part (``PT…``, deadlines run in whole days, § 26 Abs. 1 SGB X with
    § 187 BGB), is negative, is zero, has fractions, or is not a duration at all.
    """
    if not isinstance(period, str):
        raise InvalidPeriod(f"Ungültige Frist {period!r}: erwartet wird ein Text wie „P14D“.")
    if period.startswith("-P") or re.search(r"[PYMWD]-[0-9]", period):
        raise InvalidPeriod(f"Ungültige Frist „{period}“: Fristen können nicht negativ sein.")
    if period.startswith("P") and "T" in period:
        raise InvalidPeriod(
            f"Ungültige Frist „{period}“: Zeitanteile (PT…) sind nicht zulässig, "
            "Fristen laufen nach ganzen Tagen."
        )
    match = _PERIOD_RE.fullmatch(period)
    if match is None or not any(match.groupdict().values()):
        raise InvalidPeriod(
            f"Ungültige Frist „{period}“: erwartet wird eine ISO-8601-Dauer wie "
            "„P14D“, „P6W“, „P1M“ oder „P1M14D“."
        )
    parts = {name: int(value) if value else 0 for name, value in match.groupdict().items()}
    if not any(parts.values()):
        raise InvalidPeriod(f"Ungültige Frist „{period}“: eine Frist von null Tagen gibt es nicht.")
    return Period(**parts)


@dataclass(frozen=True)
class _Germany:
    subdivisions: frozenset[str]


_GERMANY = _Germany(frozenset(holidays.country_holidays("DE").subdivisions))


@dataclass(frozen=True)
class HolidayCalendar:
    """Whose public holidays count for a Kommune's deadlines (§ 26 Abs. 3 SGB X).

    `land` is the Land's ISO code (``NW``); `subdivision` a finer subdivision the
    `holidays` package knows inside it (today ``Augsburg`` in ``BY``: Hohes Friedensfest);
    `categories` the `holidays` categories that apply: ``public`` always, ``catholic``
    for predominantly Catholic municipalities (Mariä Himmelfahrt in Bavaria, Fronleichnam
    in parts of Saxony and Thuringia). Raises `ValueError` (German message) for an
    unknown Land, subdivision or category.
    """

    land: str = "NW"
    subdivision: str | None = None
    categories: tuple[str, ...] = ("public",)

    def __post_init__(self) -> None:
        _check_land(self.land)
        extra = sorted(_GERMANY.subdivisions - LANDS)
        if self.subdivision is not None and self.subdivision not in extra:
            raise ValueError(
                f"Unbekanntes Feiertagsgebiet „{self.subdivision}“: bekannt sind "
                f"{', '.join(extra)} (sonst genügt das Bundesland)."
            )
        unknown = [c for c in self.categories if c not in ("public", "catholic")]
        if unknown or "public" not in self.categories:
            raise ValueError(
                f"Feiertagskategorien {list(self.categories)!r}: erlaubt sind „public“ "
                "(immer) und „catholic“."
            )

    @property
    def subdiv(self) -> str:
        """The `holidays` subdivision code to ask for."""
        return self.subdivision or self.land


def _calendar(land: str | HolidayCalendar) -> HolidayCalendar:
    return land if isinstance(land, HolidayCalendar) else HolidayCalendar(land)


def _check_land(land: str) -> None:
    if land not in LANDS:
        raise ValueError(
            f"Unbekanntes Bundesland „{land}“: erwartet wird eines von {', '.join(sorted(LANDS))}."
        )


@cache
def _public_holidays(calendar: HolidayCalendar, year: int) -> frozenset[date]:
    """Public holidays of `calendar` in `year`, from the `holidays` package (cached)."""
    found = holidays.country_holidays(
        "DE", subdiv=calendar.subdiv, years=year, categories=calendar.categories
    )
    return frozenset(found.keys())


def _is_working_day(day: date, land: HolidayCalendar, closures: Collection[date]) -> bool:
    return (
        day.weekday() < _SATURDAY
        and day not in _public_holidays(land, day.year)
        and day not in closures
    )


def is_working_day(
    day: date, land: str | HolidayCalendar = "NW", closures: Collection[date] = ()
) -> bool:
    """Whether `day` is a working day for the office.

    `day` is a local calendar date (Europe/Berlin). It is not a working day if it is a
    Saturday or Sunday, a public holiday of `land` (ISO code such as ``"NW"``; holidays
    from ``holidays.country_holidays("DE", subdiv=land)``; or a `HolidayCalendar` with
    a subdivision and categories) or one of the office's
    `closures` (closure days, a calendar separate from public holidays). These are the
    days on which a deadline cannot end (§ 26 Abs. 3 SGB X, § 193 BGB).

    Raises `ValueError` (German message) if `land` is not one of `LANDS`.
    """
    return _is_working_day(day, _calendar(land), closures)


def _next_working_day_from(day: date, land: HolidayCalendar, closures: Collection[date]) -> date:
    """`day` itself if it is a working day, else the next working day after it."""
    while not _is_working_day(day, land, closures):
        day += timedelta(days=1)
    return day


def _add_months(start: date, months: int) -> date:
    """Same day number `months` later; the month's last day if that month is shorter
    (§ 188 Abs. 2, 3 BGB)."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = _stdlib_calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last))


def add_months(start: date, months: int) -> date:
    """`start` moved by `months` calendar months (negative: back): the same day number, or
    the month's last day if that month is shorter (§ 188 Abs. 2, 3 BGB; 31.3. - 1 month is
    28./29.2.). Not moved for weekends or holidays. Raises `ValueError` outside years
    1-9999."""
    return _add_months(start, months)


def due_date(
    start: date,
    period: str,
    land: str | HolidayCalendar = "NW",
    *,
    working_days: bool = False,
    closures: Collection[date] = (),
) -> date:
    """The last day of a deadline: the period ends when this local calendar date ends.

    `start` is the day of the triggering event (e.g. receipt of the referral), a local
    calendar date in Europe/Berlin; it is not counted (§ 187 Abs. 1 BGB). `period` is an
    ISO 8601 duration (see `parse_period`); `land` the ISO code of the Land whose public
    holidays apply; `closures` the office's closure days.

    Calendar periods (``working_days=False``, the default; § 26 Abs. 1 SGB X with
    §§ 187, 188 BGB):

    - years and months are added first: the end is the day with the same number as
      `start`, or the month's last day if that month is shorter (§ 188 Abs. 2, 3 BGB;
      31 Jan + ``P1M`` is 28 or 29 Feb);
    - then weeks and days are added as calendar days (weeks end on the same weekday,
      § 188 Abs. 2 BGB; days are counted last, cf. § 189 Abs. 2 BGB);
    - an end on a Saturday, Sunday, public holiday of `land` or closure day moves to
      the next working day (§ 26 Abs. 3 SGB X, § 193 BGB).

    Working-day periods (``working_days=True``, for Mindeststandards configured in
    Arbeitstage): only ``PnD`` is allowed; the result is the n-th working day after
    `start` (weekends, public holidays of `land` and closures are skipped), so it is a
    working day by construction.

    Raises `InvalidPeriod` (a `ValueError`) for a bad period, for a non-``PnD`` period
    with ``working_days=True`` and for an end beyond the year 9999; `ValueError`
    (German message) for an unknown `land`. `land` may be a `HolidayCalendar` (a Kommune's
    subdivision and holiday categories).
    """
    calendar = _calendar(land)
    parsed = parse_period(period)
    closed = frozenset(closures)
    try:
        if working_days:
            if not parsed.is_days_only:
                raise InvalidPeriod(
                    f"Ungültige Frist „{period}“: in Arbeitstagen sind nur Tagesfristen "
                    "(„PnD“) zulässig."
                )
            day = start
            for _ in range(parsed.days):
                day = _next_working_day_from(day + timedelta(days=1), calendar, closed)
            return day
        end = _add_months(start, parsed.years * 12 + parsed.months)
        end += timedelta(weeks=parsed.weeks, days=parsed.days)
        return _next_working_day_from(end, calendar, closed)
    except (OverflowError, ValueError) as error:
        if isinstance(error, InvalidPeriod):
            raise
        raise InvalidPeriod(
            f"Ungültige Frist „{period}“: das Fristende läge nach dem Jahr 9999."
        ) from error


def deemed_receipt(posted: date) -> date:
    """The day a letter sent by ordinary post counts as received (Zugangsfiktion).

    `posted` is the local calendar date (Europe/Berlin) the letter was handed to the
    postal service. Result: `posted` + 4 calendar days if `posted` is on or after
    2025-01-01, `posted` + 3 calendar days before that (§ 37 Abs. 2 Satz 1 SGB X, the
    four-day rule as amended by the Postrechtsmodernisierungsgesetz). The result is not
    moved for Saturdays, Sundays or holidays (DESIGN §3); a deadline that starts with
    receipt then runs from this day via `due_date`. Raises `InvalidPeriod` (a `ValueError`,
    German message) when the day would lie after the year 9999 (never an `OverflowError`).
    """
    days = 4 if posted >= _FOUR_DAY_RULE_FROM else 3
    try:
        return posted + timedelta(days=days)
    except OverflowError:
        raise InvalidPeriod(
            f"Der Zugang eines am {posted.isoformat()} aufgegebenen Briefes läge nach dem "
            "Jahr 9999."
        ) from None
