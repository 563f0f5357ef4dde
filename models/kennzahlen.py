"""Kennzahlen (Bericht 01) of the KEL monitoring, per provider and in total.

Source: seed 002 §4.1 (JC StädteRegion Aachen, "Kennzahlen (Bericht 01)"), DESIGN §2
"Monitoring". Pure Python: the figures are computed from plain `CaseFacts` (one per
referral), so they can be tested without a database; `tasks.kennzahlen` loads the facts.
Which states count as "in counselling" and as closed, and the phases' titles and order,
come from the process definitions (`models.figures.states.ReportStates`), never from
names written here.

Definitions for a reporting period ``period_start`` … ``period_end`` (both inclusive):

* Vouchers count for the provider named on the voucher (a rerouted referral has vouchers
  at two providers); every other figure counts for the referral's current provider.
* ``vouchers_issued``: vouchers with ``issued_on`` in the period. Of these ("davon"),
  ``vouchers_redeemed`` (status redeemed), ``vouchers_not_started`` (issued or expired:
  "Beratung noch nicht eingeleitet") and ``vouchers_returned_invalid``; the three add up
  to ``vouchers_issued``.
* ``customers_in_counselling``: referrals in a ``counselling`` state at the period end
  (current state, entered on or before ``period_end``).
* ``share_u25``: share of age group "u25" among the referrals started in the period
  (0.0 when there are none).
* ``counselling_days_*``: for referrals whose counselling (``first_appointment_on`` until
  ``closed_on``) overlaps the period, the days from ``first_appointment_on`` to
  ``closed_on``, or to ``period_end`` if still open then. ``None`` when there are none.
* ``open_over_90_days``: open referrals (state not ``final``) whose ``state_since`` lies
  more than 90 days before ``period_end``, counted per phase (= state); only phases that
  occur are keys, in process order.
* ``escalations`` / ``open_escalations``: escalations (all / not yet resolved) of the
  referrals active in the period (started on or before its end, not closed before its
  start).
* ``first_appointment_days_*``: for referrals whose ``first_appointment_on`` lies in the
  period, the days from the ``issued_on`` of the redeemed voucher (the latest one issued
  on or before the first appointment) to ``first_appointment_on``. The median is the
  usual one (mean of the two middle values for an even count); the 90th percentile uses
  the *nearest-rank* method: of the n values sorted ascending, the value at rank
  ``ceil(0.9 * n)`` (1-based), so it is always an observed value.

The last row, provider ``"Gesamt"``, is computed over all cases (not summed from the
provider rows), so its medians and shares are correct for the whole.

Small cells (statistical secrecy; after § 16 BStatG and the Sozialgeheimnis, § 35 SGB I,
§§ 67 ff. SGB X): a figure about one or two people can be traced back to them. So for
every reader other than the coordination and the administration (who may see every case
of the Kommune), report cells are shown as `SUPPRESSED` (``"< 3"``) in HTML and CSV when

* a count is 1 or 2 (0 and 3 or more are shown), or
* a derived figure (share, mean, median, percentile, a sum of hours) is computed over 1
  or 2 cases (`KennzahlenRow.bases` gives the number of cases of each derived figure).

`exact_figures` says who sees exact figures, `is_small` which numbers are small and
`small_fields` which cells of a `KennzahlenRow` are shown as ``"< 3"``. The rule is
deliberately simple: it does not suppress secondary cells (a "davon" figure derivable as
the difference of two shown ones).
"""

from __future__ import annotations

import bisect
import math
import statistics
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from models.figures.states import ReportStates

NO_PROVIDER = "–"
TOTAL = "Gesamt"
OVERDUE_DAYS = 90
MIN_CASES = 3  # smallest number of cases a figure is shown for (to non-coordinators)
SUPPRESSED = "< 3"
EXACT_ROLES = frozenset({"coordinator", "admin"})

