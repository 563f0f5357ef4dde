"""A case's course as a Prefect artifact (markdown): its steps, deadlines and escalations.

The card is what the Artifacts page of the Prefect UI shows for one case (key
`models.urls.case_artifact_key`), rewritten on every step of the case
(`tasks.case_card`). Prefect's self-hosted UI has no per-user access control, so the card
holds only the Aktenzeichen, titles of the process definition (states, steps, deadlines),
dates and counts (DESIGN §4.4, §4.7). Left out on purpose: names, customer number, e-mail
addresses, provider, site, report content, the users who acted, free-text reasons (of an
escalation's resolution or a rejected command), and the Leistungsart (a Sucht or
psychosozial case would tell health data of the person behind the Aktenzeichen).

Pure: builds markdown from plain values; `tasks.case_card` loads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from models.german import anzahl, datum
from models.run_names import SEP


@dataclass(frozen=True)
class Step:
    """One line of the course: the day it took effect, its German title, the state after
    it (title; empty when the step did not change or name one)."""

    on: date
    title: str
    state: str = ""


@dataclass(frozen=True)
class DeadlineLine:
    """A Frist: title, start and due date, ``open``/``met``/``cancelled`` and when it ended."""

    title: str
    started_on: date
    due_on: date
    state: str
    completed_on: date | None = None

    def overdue_days(self, today: date) -> int:
        """Whole days an open deadline is past its due day at `today` (0 if not)."""
        return max((today - self.due_on).days, 0) if self.state == "open" else 0

    def status(self, today: date) -> str:
        """German: "offen", "überfällig seit 3 Tagen", "erfüllt am 16.03.2026" (", verspätet"
        when met after the due day), "entfallen am …"."""
        if self.state == "met":
            late = self.completed_on is not None and self.completed_on > self.due_on
            return f"erfüllt am {datum(self.completed_on)}" + (", verspätet" if late else "")
        if self.state == "cancelled":
            return f"entfallen am {datum(self.completed_on)}"
        days = self.overdue_days(today)
        return f"überfällig seit {anzahl(days, 'Tag', 'Tagen')}" if days else "offen"


@dataclass(frozen=True)
class EscalationLine:
    """An escalation: the deadline's title, the ladder step's addressee, its state (German)
    and the days it was raised and settled."""

    deadline: str
    addressee: str
    state: str
    raised_on: date
    settled_on: date | None = None


@dataclass(frozen=True)
class CaseCard:
    """What the card of one case shows, as of `today` (local date)."""

    reference: str
    state: str
    state_since: date
    today: date
    steps: tuple[Step, ...] = ()
    deadlines: tuple[DeadlineLine, ...] = ()
    escalations: tuple[EscalationLine, ...] = ()

    @property
    def open_escalations(self) -> int:
        return sum(1 for e in self.escalations if e.settled_on is None)

    def summary(self) -> str:
        """One line for the artifact's description: state, deadlines open and overdue,
        open escalations (counts only)."""
        open_ = [d for d in self.deadlines if d.state == "open"]
        overdue = sum(1 for d in open_ if d.overdue_days(self.today))
        parts = [
            f"Fall {self.reference}: {self.state}",
            f"{anzahl(len(open_), 'Frist', 'Fristen')} offen, davon {overdue} überfällig",
            f"{anzahl(self.open_escalations, 'Eskalation', 'Eskalationen')} offen",
        ]
        return SEP.join(parts)


def render_card(card: CaseCard) -> str:
    """The card as markdown: heading, state line, tables "Verlauf", "Fristen",
    "Eskalationen". Every value is escaped for markdown tables."""
    lines = [
        f"# Fall {escape_markdown(card.reference)}",
        "",
        f"**Zustand:** {escape_markdown(card.state)} (seit {datum(card.state_since)}){SEP}"
        f"**Stand:** {datum(card.today)}",
        "",
        "## Verlauf",
        "",
        *_table(("Datum", "Schritt", "Zustand danach"), _step_rows(card.steps), "Schritte"),
        "",
        "## Fristen",
        "",
        *_table(("Frist", "Beginn", "Fällig am", "Stand"), _deadline_rows(card), "Fristen"),
        "",
        "## Eskalationen",
        "",
        *_table(
            ("Frist", "Stufe", "Stand", "Eskaliert am"),
            _escalation_rows(card.escalations),
            "Eskalationen",
        ),
        "",
        "_Nur Aktenzeichen, Zustände, Daten und Zahlen; Einzelheiten auf der Fallseite im "
        "Dashboard von kel-flow._",
    ]
    return "\n".join(lines) + "\n"


def _step_rows(steps: tuple[Step, ...]) -> list[tuple[str, ...]]:
    return [(datum(s.on), s.title, s.state) for s in steps]


def _deadline_rows(card: CaseCard) -> list[tuple[str, ...]]:
    return [
        (d.title, datum(d.started_on), datum(d.due_on), d.status(card.today))
        for d in card.deadlines
    ]


def _escalation_rows(escalations: tuple[EscalationLine, ...]) -> list[tuple[str, ...]]:
    return [(e.deadline, e.addressee, e.state, datum(e.raised_on)) for e in escalations]


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]], what: str) -> list[str]:
    """A markdown table, or "Keine <what>." without rows."""
    if not rows:
        return [f"Keine {what}."]
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    out += ["| " + " | ".join(escape_markdown(cell) for cell in row) + " |" for row in rows]
    return out


_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|~"})


def escape_markdown(text: str) -> str:
    """`text` with markdown's special characters escaped and line breaks made spaces
    (non-breaking spaces stay: "§\u00a016a")."""
    return re.sub(r"[\r\n\t]+", " ", text).translate(_MARKDOWN)
