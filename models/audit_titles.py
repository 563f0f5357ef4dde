"""German titles of a case's audit actions: one table for the case page's history
(`api.dashboard.cases`) and the course of a case in Prefect (`tasks.case_card`).

An audit action that is a transition of the process (an event) takes the transition's
title from the process definition of the case's version (`models.process`); no event
name appears here. The rest (start, reminders, escalation work, reads) are titled by
`AUDIT_TITLES`. Reads (`READS`) are shown in the history but are no step of a case's
course. Pure: no database.
"""

from __future__ import annotations

from models.process import ProcessDef
from models.run_names import STARTED, STARTED_STAGED

AUDIT_TITLES: dict[str, str] = {
    "started": STARTED,
    "staged": STARTED_STAGED,
    "reminder": "Erinnerung",
    "overdue": "Frist überschritten",
    "escalated": "Eskalation an die Koordination",
    "funder_informed": "Leistungsträger informiert",
    "escalation_acknowledge": "Eskalation quittiert",
    "escalation_assign": "Eskalation zugewiesen",
    "escalation_resolve": "Eskalation erledigt",
    "escalation_auto_resolve": "Eskalation automatisch erledigt",
    "escalation_raised": "Eskalation an die 2. Stufe weitergeleitet",
    "consent_granted": "Schweigepflichtentbindung erfasst",
    "voucher_printed": "Gutschein gedruckt (PDF)",
    "feedback_content_read": "Inhalt der Rückmeldungen gelesen",
    "report_read": "Bericht abgerufen",
    "command_rejected": "Meldung abgewiesen",
    "notification_given_up": "Benachrichtigung aufgegeben",
    "anonymised": "Nach Ablauf der Aufbewahrungsfrist anonymisiert",
}
"""Audit actions of a case that are no transition of its process -> German title."""

READS = frozenset({"voucher_printed", "feedback_content_read", "report_read"})
"""Audit actions that only read or print: in the history, never a step of the course."""

OTHER_ACTION = "Sonstiger Eintrag im Protokoll"
"""The title of an audit action known nowhere (never its code on a page)."""


def event_titles(process: ProcessDef | None) -> dict[str, str]:
    """Event -> the German title of its transition in `process` ({} without one)."""
    return {t.event: t.title for t in process.transitions} if process else {}


def action_title(action: str, process: ProcessDef | None) -> str | None:
    """The German title of audit `action` of a case running on `process` (the case's
    version): its transition's title, else `AUDIT_TITLES`; None for an unknown action."""
    return event_titles(process).get(action) or AUDIT_TITLES.get(action)
