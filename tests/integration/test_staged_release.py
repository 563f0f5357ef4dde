"""Gestufte Einschaltung, rule by rule (issue 10, point 6; seed 002 §4.2: Sucht vor
Schulden, Schuldnerberatung "danach bzw. bei laufender Therapie").

A Schuldnerberatung of a customer whose Suchtberatung has not started waits (``staged``).
When it is released is the standards' ``staged_release`` of the staged Leistungsart:

- ``after: first_appointment_kept`` (the shipped default): on the day the Sucht referral's
  first appointment is kept;
- ``after: weeks_in_counselling, weeks: N``: the deadline ``staged_release`` (P<N>W from
  that day, § 26 SGB X) starts on the staged referral; the sweep releases it the day after
  it ends;
- a Sucht referral that closes releases it at once, whichever variant.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import SQLModel, col, select

from models.process import SHIPPED_DIR, ProcessDefinitionError, StagedRelease, load_registry
from models.tables import Deadline, Referral, Timer, Voucher
from tasks.sweep import fire_due_timers
from tests.factories import World, at

STARTED = date(2026, 3, 2)  # Monday
KEPT = date(2026, 3, 9)  # Monday: + 6 weeks = Monday 20.4.2026 (no holiday in NW)
SIX_WEEKS = date(2026, 4, 20)
DEFAULT = "    staged_release: {after: first_appointment_kept}"


def rows(kel: World, model: type[SQLModel], *where: Any) -> list[Any]:
    with kel.session() as s:
        return list(s.exec(select(model).where(*where).order_by(col(model.id))))  # type: ignore[attr-defined]


def referral(kel: World, reference: str) -> Referral:
    found: list[Referral] = rows(kel, Referral, Referral.reference == reference)
    assert len(found) == 1
    return found[0]


def deadlines(kel: World, reference: str) -> dict[str, Deadline]:
    return {
        d.kind: d for d in rows(kel, Deadline, Deadline.referral_id == referral(kel, reference).id)
    }


def definitions_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped definitions with `old` replaced by `new` in the standards."""
    target = tmp_path / "definitions"
    target.mkdir()
    for path in SHIPPED_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    standards = target / "duesseldorf.yaml"
    text = standards.read_text(encoding="utf-8")
    assert text.count(old) == 1
    standards.write_text(text.replace(old, new), encoding="utf-8")
    return target


@pytest.fixture
def weeks(kel: World, tmp_path: Path) -> World:
    """The world with ``staged_release: {after: weeks_in_counselling, weeks: 6}`` for
    Schuldnerberatung."""
    new = "    staged_release: {after: weeks_in_counselling, weeks: 6}"
    kel.registry = load_registry(definitions_with(tmp_path, DEFAULT, new))
    return kel


def staged_pair(kel: World) -> None:
    kel.start("SUCHT-1", STARTED, service_type="sucht", provider_code="SUCHT-CARITAS")
    kel.start("SCHULD-1", STARTED)
    assert referral(kel, "SCHULD-1").state == "staged"
    kel.event("SUCHT-1", date(2026, 3, 4), "appointment_booked", appointment_on=KEPT)


def sweep(kel: World, day: date) -> None:
    fire_due_timers(kel.session, kel.registry, kel.settings, at(day, 6))


# --- the default ---------------------------------------------------------------------------


def test_the_shipped_default_releases_when_the_first_appointment_is_kept(kel: World) -> None:
    setting = kel.registry.service("schulden").standard.staged_release
    assert (setting.after, setting.weeks) == ("first_appointment_kept", None)
    staged_pair(kel)

    kel.event("SUCHT-1", KEPT, "appointment_kept")

    released = referral(kel, "SCHULD-1")
    assert (released.state, released.state_since) == ("voucher_issued", KEPT)
    assert "staged_release" not in deadlines(kel, "SCHULD-1")


# --- N weeks in counselling ---------------------------------------------------------------


def test_with_weeks_the_kept_appointment_starts_the_wait_instead_of_releasing(
    weeks: World,
) -> None:
    staged_pair(weeks)

    weeks.event("SUCHT-1", KEPT, "appointment_kept")

    assert referral(weeks, "SCHULD-1").state == "staged"
    assert rows(weeks, Voucher, Voucher.referral_id == referral(weeks, "SCHULD-1").id) == []
    wait = deadlines(weeks, "SCHULD-1")["staged_release"]
    assert (wait.state, wait.period, wait.started_on, wait.due_on) == (
        "open",
        "P6W",
        KEPT,
        SIX_WEEKS,
    )
    [timer] = rows(weeks, Timer, Timer.deadline_id == wait.id)
    assert timer.fire_at == at(SIX_WEEKS + timedelta(days=1), 0)


