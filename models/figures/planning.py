"""Eintrittsplanung (seed 002 §4.1, "Na Schulen 2015"): Soll per site and month against the
Ist (referrals started), the deviation per month, cumulated and absolute.

Rules: months after the current one have no Ist and no deviation; a deviation against a
Soll of 0 is undefined (None, shown as "–"); the total row "gesamt" counts the Ist of every
site in the view (also of sites without a Soll) against the Soll of the sites that have
one. Pure: `build_planning` takes Soll and Ist as mappings (`tasks.read_model.planning`
loads them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)


def deviation(ist: int, soll: int) -> float | None:
    """(Ist − Soll) / Soll in percent; None where the Soll is 0 (undefined)."""
    return None if soll == 0 else (ist - soll) / soll * 100


@dataclass(frozen=True)
class PlanRow:
    """One site (or the total): twelve Soll and twelve counted Ist values.

    `upto` is the number of months that have an Ist (the current month included): 12 for a
    past year, 0 for a future one.
    """

    site: str
    soll: tuple[int, ...]
    ist: tuple[int, ...]
    upto: int

    @property
    def soll_sum(self) -> int:
        return sum(self.soll)

    @property
    def ist_months(self) -> list[int | None]:
        return [v if m < self.upto else None for m, v in enumerate(self.ist)]

    @property
    def ist_sum(self) -> int:
        return sum(self.ist[: self.upto])

    @property
    def soll_to_date(self) -> int:
        return sum(self.soll[: self.upto])

    @property
    def deviations(self) -> list[float | None]:
        return [deviation(self.ist[m], self.soll[m]) if m < self.upto else None for m in range(12)]

    @property
    def cumulated(self) -> float | None:
        """Deviation of the Ist to date from the Soll to date, in percent."""
        return deviation(self.ist_sum, self.soll_to_date) if self.upto else None

    @property
    def absolute(self) -> int | None:
        """Ist − Soll, summed up to the current month."""
        return self.ist_sum - self.soll_to_date if self.upto else None


@dataclass(frozen=True)
class Planning:
    """The three tables of one year and service type; `total` is the "gesamt" row: the Ist
    of every site in the view (also of sites without a Soll) against the Soll of the sites
    that have one (a site without a Soll counts 0 there)."""

    year: int
    service_type: str
    upto: int
    rows: list[PlanRow]
    total: PlanRow

    @property
    def current_month(self) -> str | None:
        return MONTHS[self.upto - 1] if self.upto else None

    @property
    def without_soll(self) -> list[str]:
        """Sites with an Ist but no Soll in the year: in "gesamt" with their Ist only."""
        return [r.site for r in self.rows if r.soll_sum == 0 and sum(r.ist) > 0]


def months_with_ist(year: int, today: date) -> int:
    """How many months of `year` have an Ist on `today` (the running month included)."""
    if year < today.year:
        return 12
    if year > today.year:
        return 0
    return today.month


def build_planning(
    year: int,
    service_type: str,
    soll: Mapping[tuple[str, int], int],
    ist: Mapping[tuple[str, int], int],
    upto: int,
    sites: Iterable[str] = (),
) -> Planning:
    """The tables from Soll and Ist keyed by (site, month 1..12); a row for every site named."""
    names = sorted({*sites, *(s for s, _ in soll), *(s for s, _ in ist)}, key=str.casefold)
    rows = [
        PlanRow(
            site,
            tuple(soll.get((site, m), 0) for m in range(1, 13)),
            tuple(ist.get((site, m), 0) for m in range(1, 13)),
            upto,
        )
        for site in names
    ]
    total = PlanRow(
        "gesamt",
        tuple(sum(r.soll[m] for r in rows) for m in range(12)),
        tuple(sum(r.ist[m] for r in rows) for m in range(12)),
        upto,
    )
    return Planning(year, service_type, upto, rows, total)
