"""Names of runs and the case's card as the Prefect UI shows them (pure; issue 10, point 2)."""

from __future__ import annotations

from datetime import date

import pytest

from models.case_card import CaseCard, DeadlineLine, Step, escape_markdown, render_card
from models.process import load_registry
from models.run_names import (
    follow_up_run_name,
    retention_run_name,
    step_title,
    sweep_run_name,
)

DUE = date(2026, 3, 16)


def test_step_titles_come_from_the_process_definition() -> None:
    process = load_registry().service("schulden").process
    kept = step_title("event", {"event": "appointment_kept"}, process)
    assert kept == "Erstgespräch wahrgenommen (Gutschein eingelöst)"
    assert step_title("start_referral", {}, process) == "Zuweisung angelegt"
    assert step_title("start_referral", {}, process, staged=True) == "Zuweisung angelegt (gestuft)"
    assert step_title("event", {"event": "<script>"}, process) == "Unbekannte Meldung"


def test_an_intakes_run_name_never_holds_its_reference() -> None:
    assert follow_up_run_name(12, "intake", "K-4711", "Eingangszone") == "Eingangszone · Befehl 12"
    assert follow_up_run_name(13, "event", "Z-1", "Erstgespräch terminiert") == (
        "Z-1 · Erstgespräch terminiert"
    )


def test_counts_in_run_names_take_the_right_number() -> None:
    assert sweep_run_name(DUE) == "Fristprüfung 16.03.2026"
    assert sweep_run_name(DUE, 1) == "Fristprüfung 16.03.2026 · 1 Timer"
    assert sweep_run_name(DUE, 14) == "Fristprüfung 16.03.2026 · 14 Timer"
    assert retention_run_name(DUE, 1) == "Anonymisierung 16.03.2026 · 1 Fall"
    assert retention_run_name(DUE, 3) == "Anonymisierung 16.03.2026 · 3 Fälle"


@pytest.mark.parametrize(
    ("state", "completed", "today", "status"),
    [
        ("open", None, DUE, "offen"),
        ("open", None, date(2026, 3, 17), "überfällig seit 1 Tag"),
        ("open", None, date(2026, 3, 19), "überfällig seit 3 Tagen"),
        ("met", date(2026, 3, 10), DUE, "erfüllt am 10.03.2026"),
        ("met", date(2026, 3, 18), DUE, "erfüllt am 18.03.2026, verspätet"),
        ("cancelled", date(2026, 3, 5), DUE, "entfallen am 05.03.2026"),
    ],
)
def test_a_deadline_says_whether_it_is_open_overdue_or_met(
    state: str, completed: date | None, today: date, status: str
) -> None:
    line = DeadlineLine("Erstgespräch", date(2026, 3, 2), DUE, state, completed)
    assert line.status(today) == status


def test_the_card_escapes_markdown_and_says_when_a_table_is_empty() -> None:
    card = CaseCard(
        reference="Z_1",
        state="Gutschein ausgegeben",
        state_since=date(2026, 3, 2),
        today=DUE,
        steps=(Step(date(2026, 3, 2), "A | B <b>", "Gutschein ausgegeben"),),
    )
    text = render_card(card)
    assert text.startswith("# Fall Z\\_1\n")
    assert "| 02.03.2026 | A \\| B \\<b\\> | Gutschein ausgegeben |" in text
    assert "Keine Fristen." in text and "Keine Eskalationen." in text
    assert escape_markdown("Koordination §\u00a016a\nneu") == "Koordination §\u00a016a neu"
    assert card.summary() == (
        "Fall Z_1: Gutschein ausgegeben · 0 Fristen offen, davon 0 überfällig"
        " · 0 Eskalationen offen"
    )
