"""The rules and figures of the Leistungsabschnitte (`models.phases`; seed 002 §4.1),
table by table, without a database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.phases import (
    TOTAL,
    CasePhases,
    PhaseDef,
    PhasePeriod,
    PhaseRefused,
    check_report,
    current,
    phase_figures,
)

LA = [PhaseDef(code=f"LA{n}", title=f"LA {n}") for n in (1, 2)]
DAY = date(2026, 3, 10)


def test_a_phase_begins_completes_and_the_next_begins() -> None:
    begun = check_report(LA, [], "LA1", "begun", DAY, "Schuldnerberatung")
    assert begun == PhasePeriod("LA1", DAY)
    done = check_report(LA, [begun], "LA1", "completed", DAY, "Schuldnerberatung")
    assert done == PhasePeriod("LA1", DAY, DAY)  # the same day is allowed
    assert current([done]) is None
    after = check_report(LA, [done], "LA2", "begun", DAY, "Schuldnerberatung")
    assert current([done, after]) == after


@pytest.mark.parametrize(
    ("phases", "periods", "code", "step", "message"),
    [
        ([], [], "LA1", "begun", "Sucht: für diese Leistungsart sind keine Phasen vereinbart"),
        (LA, [], "LA3", "begun", "Unbekannte Phase 'LA3'; vereinbart sind: LA1, LA2"),
        (LA, [], "LA1", "completed", "LA 1 ist nicht begonnen"),
        (LA, [PhasePeriod("LA1", DAY)], "LA2", "begun", "LA 1 ist noch nicht abgeschlossen"),
        (LA, [PhasePeriod("LA1", DAY, DAY)], "LA1", "begun", "LA 1 ist bereits am 10.03.2026"),
        (LA, [PhasePeriod("LA1", DAY + timedelta(1))], "LA1", "completed", "vor ihrem Beginn"),
    ],
)
def test_refused_reports(
    phases: list[PhaseDef], periods: list[PhasePeriod], code: str, step: str, message: str
) -> None:
    with pytest.raises(PhaseRefused, match=message):
        check_report(phases, periods, code, step, DAY, "Sucht")  # type: ignore[arg-type]


def _case(begun: date, completed: date | None = None, **kw: object) -> CasePhases:
    values: dict[str, object] = {"provider": "A", "started_on": date(2026, 1, 1), "closed_on": None}
    values.update(kw)
    return CasePhases(periods=(PhasePeriod("LA1", begun, completed),), **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("days", "stale"), [(89, 0), (90, 0), (91, 1)])
def test_more_than_90_calendar_days(days: int, stale: int) -> None:
    total = phase_figures(LA, [_case(DAY)], DAY + timedelta(days=days))[-1]
    assert (total.provider, total.figures[0].open, total.figures[0].stale) == (TOTAL, 1, stale)


def test_what_counts_on_the_stichtag() -> None:
    """Open on the Stichtag: begun on or before, not completed on or before it, the case
    running (not closed on or before it). Share = stale / open, None without open ones."""
    stichtag = DAY + timedelta(days=120)
    cases = [
        _case(DAY),  # open, stale
        _case(DAY, stichtag),  # completed on the Stichtag: not open
        _case(DAY, stichtag + timedelta(1)),  # completed after it: open, stale
        _case(stichtag - timedelta(10)),  # open, 10 days
        _case(stichtag + timedelta(1)),  # begun after it: not counted
        _case(DAY, closed_on=stichtag),  # case closed on the Stichtag: not counted
        _case(DAY, provider="Ärzte-Hilfe"),  # other provider, open, stale
    ]
    columns = phase_figures(LA, cases, stichtag)
    assert [c.provider for c in columns] == ["A", "Ärzte-Hilfe", TOTAL]
    first, la2 = columns[-1].figures
    assert (first.open, first.stale, first.share) == (4, 3, 0.75)
    assert (la2.open, la2.stale, la2.share) == (0, 0, None)
    assert columns[0].figures[0].share == pytest.approx(2 / 3)


def test_stale_after_days_is_configurable() -> None:
    short = [PhaseDef(code="P1", title="Phase 1", stale_after_days=30)]
    case = CasePhases("A", DAY, None, (PhasePeriod("P1", DAY),))
    assert phase_figures(short, [case], DAY + timedelta(days=31))[-1].figures[0].stale == 1
