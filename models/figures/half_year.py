"""The half-yearly provider report (seed 002 §4.6.3, § 5 of the Hamm contract): per
provider, Leistungsart and Hilfebedarfsgruppe the cases worked, the closed cases and the
average booked hours per case.

Definitions, for the half-year ``start`` … ``end`` (the Stichtag):

* Worked ("bearbeitet"): the provider's referrals whose counselling overlaps the half-year
  (first appointment on or before its end, not closed before its start); the read model
  (`tasks.read_model.reports`) selects them.
* HBG: the latest classification reported on or before the Stichtag (feedback), else the
  referral's current one (`fallback`); none -> "ohne Einstufung" (`NO_GROUP`).
* Effort: hours of the modules booked in feedback received in the half-year, summed per
  referral; the average is over all worked cases of the group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from models.process import Registry

NO_GROUP = 0  # key of the cases without a Hilfebedarfsgruppe


def booked_hours(modules: Iterable[Any]) -> float:
    """Sum of the hours of booked modules (``[{"code": 1, "hours": 1.5}, …]``); entries
    that are not mappings and missing hours count 0."""
    total = 0.0
    for module in modules:
        if isinstance(module, dict):
            total += float(module.get("hours") or 0)
    return total


@dataclass
class GroupFigures:
    """Figures of one provider, Leistungsart and HBG (or of all its HBG: ``group=None``)."""

    provider: str
    service_type: str
    service_title: str
    group: int | None
    group_title: str
    guideline: str
    cases: int = 0
    closed: int = 0
    hours: float = 0.0
    referral_ids: list[int] = field(default_factory=list, repr=False)

    @property
    def average_hours(self) -> float | None:
        """Booked hours per worked case; None for a group without cases."""
        return self.hours / self.cases if self.cases else None


@dataclass(frozen=True)
class HalfYearReport:
    year: int
    half: int
    start: date
    end: date
    due: date
    provisional: bool
    providers: list[tuple[str, list[GroupFigures], GroupFigures]]


@dataclass(frozen=True)
class WorkedCase:
    """One worked referral as the read model loads it."""

    referral_id: int
    provider_id: int | None
    service_type: str
    need_group: int | None  # the referral's current HBG
    closed_on: date | None


@dataclass(frozen=True)
class ReportedFeedback:
    """One report of a worked referral received on or before the Stichtag, in order."""

    referral_id: int
    received_on: date
    need_group: int | None
    modules: list[Any] | None


def catalog_titles(registry: Registry, service_type: str, group: int) -> tuple[str, str, str]:
    """(service title, HBG title, guideline effort) from the catalog, as far as known."""
    service = registry.services.get(service_type)
    if service is None:
        return service_type, f"HBG {group}", ""
    if group == NO_GROUP:
        return service.title, "ohne Einstufung", ""
    need_group = next(
        (g for g in (service.catalog.need_groups if service.catalog else []) if g.code == group),
        None,
    )
    if need_group is None:
        return service.title, f"Hilfebedarfsgruppe {group}", ""
    return service.title, need_group.title, need_group.effort or ""


def group_figures(
    registry: Registry,
    names: Mapping[int, str],
    cases: Iterable[WorkedCase],
    feedback: Iterable[ReportedFeedback],
    start: date,
    end: date,
    *,
    current_group_fallback: bool,
) -> list[tuple[str, list[GroupFigures], GroupFigures]]:
    """Per provider (by name, any case), its groups sorted by Leistungsart and HBG (the
    cases without one last) and its total row "alle Hilfebedarfsgruppen". `feedback`
    must be in the order reported (the latest classification wins);
    `current_group_fallback`: use the referral's current HBG when no report gave one
    (not for a provider, who reads only its own reports' classifications)."""
    classified: dict[int, int] = {}
    hours: defaultdict[int, float] = defaultdict(float)
    for report in feedback:
        if report.need_group is not None:
            classified[report.referral_id] = report.need_group
        if report.received_on >= start:
            hours[report.referral_id] += booked_hours(report.modules or [])

    groups: dict[tuple[str, str, int], GroupFigures] = {}
    for case in cases:
        name = names.get(case.provider_id, "–") if case.provider_id is not None else "–"
        fallback = case.need_group if current_group_fallback else None
        group = classified.get(case.referral_id, fallback) or NO_GROUP
        key = (name, case.service_type, group)
        if key not in groups:
            service_title, group_title, guideline = catalog_titles(
                registry, case.service_type, group
            )
            groups[key] = GroupFigures(
                name, case.service_type, service_title, group, group_title, guideline
            )
        figures = groups[key]
        figures.cases += 1
        figures.closed += case.closed_on is not None and start <= case.closed_on <= end
        figures.hours += hours.get(case.referral_id, 0.0)
        figures.referral_ids.append(case.referral_id)

    by_provider: defaultdict[str, list[GroupFigures]] = defaultdict(list)
    for key in sorted(groups, key=lambda k: (k[0].casefold(), k[1], k[2] == NO_GROUP, k[2])):
        by_provider[key[0]].append(groups[key])
    providers = []
    for name, rows in by_provider.items():
        total = GroupFigures(name, "", "", None, "alle Hilfebedarfsgruppen", "")
        for row in rows:
            total.cases += row.cases
            total.closed += row.closed
            total.hours += row.hours
        providers.append((name, rows, total))
    return providers
