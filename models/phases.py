"""Phases of a Leistungsart, reported by the provider: the Leistungsabschnitte LA 1-4 of the
Schuldnerberatung (seed 002 §4.1, "Kennzahlen (Bericht 01)", JC StädteRegion Aachen) and
the figures "LA n seit mehr als 90 Tagen nicht abgeschlossen" with their share in %.

Pure Python (no database, no web): `PhaseDef` is the ``phases:`` entry of a Leistungsart in
the standards file (`models.process.ServiceStandard.phases`); `check_report` decides
whether a provider may report a phase begun or completed; `phase_figures` computes the
rows of Bericht 01 from plain `PhasePeriod` values.

What the seed says and what was chosen where it is silent:

* A phase is a period of one referral: begun on a day, completed on a later day (or the
  same day), or still open. Bericht 01 counts "Fälle, bei denen der LA n (noch) nicht
  abgeschlossen ist" and of these those "seit mehr als 90 Tagen"; §4.6.4 (Hamm) calls
  Phase 1 "abgeschlossen, wenn der Ratsuchende für sich entschieden hat, wie er künftig
  mit seinen Schulden umgeht": completion is a fact the provider reports, not a deadline.
* "Nach Austritt aus LA 1 der LA 2": the phases follow one another. Chosen: one phase is
  open at a time (a new one begins only after the current one is completed); the order
  is not enforced (a case may skip a phase, §4.6.4: the assignment of the contents to the
  phases is "lediglich schematisch ... nicht als statisch zu betrachten"); a phase is
  begun at most once per referral.
* "Seit mehr als 90 Tagen": calendar days (the seed names no other count), so an open
  phase begun on day ``d`` counts on the Stichtag ``d + 91`` and later, not on ``d + 90``.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PHASE_CODE_PATTERN = r"^[A-Z][A-Z0-9]{0,9}$"
"""A phase code: a capital letter, then up to nine capitals or digits (``LA1``, ``P2``)."""

STALE_AFTER_DAYS = 90
"""Bericht 01 (seed 002 §4.1): "seit mehr als 90 Tagen nicht abgeschlossen"."""

PhaseStep = Literal["begun", "completed"]
"""What a provider reports of a phase: it has begun, or it is completed."""

STEP_TITLES: dict[str, str] = {"begun": "begonnen", "completed": "abgeschlossen"}


class PhaseDef(BaseModel):
    """One phase of a Leistungsart (``phases:`` in the standards file): its `code`, German
    `title`, and after how many calendar days an open phase counts as "nicht abgeschlossen
    seit mehr als ... Tagen" (`stale_after_days`, default 90, seed 002 §4.1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=PHASE_CODE_PATTERN)
    title: str = Field(min_length=1, max_length=120)
    stale_after_days: int = Field(default=STALE_AFTER_DAYS, ge=1, le=3660)


@dataclass(frozen=True)
class PhasePeriod:
    """One phase of one referral: begun on `begun_on`, completed on `completed_on` (None:
    still open)."""

    phase: str
    begun_on: date
    completed_on: date | None = None


class PhaseRefused(ValueError):
    """A phase report the rules refuse; the message is German and names no person."""


def check_phases(phases: Sequence[PhaseDef]) -> list[tuple[int, str]]:
    """Problems of a ``phases:`` list as (index, German message): a code used twice."""
    codes = [p.code for p in phases]
    return [(i, f"Phase {c!r} doppelt") for i, c in enumerate(codes) if c in codes[:i]]


def current(periods: Iterable[PhasePeriod]) -> PhasePeriod | None:
    """The open phase of a referral (the latest begun without completion), None if none."""
    open_ = [p for p in periods if p.completed_on is None]
    return max(open_, key=lambda p: p.begun_on) if open_ else None


