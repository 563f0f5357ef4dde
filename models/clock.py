"""Time as a value: a `Clock` is read once where work starts, and `now` travels inward.

All datetimes are timezone-aware. Calendar dates of deadlines are local dates in
Europe/Berlin (DESIGN §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


class Clock(Protocol):
    """Something that tells the current time (aware datetime)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FakeClock:
    """A clock for tests and simulations that only moves when told to."""

    current: datetime

    def __post_init__(self) -> None:
        if self.current.tzinfo is None:
            raise ValueError("FakeClock braucht eine Zeit mit Zeitzone.")

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        """Move forward by `delta`; moving backwards is refused (timers never fire early)."""
        if delta < timedelta(0):
            raise ValueError("Die Uhr läuft nicht rückwärts.")
        self.current += delta

    def set(self, when: datetime) -> None:
        """Jump to `when` (must not be earlier than the current time)."""
        self.advance(when - self.current)


def local_date(moment: datetime) -> date:
    """The calendar date of an aware `moment` in Europe/Berlin."""
    return moment.astimezone(BERLIN).date()


def start_of_day(day: date) -> datetime:
    """00:00 Europe/Berlin of `day`, as an aware datetime in UTC."""
    return datetime.combine(day, time(0), tzinfo=BERLIN).astimezone(UTC)