def test_with_weeks_the_sweep_releases_the_day_after_the_weeks_end(weeks: World) -> None:
    staged_pair(weeks)
    weeks.event("SUCHT-1", KEPT, "appointment_kept")

    sweep(weeks, SIX_WEEKS)
    assert referral(weeks, "SCHULD-1").state == "staged"
    sweep(weeks, SIX_WEEKS + timedelta(days=1))

    released = referral(weeks, "SCHULD-1")
    day = SIX_WEEKS + timedelta(days=1)
    assert (released.state, released.state_since) == ("voucher_issued", day)
    [voucher] = rows(weeks, Voucher, Voucher.referral_id == released.id)
    assert voucher.issued_on == day
    found = deadlines(weeks, "SCHULD-1")
    assert (found["staged_release"].state, found["staged_release"].completed_on) == ("met", day)
    assert found["first_appointment"].started_on == day


def test_with_weeks_reports_of_the_running_sucht_case_do_not_restart_the_wait(
    weeks: World,
) -> None:
    staged_pair(weeks)
    weeks.event("SUCHT-1", KEPT, "appointment_kept")

    weeks.event("SUCHT-1", date(2026, 3, 16), "first_feedback", feedback={"appointment_kept": True})

    waits = rows(weeks, Deadline, Deadline.kind == "staged_release")
    assert [(d.state, d.started_on) for d in waits] == [("open", KEPT)]


def test_with_weeks_a_sucht_case_that_closes_early_releases_at_once(weeks: World) -> None:
    staged_pair(weeks)
    weeks.event("SUCHT-1", KEPT, "appointment_kept")
    ended = date(2026, 3, 30)

    weeks.event("SUCHT-1", ended, "final_report", feedback={"ended": True})

    assert referral(weeks, "SUCHT-1").state == "closed"
    released = referral(weeks, "SCHULD-1")
    assert (released.state, released.state_since) == ("voucher_issued", ended)
    wait = deadlines(weeks, "SCHULD-1")["staged_release"]
    assert (wait.state, wait.completed_on) == ("met", ended)
    sweep(weeks, SIX_WEEKS + timedelta(days=1))  # the wait's timer does nothing any more
    assert len(rows(weeks, Voucher, Voucher.referral_id == released.id)) == 1


def test_with_weeks_a_staged_case_closed_while_waiting_is_not_released(weeks: World) -> None:
    staged_pair(weeks)
    weeks.event("SUCHT-1", KEPT, "appointment_kept")

    weeks.event("SCHULD-1", date(2026, 3, 20), "closed_by_caseworker")
    sweep(weeks, SIX_WEEKS + timedelta(days=1))

    closed = referral(weeks, "SCHULD-1")
    assert closed.state == "closed"
    assert deadlines(weeks, "SCHULD-1")["staged_release"].state == "cancelled"
    assert rows(weeks, Voucher, Voucher.referral_id == closed.id) == []


def test_with_weeks_a_referral_started_during_the_weeks_waits_for_the_rest(
    weeks: World,
) -> None:
    weeks.start("SUCHT-1", STARTED, service_type="sucht", provider_code="SUCHT-CARITAS")
    weeks.event("SUCHT-1", date(2026, 3, 4), "appointment_booked", appointment_on=KEPT)
    weeks.event("SUCHT-1", KEPT, "appointment_kept")

    weeks.start("SCHULD-1", date(2026, 4, 1))

    waiting = referral(weeks, "SCHULD-1")
    assert waiting.state == "staged"
    wait = deadlines(weeks, "SCHULD-1")["staged_release"]
    assert (wait.started_on, wait.due_on) == (KEPT, SIX_WEEKS)
    sweep(weeks, SIX_WEEKS + timedelta(days=1))
    assert referral(weeks, "SCHULD-1").state == "voucher_issued"


def test_with_weeks_a_referral_started_after_the_weeks_starts_at_once(weeks: World) -> None:
    weeks.start("SUCHT-1", STARTED, service_type="sucht", provider_code="SUCHT-CARITAS")
    weeks.event("SUCHT-1", date(2026, 3, 4), "appointment_booked", appointment_on=KEPT)
    weeks.event("SUCHT-1", KEPT, "appointment_kept")

    weeks.start("SCHULD-1", SIX_WEEKS + timedelta(days=1))

    assert referral(weeks, "SCHULD-1").state == "voucher_issued"


def test_by_default_a_referral_started_while_sucht_runs_starts_at_once(kel: World) -> None:
    staged_pair(kel)
    kel.event("SUCHT-1", KEPT, "appointment_kept")

    kel.start("SCHULD-2", date(2026, 3, 10))

    assert referral(kel, "SCHULD-2").state == "voucher_issued"


# --- the setting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting",
    [{"after": "weeks_in_counselling"}, {"after": "first_appointment_kept", "weeks": 6}],
)
def test_weeks_go_with_the_weeks_variant_only(setting: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="weeks"):
        StagedRelease.model_validate(setting)


def test_a_weeks_release_for_a_service_that_is_not_staged_is_refused(tmp_path: Path) -> None:
    old = "    title: Kinderbetreuung (Betreuung minderjähriger oder behinderter Kinder)"
    new = f"{old}\n    staged_release: {{after: weeks_in_counselling, weeks: 4}}"

    with pytest.raises(ProcessDefinitionError) as refused:
        load_registry(definitions_with(tmp_path, old, new))

    assert "duesseldorf.yaml:30: Freigabe nach Wochen ohne 'staged_after'" in str(refused.value)