COLUMNS: list[tuple[str, str]] = [
    ("provider", "Träger"),
    ("vouchers_issued", "Gutscheine ausgegeben"),
    ("vouchers_redeemed", "davon eingelöst"),
    ("vouchers_not_started", "davon Beratung noch nicht eingeleitet"),
    ("vouchers_returned_invalid", "davon als ungültig zurückgegeben"),
    ("customers_in_counselling", "Kunden in Beratung"),
    ("share_u25", "Anteil U25"),
    ("counselling_days_mean", "Beratungsdauer Ø Tage"),
    ("counselling_days_median", "Beratungsdauer Median Tage"),
    ("open_over_90_days", "Fälle > 90 Tage offen (je Phase)"),
    ("escalations", "Eskalationen"),
    ("open_escalations", "davon offen"),
    ("first_appointment_days_median", "Tage bis Erstgespräch Median"),
    ("first_appointment_days_p90", "Tage bis Erstgespräch 90. Perzentil"),
]


@dataclass(frozen=True)
class VoucherFacts:
    """One voucher: when issued, its status and the provider named on it."""

    issued_on: date
    status: str  # "issued" | "redeemed" | "expired" | "returned_invalid"
    provider: str


@dataclass(frozen=True)
class CaseFacts:
    """One referral, as plain values (pseudonymous: no names, only the age group)."""

    referral_id: int
    provider: str  # current provider's name; NO_PROVIDER if none
    service_type: str
    site: str
    age_group: str  # "u25" | "25-49" | "50+"
    state: str
    state_since: date
    started_on: date
    first_appointment_on: date | None
    closed_on: date | None
    outcome: str | None
    vouchers: tuple[VoucherFacts, ...] = ()
    escalations: int = 0
    open_escalations: int = 0


@dataclass(frozen=True)
class KennzahlenRow:
    """The figures of one provider (or of all, provider ``"Gesamt"``) for one period."""

    provider: str
    customers_in_counselling: int
    vouchers_issued: int
    vouchers_redeemed: int
    vouchers_not_started: int
    vouchers_returned_invalid: int
    share_u25: float
    counselling_days_mean: float | None
    counselling_days_median: float | None
    open_over_90_days: dict[str, int]
    escalations: int
    open_escalations: int
    first_appointment_days_median: float | None
    first_appointment_days_p90: float | None
    bases: dict[str, int] = field(default_factory=dict, compare=False)
    """Number of cases each derived figure is computed over (field name -> count)."""


COUNT_FIELDS = frozenset(
    {
        "customers_in_counselling",
        "vouchers_issued",
        "vouchers_redeemed",
        "vouchers_not_started",
        "vouchers_returned_invalid",
        "escalations",
        "open_escalations",
    }
)
DERIVED_FIELDS = frozenset(
    {
        "share_u25",
        "counselling_days_mean",
        "counselling_days_median",
        "first_appointment_days_median",
        "first_appointment_days_p90",
    }
)


def exact_figures(role: str) -> bool:
    """Whether a reader in `role` sees exact figures (coordination, administration)."""
    return role in EXACT_ROLES


def is_small(cases: int) -> bool:
    """Whether a figure over `cases` cases is shown as `SUPPRESSED` (1 or 2 cases)."""
    return 0 < cases < MIN_CASES


def small_fields(row: KennzahlenRow) -> frozenset[str]:
    """The cells of `row` shown as `SUPPRESSED` to a reader without `exact_figures`:
    counts of 1 or 2, derived figures over 1 or 2 cases; a phase of "open > 90 days" as
    ``"open_over_90_days:<phase>"``."""
    small = {name for name in COUNT_FIELDS if is_small(getattr(row, name))}
    small |= {name for name in DERIVED_FIELDS if is_small(row.bases.get(name, 0))}
    small |= {f"open_over_90_days:{p}" for p, n in row.open_over_90_days.items() if is_small(n)}
    return frozenset(small)


def percentile_nearest_rank(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0 < p <= 100) by nearest rank: sorted[ceil(p/100 * n) - 1]."""
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError("p muss zwischen 0 (exklusiv) und 100 liegen.")
    ordered = sorted(values)
    rank = math.ceil(p * len(ordered) / 100)  # p * n first: exact for whole p
    return float(ordered[max(rank, 1) - 1])


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return float(statistics.fmean(values)) if values else None


def _sort_key(name: str) -> tuple[str, str]:
    """Sort provider names alphabetically, umlauts with their base letter (Ä like A)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return (plain.casefold(), name)


