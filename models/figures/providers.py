"""Figures of the Träger page and of the provider choice of the Zuweisung form.

Definitions (the page states them too; `api.dashboard.providers`):

* **Auslastung** = new assignments this month / ``Provider.monthly_capacity``.
* **Tage Gutschein → Erstgespräch**: for each referral, the days from its redeemed voucher
  (the latest redeemed one issued on or before the first appointment) to the first
  appointment, counted for the provider on that voucher; median and 90th percentile
  (nearest rank, `models.kennzahlen.percentile_nearest_rank`).
* **Pünktlichkeit**: Rückmeldefristen met on or before the due date / those due.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from statistics import median

from models.kennzahlen import percentile_nearest_rank


def default_start(today: date) -> date:
    """First day of the month eleven months back: the last twelve calendar months."""
    months = today.year * 12 + today.month - 1 - 11
    return date(months // 12, months % 12 + 1, 1)


def first_appointment_waits(
    rows: Iterable[tuple[int, date, int | None, date]],
) -> dict[int, list[int]]:
    """Days voucher -> first appointment per provider id, from rows ``(referral id, first
    appointment, provider id on the voucher, voucher issued on)`` of redeemed vouchers
    issued on or before the first appointment: per referral the latest issued voucher
    counts (ties: the first row given); a voucher without a provider counts for none."""
    latest: dict[int, tuple[date, int | None, date]] = {}
    for referral_id, first, provider_id, issued in rows:
        if referral_id not in latest or issued > latest[referral_id][0]:
            latest[referral_id] = (issued, provider_id, first)
    waits: defaultdict[int, list[int]] = defaultdict(list)
    for issued, provider_id, first in latest.values():
        if provider_id is not None:
            waits[provider_id].append((first - issued).days)
    return dict(waits)


@dataclass(frozen=True)
class ProviderFigures:
    """One row of the page: a provider's figures (or all of them, ``provider_id=None``)."""

    provider_id: int | None
    name: str
    capacity: int
    new_this_month: int
    in_counselling: int
    open_cases: int
    waits: tuple[float, ...]
    deadlines_due: int
    deadlines_on_time: int
    open_escalations: int

    @property
    def load(self) -> float | None:
        """New assignments this month per monthly capacity (1.0 = full); None without one."""
        return self.new_this_month / self.capacity if self.capacity else None

    @property
    def wait_median(self) -> float | None:
        """Median days voucher -> first appointment; None without a first appointment."""
        return float(median(self.waits)) if self.waits else None

    @property
    def wait_p90(self) -> float | None:
        """90th percentile (nearest rank) of the same days; None without one."""
        return percentile_nearest_rank(self.waits, 90)

    @property
    def punctuality(self) -> float | None:
        """Share (0..1) of the due Rückmeldefristen met on time; None when none was due."""
        return self.deadlines_on_time / self.deadlines_due if self.deadlines_due else None


def total_of(rows: Sequence[ProviderFigures]) -> ProviderFigures | None:
    """The row "Alle Träger": sums of the counts, every wait pooled (so its median is the
    median over all cases, not of the providers' medians); None for fewer than 2 rows."""
    if len(rows) < 2:
        return None
    return ProviderFigures(
        provider_id=None,
        name="Alle Träger",
        capacity=sum(r.capacity for r in rows),
        new_this_month=sum(r.new_this_month for r in rows),
        in_counselling=sum(r.in_counselling for r in rows),
        open_cases=sum(r.open_cases for r in rows),
        waits=tuple(sorted(w for r in rows for w in r.waits)),
        deadlines_due=sum(r.deadlines_due for r in rows),
        deadlines_on_time=sum(r.deadlines_on_time for r in rows),
        open_escalations=sum(r.open_escalations for r in rows),
    )
