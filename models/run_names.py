"""What the Prefect UI shows of a run: the names of flow runs and task runs (issue 10, point 2).

A flow run is named for the step it does, in German: ``"Z-2026-0001 · Erstgespräch
wahrgenommen (Gutschein eingelöst)"`` (Aktenzeichen and the title of the transition in the
process definition), ``"Fristprüfung 25.11.2026 · 14 Timer"``, ``"Anonymisierung
25.11.2026 · 3 Fälle"``. Only Aktenzeichen, titles of the process definition, dates and
counts: never a customer number (an intake's command carries one, so its run is named
without it), name, address or report content (DESIGN §4.4, §4.7).

Task names (and task run names) are ASCII, umlauts transliterated ("Faelle",
"Rueckmeldung"; `tasks.steps`, `tasks.prefect_view`): the run graph of Prefect 3.8's UI
draws its labels with a bitmap font of the ASCII characters only (``chars:
BitmapFont.ASCII`` in ``prefect/server/ui/assets/index-*.js``; a task "Lauf mit Fällen
verschlagworten" is drawn "Lauf mit Fllen verschlagworten"), while the run lists, page
titles and logs are HTML and keep umlauts (checked on a screenshot of a real server). Flow
runs of kel-flow are never subflows, so they never appear in a graph: their names keep
umlauts.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from models.german import anzahl, datum
from models.process import ProcessDef

#: Between the subject of a run and its step or count (a middle dot, as in the UI's own titles).
SEP = " · "
#: The title of a command that starts a referral (the process has no transition for it).
STARTED = "Zuweisung angelegt"
STARTED_STAGED = "Zuweisung angelegt (gestuft)"
#: An intake's run: its command's reference is the customer number, which stays out.
INTAKE = "Eingangszone"
#: An event the process definition does not know (never the reported string itself).
UNKNOWN_EVENT = "Unbekannte Meldung"


def step_title(
    kind: str, payload: dict[str, Any], process: ProcessDef | None, *, staged: bool = False
) -> str:
    """The German title of the step a command does: `STARTED` for ``start_referral``
    (`STARTED_STAGED` when the referral waits for another service), `INTAKE` for an intake,
    else the title of the event's transition in `process` (`UNKNOWN_EVENT` for an event
    it does not define, or without a process)."""
    if kind == "intake":
        return INTAKE
    if kind == "start_referral":
        return STARTED_STAGED if staged else STARTED
    event = payload.get("event")
    titles = {t.event: t.title for t in process.transitions} if process else {}
    return titles.get(str(event), UNKNOWN_EVENT)


def follow_up_run_name(command_id: int, kind: str, reference: str | None, title: str) -> str:
    """The name of the follow-up run of command `command_id`: ``"<Aktenzeichen> · <title>"``;
    an intake's run (or one without a case) ``"Eingangszone · Befehl 12"``, never with the
    intake's reference (a customer number)."""
    if kind == "intake" or not reference:
        return f"{title}{SEP}Befehl {command_id}"
    return f"{reference}{SEP}{title}"


def sweep_run_name(day: date, timers: int | None = None) -> str:
    """``"Fristprüfung 25.11.2026"`` at the start, ``"Fristprüfung 25.11.2026 · 14 Timer"``
    once the count of timers fired is known."""
    name = f"Fristprüfung {datum(day)}"
    return name if timers is None else f"{name}{SEP}{anzahl(timers, 'Timer', 'Timer')}"


def retention_run_name(day: date, cases: int | None = None) -> str:
    """``"Anonymisierung 25.11.2026"``, then ``"Anonymisierung 25.11.2026 · 3 Fälle"``."""
    name = f"Anonymisierung {datum(day)}"
    return name if cases is None else f"{name}{SEP}{anzahl(cases, 'Fall', 'Fälle')}"


def simulation_run_name(start: date, days: int) -> str:
    """``"Simulation ab 02.03.2026 · 14 Tage"`` (the demo's simulated days)."""
    return f"Simulation ab {datum(start)}{SEP}{anzahl(days, 'Tag', 'Tage')}"