@dataclass
class _Acc:
    """Running totals of one provider (or of all)."""

    in_counselling: int = 0
    vouchers_issued: int = 0
    vouchers_redeemed: int = 0
    vouchers_not_started: int = 0
    vouchers_returned_invalid: int = 0
    started: int = 0
    started_u25: int = 0
    counselling_days: list[float] = field(default_factory=list)
    overdue: dict[str, int] = field(default_factory=dict)
    escalations: int = 0
    open_escalations: int = 0
    first_appointment_days: list[float] = field(default_factory=list)

    def row(self, provider: str, states: ReportStates) -> KennzahlenRow:
        return KennzahlenRow(
            provider=provider,
            customers_in_counselling=self.in_counselling,
            vouchers_issued=self.vouchers_issued,
            vouchers_redeemed=self.vouchers_redeemed,
            vouchers_not_started=self.vouchers_not_started,
            vouchers_returned_invalid=self.vouchers_returned_invalid,
            share_u25=self.started_u25 / self.started if self.started else 0.0,
            counselling_days_mean=_mean(self.counselling_days),
            counselling_days_median=_median(self.counselling_days),
            open_over_90_days={k: self.overdue[k] for k in sorted(self.overdue, key=states.order)},
            escalations=self.escalations,
            open_escalations=self.open_escalations,
            first_appointment_days_median=_median(self.first_appointment_days),
            first_appointment_days_p90=percentile_nearest_rank(self.first_appointment_days, 90),
            bases={
                "share_u25": self.started,
                "counselling_days_mean": len(self.counselling_days),
                "counselling_days_median": len(self.counselling_days),
                "first_appointment_days_median": len(self.first_appointment_days),
                "first_appointment_days_p90": len(self.first_appointment_days),
            },
        )


def _add_voucher(accs: Iterable[_Acc], voucher: VoucherFacts) -> None:
    for acc in accs:
        acc.vouchers_issued += 1
        if voucher.status == "redeemed":
            acc.vouchers_redeemed += 1
        elif voucher.status in ("issued", "expired"):
            acc.vouchers_not_started += 1
        elif voucher.status == "returned_invalid":
            acc.vouchers_returned_invalid += 1


def _add_case(
    accs: Iterable[_Acc], case: CaseFacts, start: date, end: date, states: ReportStates
) -> None:
    in_period = start <= case.started_on <= end
    active = case.started_on <= end and (case.closed_on is None or case.closed_on >= start)
    in_counselling = case.state in states.counselling and case.state_since <= end
    overdue = case.state not in states.final and (end - case.state_since).days > OVERDUE_DAYS

    counselling: float | None = None
    first = case.first_appointment_on
    if first is not None and first <= end and (case.closed_on is None or case.closed_on >= start):
        stop = case.closed_on if case.closed_on is not None and case.closed_on <= end else end
        counselling = float((stop - first).days)

    waited: float | None = None
    if first is not None and start <= first <= end:
        redeemed = [
            v.issued_on for v in case.vouchers if v.status == "redeemed" and v.issued_on <= first
        ]
        if redeemed:
            waited = float((first - max(redeemed)).days)

    for acc in accs:
        acc.in_counselling += in_counselling
        if in_period:
            acc.started += 1
            acc.started_u25 += case.age_group == "u25"
        if counselling is not None:
            acc.counselling_days.append(counselling)
        if overdue:
            acc.overdue[case.state] = acc.overdue.get(case.state, 0) + 1
        if active:
            acc.escalations += case.escalations
            acc.open_escalations += case.open_escalations
        if waited is not None:
            acc.first_appointment_days.append(waited)


def kennzahlen(
    cases: Iterable[CaseFacts], period_start: date, period_end: date, states: ReportStates
) -> list[KennzahlenRow]:
    """The Kennzahlen per provider (sorted by name) and a final total row ``"Gesamt"``;
    `states` says which states are final and in counselling, and the phases' order.

    Every provider named on a referral or a voucher gets a row, even if all its figures
    are zero for the period. See the module docstring for the definitions.
    """
    if period_end < period_start:
        raise ValueError("Das Ende des Berichtszeitraums liegt vor seinem Beginn.")
    per_provider: defaultdict[str, _Acc] = defaultdict(_Acc)
    total = _Acc()
    for case in cases:
        _add_case((per_provider[case.provider], total), case, period_start, period_end, states)
        for voucher in case.vouchers:
            acc = per_provider[voucher.provider]  # creates the row even outside the period
            if period_start <= voucher.issued_on <= period_end:
                _add_voucher((acc, total), voucher)
    rows = [per_provider[name].row(name, states) for name in sorted(per_provider, key=_sort_key)]
    rows.append(total.row(TOTAL, states))
    return rows