def check_report(
    phases: Sequence[PhaseDef],
    periods: Sequence[PhasePeriod],
    code: str,
    step: PhaseStep,
    on: date,
    service_title: str,
) -> PhasePeriod:
    """The period as it is after the provider reports phase `code` `step` on `on`, given
    the referral's `periods` so far and its Leistungsart's `phases`.

    Raises `PhaseRefused` (German) when the Leistungsart has no phases, `code` is not one
    of them, a phase is begun twice or while another is open, or a phase not begun (or
    completed already) is completed, or completed before the day it began.
    """
    titles = {p.code: p.title for p in phases}
    if not phases:
        raise PhaseRefused(f"{service_title}: für diese Leistungsart sind keine Phasen vereinbart")
    if code not in titles:
        known = ", ".join(titles)
        raise PhaseRefused(f"Unbekannte Phase {code!r}; vereinbart sind: {known}")
    found = next((p for p in periods if p.phase == code), None)
    if step == "begun":
        if found is not None:
            raise PhaseRefused(f"{titles[code]} ist bereits am {found.begun_on:%d.%m.%Y} begonnen")
        running = current(periods)
        if running is not None:
            other = titles.get(running.phase, running.phase)
            raise PhaseRefused(f"{other} ist noch nicht abgeschlossen")
        return PhasePeriod(code, on)
    if found is None:
        raise PhaseRefused(f"{titles[code]} ist nicht begonnen und kann nicht abschließen")
    if found.completed_on is not None:
        raise PhaseRefused(
            f"{titles[code]} ist bereits am {found.completed_on:%d.%m.%Y} abgeschlossen"
        )
    if on < found.begun_on:
        raise PhaseRefused(
            f"{titles[code]} kann nicht vor ihrem Beginn ({found.begun_on:%d.%m.%Y}) abschließen"
        )
    return PhasePeriod(code, found.begun_on, on)


# --- Bericht 01: "LA n seit mehr als 90 Tagen nicht abgeschlossen" -------------------------

TOTAL = "Gesamt"


@dataclass(frozen=True)
class CasePhases:
    """One referral for the phase figures: its provider's display name, when it started and
    closed (None: running), and its phase periods."""

    provider: str
    started_on: date
    closed_on: date | None
    periods: tuple[PhasePeriod, ...] = ()


@dataclass(frozen=True)
class PhaseFigure:
    """One phase in one column of Bericht 01 on a Stichtag.

    `open`: running referrals whose phase is begun and not completed on the Stichtag
    ("Anzahl Fälle, bei denen der LA n nicht abgeschlossen ist"); `stale`: of these, those
    begun more than `PhaseDef.stale_after_days` calendar days before it; `share`:
    ``stale / open`` (None when `open` is 0).
    """

    phase: str
    title: str
    open: int
    stale: int

    @property
    def share(self) -> float | None:
        return self.stale / self.open if self.open else None


@dataclass(frozen=True)
class PhaseColumn:
    """The figures of one provider (or of all, ``"Gesamt"``), one per phase in YAML order."""

    provider: str
    figures: tuple[PhaseFigure, ...] = field(default=())


def _count(
    phases: Sequence[PhaseDef], cases: Iterable[CasePhases], as_of: date
) -> dict[str, tuple[int, int]]:
    counts = {p.code: [0, 0] for p in phases}
    stale_after = {p.code: p.stale_after_days for p in phases}
    for case in cases:
        if case.started_on > as_of or (case.closed_on is not None and case.closed_on <= as_of):
            continue  # not running on the Stichtag
        for period in case.periods:
            running = period.begun_on <= as_of and (
                period.completed_on is None or period.completed_on > as_of
            )
            if period.phase not in counts or not running:
                continue
            counts[period.phase][0] += 1
            counts[period.phase][1] += (as_of - period.begun_on).days > stale_after[period.phase]
    return {code: (n, stale) for code, (n, stale) in counts.items()}


def _sort_key(name: str) -> tuple[str, str]:
    """Provider names alphabetically, umlauts with their base letter (as `models.kennzahlen`)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return (plain.casefold(), name)


def phase_figures(
    phases: Sequence[PhaseDef], cases: Iterable[CasePhases], as_of: date
) -> list[PhaseColumn]:
    """Bericht 01's phase rows on the Stichtag `as_of`: one column per provider (sorted by
    name, Ä like A) and a last one ``"Gesamt"`` over all cases, each with a `PhaseFigure` per phase.

    A referral counts while it runs on `as_of` (started on or before it, not closed on or
    before it); a phase counts while it is open on `as_of` (begun on or before it, not
    completed on or before it). The share's base is the open phase, as in the seed's table
    (e.g. Caritas, LA 4: 3 of 11 = 27,3 %; St. Elisabeth: 21 of 33 = 63,6 %).
    """
    cases = list(cases)
    grouped: defaultdict[str, list[CasePhases]] = defaultdict(list)
    for case in cases:
        grouped[case.provider].append(case)

    def column(name: str, of: Iterable[CasePhases]) -> PhaseColumn:
        counts = _count(phases, of, as_of)
        return PhaseColumn(
            name, tuple(PhaseFigure(p.code, p.title, *counts[p.code]) for p in phases)
        )

    return [column(n, grouped[n]) for n in sorted(grouped, key=_sort_key)] + [column(TOTAL, cases)]
