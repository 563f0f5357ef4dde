"""Reporting periods: months of a period, half-years and the half-year report's due date.

Sources: seed 002 §4.1 (Bericht 01 per period, the chart per month), §4.6.3 § 5 of the
Hamm contract (half-yearly report, Stichtag 30.6./31.12., due on the last working day of
the following month).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from models.calendar import is_working_day


def month_ends(start: date, end: date) -> list[tuple[date, date]]:
    """(first day, last day) of every month touching ``start`` … ``end``, clipped to it."""
    months = []
    year, month = start.year, start.month
    while date(year, month, 1) <= end:
        first = max(date(year, month, 1), start)
        last = min(date(year, month, calendar.monthrange(year, month)[1]), end)
        months.append((first, last))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def half_year(year: int, half: int) -> tuple[date, date]:
    """First and last day (the Stichtag) of half-year `half` (1 or 2) of `year`."""
    return (
        (date(year, 1, 1), date(year, 6, 30))
        if half == 1
        else (date(year, 7, 1), date(year, 12, 31))
    )


def report_due(stichtag: date, land: str = "NW") -> date:
    """The last working day of the month after the Stichtag (Hamm contract, § 5), with
    the public holidays of `land` (`models.calendar.is_working_day`)."""
    year, month = (
        (stichtag.year + 1, 1) if stichtag.month == 12 else (stichtag.year, stichtag.month + 1)
    )
    day = date(year, month, calendar.monthrange(year, month)[1])
    while not is_working_day(day, land):
        day -= timedelta(days=1)
    return day
