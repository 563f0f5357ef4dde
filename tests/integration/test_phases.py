"""Leistungsabschnitte of the Schuldnerberatung, rule by rule (issue 10, point 6; seed 002
§4.1, Bericht 01: "LA n seit mehr als 90 Tagen nicht abgeschlossen", Anteil in %).

The provider reports a phase begun or completed with the event ``phase_reported`` on the
one path of a case (`tasks.commands.execute`); the main state stays ``in_counselling``.
The figures count, on a Stichtag, the running cases whose phase is open, those open for
more than 90 calendar days, and the share of the second among the first. Every test runs
on SQLite and on PostgreSQL (`db_url`), each database migrated to head by Alembic.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, true
from sqlmodel import col, select

from models.commands import ReferralEvent
from models.db import engine
from models.phases import TOTAL, phase_figures
from models.process import ProcessDefinitionError, load_registry
from models.statemachine import InvalidTransition
from models.tables import Referral, ReferralPhase, User
from tasks.commands import CommandRejected
from tasks.phases import current_phase
from tasks.read_model.phases import load_case_phases
from tasks.read_model.scope import Scope
from tests.factories import PROVIDER, World, at
from tests.integration.test_staged_release import definitions_with

STARTED = date(2026, 3, 2)  # Monday
KEPT = date(2026, 3, 9)
COORDINATOR = User(
    username="koordination", password_hash="-", role="coordinator", created_at=at(STARTED)
)
EVERYTHING = Scope(COORDINATOR, true())


def counselling(kel: World, reference: str, **kw: object) -> None:
    """A Schuldnerberatung in counselling since `KEPT`."""
    kel.start(reference, STARTED, **kw)
    kel.execute(
        "event",
        reference,
        STARTED,
        ReferralEvent(event="appointment_booked", appointment_on=KEPT),
        PROVIDER,
    )
    kel.execute("event", reference, KEPT, ReferralEvent(event="appointment_kept"), PROVIDER)


def report(kel: World, reference: str, on: date, phase: str, step: str) -> None:
    payload = ReferralEvent.model_validate(
        {"event": "phase_reported", "phase": phase, "phase_step": step}
    )
    kel.execute("event", reference, on, payload, PROVIDER)


def phases(kel: World, reference: str) -> list[tuple[str, date, date | None]]:
    with kel.session() as s:
        found = s.exec(
            select(ReferralPhase)
            .join(Referral, col(Referral.id) == col(ReferralPhase.referral_id))
            .where(Referral.reference == reference)
            .order_by(col(ReferralPhase.begun_on))
        )
        return [(p.phase, p.begun_on, p.completed_on) for p in found]


def test_the_migration_creates_the_phase_table(kel: World) -> None:
    columns = {c["name"] for c in inspect(engine(kel.url)).get_columns("referralphase")}
    assert columns == {"id", "referral_id", "phase", "begun_on", "completed_on"}


def test_a_phase_begun_and_completed_is_kept_and_the_main_state_stays(kel: World) -> None:
    counselling(kel, "Z-1")
    report(kel, "Z-1", date(2026, 3, 10), "LA1", "begun")
    report(kel, "Z-1", date(2026, 4, 20), "LA1", "completed")
    report(kel, "Z-1", date(2026, 4, 21), "LA2", "begun")
    assert phases(kel, "Z-1") == [
        ("LA1", date(2026, 3, 10), date(2026, 4, 20)),
        ("LA2", date(2026, 4, 21), None),
    ]
    with kel.session() as s:
        case = s.exec(select(Referral).where(Referral.reference == "Z-1")).one()
        assert (case.state, case.state_since) == ("in_counselling", KEPT)
        assert case.id is not None
        now = current_phase(s, case.id)
    assert now is not None and (now.phase, now.begun_on) == ("LA2", date(2026, 4, 21))


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([("LA9", "begun")], "Unbekannte Phase 'LA9'; vereinbart sind: LA1, LA2, LA3, LA4"),
        ([("LA1", "completed")], "Leistungsabschnitt 1 (LA 1) ist nicht begonnen"),
        ([("LA1", "begun"), ("LA2", "begun")], "Leistungsabschnitt 1 (LA 1) ist noch nicht"),
        ([("LA1", "begun"), ("LA1", "begun")], "ist bereits am 10.03.2026 begonnen"),
        (
            [("LA1", "begun"), ("LA1", "completed"), ("LA1", "completed")],
            "ist bereits am 10.03.2026 abgeschlossen",
        ),
    ],
)
def test_a_phase_report_the_rules_refuse_writes_nothing(
    kel: World, steps: list[tuple[str, str]], message: str
) -> None:
    counselling(kel, "Z-2")
    *before, last = steps
    for phase, step in before:
        report(kel, "Z-2", date(2026, 3, 10), phase, step)
    kept = phases(kel, "Z-2")
    with pytest.raises(CommandRejected, match=re.escape(message)):
        report(kel, "Z-2", date(2026, 3, 10), *last)
    assert phases(kel, "Z-2") == kept


def test_a_leistungsart_without_phases_refuses_a_phase(kel: World) -> None:
    counselling(kel, "S-1", service_type="sucht", provider_code="SUCHT-CARITAS")
    with pytest.raises(CommandRejected, match="Suchtberatung: für diese Leistungsart sind keine"):
        report(kel, "S-1", date(2026, 3, 10), "LA1", "begun")
    assert phases(kel, "S-1") == []


def test_a_phase_outside_the_counselling_is_not_allowed_now(kel: World) -> None:
    kel.start("Z-3", STARTED)
    with pytest.raises(InvalidTransition) as refused:
        report(kel, "Z-3", STARTED, "LA1", "begun")
    assert refused.value.state == "voucher_issued"


def test_a_phase_on_another_event_is_refused(kel: World) -> None:
    counselling(kel, "Z-4")
    payload = ReferralEvent.model_validate(
        {"event": "aborted", "phase": "LA1", "phase_step": "begun"}
    )
    with pytest.raises(CommandRejected, match="nur mit einer Phasenmeldung"):
        kel.execute("event", "Z-4", date(2026, 3, 10), payload, PROVIDER)
    assert phases(kel, "Z-4") == []


def test_a_phase_event_without_its_phase_is_refused(kel: World) -> None:
    counselling(kel, "Z-5")
    with pytest.raises(CommandRejected, match=r"phase \(Leistungsabschnitt\) und phase_step"):
        kel.execute(
            "event", "Z-5", date(2026, 3, 10), ReferralEvent(event="phase_reported"), PROVIDER
        )


def test_completing_before_the_begin_is_refused(kel: World) -> None:
    counselling(kel, "Z-6")
    report(kel, "Z-6", date(2026, 3, 20), "LA1", "begun")
    with pytest.raises(CommandRejected, match=r"nicht vor ihrem Beginn \(20.03.2026\)"):
        report(kel, "Z-6", date(2026, 3, 19), "LA1", "completed")


@pytest.mark.parametrize(("days", "stale"), [(89, 0), (90, 0), (91, 1)])
def test_more_than_90_calendar_days_open_counts(kel: World, days: int, stale: int) -> None:
    begun = date(2026, 3, 10)
    counselling(kel, "Z-7")
    report(kel, "Z-7", begun, "LA1", "begun")
    registry = kel.registry
    with kel.session() as s:
        cases = load_case_phases(s, EVERYTHING, "schulden")
    columns = phase_figures(
        registry.service("schulden").standard.phases, cases, begun + timedelta(days=days)
    )
    total = columns[-1]
    assert total.provider == TOTAL
    la1 = total.figures[0]
    assert (la1.phase, la1.open, la1.stale) == ("LA1", 1, stale)
    assert [f.open for f in total.figures[1:]] == [0, 0, 0]


def test_the_shares_per_provider_and_in_total(kel: World) -> None:
    """Caritas: LA 1 open in 3 cases, 2 of them for > 90 days (66,7 %); one case completed
    LA 1 and is in LA 2 for 30 days (0 %). Diakonie: LA 1 open in 1 case for 100 days
    (100 %); a closed case in LA 1 counts nowhere. Total LA 1: 3 of 4 = 75 %."""
    stichtag = date(2026, 9, 1)
    old, young = stichtag - timedelta(days=100), stichtag - timedelta(days=10)
    for ref, begun in (("C-1", old), ("C-2", old), ("C-3", young)):
        counselling(kel, ref, customer_number=f"K{ref}")
        report(kel, ref, begun, "LA1", "begun")
    counselling(kel, "C-4", customer_number="KC4")
    report(kel, "C-4", old, "LA1", "begun")
    report(kel, "C-4", stichtag - timedelta(days=31), "LA1", "completed")
    report(kel, "C-4", stichtag - timedelta(days=30), "LA2", "begun")
    for ref in ("D-1", "D-2"):
        counselling(kel, ref, customer_number=f"K{ref}", provider_code="SB-DIAKONIE")
        report(kel, ref, old, "LA1", "begun")
    kel.execute("event", "D-2", old + timedelta(days=5), ReferralEvent(event="aborted"), PROVIDER)
    with kel.session() as s:
        cases = load_case_phases(s, EVERYTHING, "schulden")
        only_caritas = load_case_phases(
            s, Scope(COORDINATOR, col(Referral.reference).like("C-%")), "schulden"
        )
    columns = phase_figures(kel.registry.service("schulden").standard.phases, cases, stichtag)
    by_name = {
        c.provider: {f.phase: (f.open, f.stale, f.share) for f in c.figures} for c in columns
    }
    assert [c.provider for c in columns] == ["Träger SB-CARITAS", "Träger SB-DIAKONIE", TOTAL]
    open_, stale, share = by_name["Träger SB-CARITAS"]["LA1"]
    assert (open_, stale) == (3, 2) and share == pytest.approx(2 / 3)
    assert by_name["Träger SB-CARITAS"]["LA2"] == (1, 0, 0.0)
    assert by_name["Träger SB-DIAKONIE"]["LA1"] == (1, 1, 1.0)
    assert by_name[TOTAL]["LA1"] == (4, 3, 0.75)
    assert by_name[TOTAL]["LA3"] == (0, 0, None)
    assert len(only_caritas) == 4


def test_check_config_names_file_and_line_of_a_phase_twice(tmp_path: Path) -> None:
    folder = definitions_with(
        tmp_path,
        '      - {code: LA2, title: "Leistungsabschnitt 2 (LA 2)", stale_after_days: 90}',
        '      - {code: LA1, title: "Leistungsabschnitt 2 (LA 2)", stale_after_days: 90}',
    )
    with pytest.raises(ProcessDefinitionError) as invalid:
        load_registry(folder)
    line = next(
        n
        for n, text in enumerate((folder / "duesseldorf.yaml").read_text().splitlines(), 1)
        if 'title: "Leistungsabschnitt 2 (LA 2)"' in text
    )
    assert f"duesseldorf.yaml:{line}: Phase 'LA1' doppelt" in "\n".join(invalid.value.problems)