def per_service_type(
    cases: Iterable[CaseFacts],
    period_start: date,
    period_end: date,
    titles: dict[str, str],
    states: ReportStates,
) -> list[KennzahlenRow]:
    """The total row of `kennzahlen` for each Leistungsart of `cases` (issue 10, point 6:
    Kennzahlen per Leistungsart), named by its title in `titles` (service type -> German
    title; the service type itself if missing) and in the order of `titles`, then by name.
    A Leistungsart without any case gets no row. Raises `ValueError` as `kennzahlen`."""
    grouped: defaultdict[str, list[CaseFacts]] = defaultdict(list)
    for case in cases:
        grouped[case.service_type].append(case)
    order = [k for k in titles if k in grouped] + sorted(set(grouped) - set(titles))
    return [
        replace(
            kennzahlen(grouped[key], period_start, period_end, states)[-1],
            provider=titles.get(key, key),
        )
        for key in order
    ]


def occurring_phases(rows: Sequence[KennzahlenRow], states: ReportStates) -> list[str]:
    """The phases (states) some row counts in ``open_over_90_days``, in process order
    (unknown ones after, by name): the columns "> 90 Tage" of the table."""
    seen = {phase for row in rows for phase in row.open_over_90_days}
    return sorted(seen, key=states.order)


def own_vouchers_only(cases: Iterable[CaseFacts]) -> list[CaseFacts]:
    """For a provider reading the Kennzahlen: `cases` without the vouchers a referral had
    at another provider before (a rerouted case), so no other provider's figure shows."""
    return [
        replace(c, vouchers=tuple(v for v in c.vouchers if v.provider == c.provider)) for c in cases
    ]


STATE_SERIES = (
    "vor Beratung (Gutschein/Termin)",
    "in Beratung",
    "abgeschlossen im Monat",
)


def cases_by_state(
    cases: Iterable[CaseFacts], months: Sequence[tuple[date, date]]
) -> dict[str, list[int]]:
    """Per month (``(first day, last day)``, `models.figures.periods.month_ends`): the
    referrals before counselling and in counselling at the month's last day, and the
    referrals closed during the month, keyed by `STATE_SERIES`. Sorted counts and
    bisection: O(n log n).

    Before counselling: started, no first appointment yet, not closed (staged, voucher,
    appointment booked, no-show, rerouting). In counselling: first appointment held, not
    closed. Only ``started_on``, ``first_appointment_on`` and ``closed_on`` are used.
    """
    started: list[date] = []
    left_before: list[date] = []  # the day a referral stopped being "before counselling"
    first: list[date] = []
    closed_after_first: list[date] = []
    closed: list[date] = []
    for case in cases:
        started.append(case.started_on)
        ends = [d for d in (case.first_appointment_on, case.closed_on) if d is not None]
        if ends:
            left_before.append(min(ends))
        if case.first_appointment_on is not None:
            first.append(case.first_appointment_on)
            if case.closed_on is not None:
                closed_after_first.append(max(case.closed_on, case.first_appointment_on))
        if case.closed_on is not None:
            closed.append(case.closed_on)
    for values in (started, left_before, first, closed_after_first, closed):
        values.sort()

    def upto(values: list[date], day: date) -> int:
        return bisect.bisect_right(values, day)

    series: dict[str, list[int]] = {name: [] for name in STATE_SERIES}
    before, counselling, done = STATE_SERIES
    for month_first, month_last in months:
        series[before].append(upto(started, month_last) - upto(left_before, month_last))
        series[counselling].append(upto(first, month_last) - upto(closed_after_first, month_last))
        series[done].append(upto(closed, month_last) - upto(closed, month_first - timedelta(1)))
    return series
