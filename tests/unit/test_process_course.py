"""The ``course:`` of the process types (issue 10, point 3): its validation, its rendering,
the README block, and a golden test against seed 002 §4.2.

The golden course is written out by hand from the seed's table "Mindeststandards mit
Kommune vereinbart" (Schulden: Terminvergabe Erstberatung binnen 14 Tagen, 1. Rückmeldung
14 Tage, Zwischenmeldung nach 6 Wochen, Ergebnismeldung nach 26 Wochen), never generated
from the YAML.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from models.course import course_lines, period_text, render_course
from models.process import SHIPPED_DIR, ProcessDefinitionError, load_registry

README = Path(__file__).parents[2] / "README.md"
KOMMUNEN = sorted((SHIPPED_DIR / "kommunen").iterdir())

SCHULDEN_BY_HAND = [
    "1. Zuweisung → Gutschein ausgegeben",
    "2. Erstgespräch terminiert → Erstgespräch terminiert",
    # not in the seed: the Kommune's default validity of an unredeemed voucher
    "   Frist „Gültigkeit des Gutscheins“: 4 Wochen nach Schritt 1",
    "3. Erstgespräch wahrgenommen (Gutschein eingelöst) → In Beratung",
    "   Frist „Erstgespräch“: 14 Tage nach Schritt 1",  # Terminvergabe binnen 14 Tagen
    "4. 1. Rückmeldung des Trägers → In Beratung",
    "   Frist „1. Rückmeldung“: 14 Tage nach Schritt 1",  # 1. Rückmeldung 14 Tage
    "5. Zwischenmeldung / Zwischenbericht → In Beratung",
    "   Frist „Zwischenmeldung“: 6 Wochen nach Schritt 3",  # nach 6 Wochen
    "6. Ergebnismeldung → In Beratung",
    "   Frist „Ergebnismeldung“: 26 Wochen nach Schritt 3",  # nach 26 Wochen
    "7. Abschlussbericht – Abschluss → Abgeschlossen",
]


def test_the_schulden_course_is_the_one_seed_002_tells() -> None:
    assert course_lines(load_registry().service("schulden")) == SCHULDEN_BY_HAND


def test_an_individual_period_is_named_as_such() -> None:
    lines = course_lines(load_registry().service("kinderbetreuung"))

    assert "   Frist „Zwischenmeldung“: individuell, keine feste Frist" in lines
    assert "   Frist „Ergebnismeldung“: 8 Wochen nach Schritt 3" in lines


def test_the_readme_shows_the_rendered_course() -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- course: schulden -->\n```text\n(.*?)```\n<!-- /course -->", text, re.S)

    assert block is not None, "README: course block missing"
    assert block.group(1) == render_course(load_registry().service("schulden"))


@pytest.mark.parametrize("directory", [SHIPPED_DIR, *KOMMUNEN], ids=lambda p: p.name)
def test_every_shipped_process_has_a_course_ending_in_a_final_state(directory: Path) -> None:
    registry = load_registry(directory)

    for process in registry.processes.values():
        assert process.course, process.name
        assert process.course[0].event is None
        assert process.states[process.course[-1].state].final


def test_a_relative_deadline_counts_from_the_step_that_started_its_base() -> None:
    config = next(iter(load_registry(SHIPPED_DIR / "kommunen" / "lvr").services.values()))

    assert "   Frist „Verlaufsbericht an den Leistungsträger“: 22 Monate nach Schritt 2" in (
        course_lines(config)
    )


@pytest.mark.parametrize(
    ("period", "working_days", "text"),
    [
        ("P1D", False, "1 Tag"),
        ("P14D", False, "14 Tage"),
        ("P10D", True, "10 Arbeitstage"),
        ("P6W", True, "6 Wochen"),
        ("P1M", False, "1 Monat"),
        (None, False, "individuell"),
        ("P1Y", False, "P1Y"),
    ],
)
def test_periods_read_in_german(period: str | None, working_days: bool, text: str) -> None:
    assert period_text(period, working_days) == text


def test_kel_process_course_prints_the_course() -> None:
    result = CliRunner().invoke(app, ["process", "course", "kel_referral"])

    assert result.exit_code == 0, result.output
    assert "1. Zuweisung → Gutschein ausgegeben" in result.output
    unknown = CliRunner().invoke(app, ["process", "course", "gibt_es_nicht"])
    assert unknown.exit_code == 2


# --- validation ------------------------------------------------------------------------------


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    target = tmp_path / "definitions"
    target.mkdir()
    for path in SHIPPED_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def problems_after(directory: Path, old: str, new: str) -> tuple[list[str], Path, list[str]]:
    path = directory / "kel_referral.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ProcessDefinitionError) as info:
        load_registry(directory)
    return info.value.problems, path, path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  - {event: appointment_booked, state: appointment_booked}\n",
            "",
            "appointment_kept: im Zustand 'voucher_issued' nicht erlaubt",
        ),
        (
            "{event: first_feedback, state: in_counselling}",
            "{event: first_feedbak, state: in_counselling}",
            "Ereignis 'first_feedbak' nicht definiert",
        ),
        (
            "{event: appointment_kept, state: in_counselling}",
            "{event: appointment_kept, state: no_show}",
            "appointment_kept: führt nach 'in_counselling'",
        ),
        (
            "  - {state: voucher_issued}\n",
            "  - {state: staged}\n",
            "der Start führt nach 'voucher_issued', nicht 'staged'",
        ),
    ],
)
def test_a_broken_course_step_is_reported_with_file_and_line(
    definitions: Path, old: str, new: str, message: str
) -> None:
    problems, path, lines = problems_after(definitions, old, new)

    hits = [p for p in problems if p.endswith(message)]
    assert len(hits) == 1, problems
    where, line = hits[0].split(": ", 1)[0].rsplit(":", 1)
    assert where == str(path)
    assert lines[int(line) - 1].lstrip().startswith("- {")


def test_a_course_that_does_not_end_in_a_final_state_is_refused(definitions: Path) -> None:
    problems, path, _ = problems_after(
        definitions, "  - {event: final_report, state: closed}\n", ""
    )

    assert any(
        p.startswith(f"{path}:")
        and p.endswith("Ablauf endet in 'in_counselling', keinem Endzustand")
        for p in problems
    ), problems


# --- attributes instead of Python copies (issue 10, point 3) ---------------------------------


def test_the_report_events_and_releasing_states_come_from_the_yaml() -> None:
    process = load_registry().processes["kel_referral"]

    assert process.report_events == {
        "first_feedback",
        "interim_report",
        "result_report",
        "final_report",
    }
    assert process.releasing_states == {"in_counselling", "closed"}


def test_an_event_reporting_in_one_state_only_is_refused(definitions: Path) -> None:
    extra = (
        "  - event: first_feedback\n"
        "    title: 1. Rückmeldung bei Neuzuweisung\n"
        "    by: [provider]\n"
        "    from: [rerouting]\n"
    )
    problems, path, lines = problems_after(
        definitions, "  - event: interim_report\n", extra + "  - event: interim_report\n"
    )

    line = lines.index("    title: 1. Rückmeldung bei Neuzuweisung")  # 0-based: the "- event"
    assert problems == [
        f"{path}:{line}: first_feedback: 'report' anders als beim selben Ereignis"
    ], problems
