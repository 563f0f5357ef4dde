"""Loading a case's course for its Prefect artifact (`models.case_card`) and naming the step
of a command (`models.run_names`): read models on the database, no Prefect.

Titles come from the process definition of the case's version (states, transitions;
`tasks.process_versions.service_for`) and, for audit entries that are no transition of the
process (start, reminders, escalation work), from `models.audit_titles.AUDIT_TITLES`, the
table the case page uses too. Reads and prints (`models.audit_titles.READS`) and actions
without a title are no step of the course and are left out; nothing shows a code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from models.audit_titles import AUDIT_TITLES, READS, action_title
from models.case_card import CaseCard, DeadlineLine, EscalationLine, Step
from models.clock import local_date
from models.german import datum
from models.process import ProcessDef, Registry, UnknownServiceType
from models.run_names import follow_up_run_name, step_title
from models.tables import (
    AuditEvent,
    Command,
    CommandStatus,
    Deadline,
    Escalation,
    Referral,
    Timer,
)
from tasks.commands import REFERENCE_TAKEN
from tasks.process_versions import UnknownVersion, service_for

#: Steps of the deadline sweep: shown from the fired timers, which name their deadline.
TIMER_STEPS = ("reminder", "overdue", "escalated")
ESCALATION_STATES = {"open": "offen", "acknowledged": "quittiert", "resolved": "erledigt"}
FIRST_STEP = "Koordination §\u00a016a"

_NOT_ALLOWED = re.compile(r"^Ereignis '[^']*' ist im Zustand '([^']*)' nicht zulässig")


def load_case_card(
    session: Session, referral: Referral, registry: Registry, today: date
) -> CaseCard:
    """The card of `referral` as of `today` (local date): steps from the audit trail (oldest
    first), every deadline, every escalation."""
    assert referral.id is not None
    process = _process(session, registry, referral)
    states = {name: s.title for name, s in process.states.items()} if process else {}
    return CaseCard(
        reference=referral.reference,
        state=states.get(referral.state, referral.state),
        state_since=referral.state_since,
        today=today,
        steps=tuple(_steps(session, referral.id, process, states)),
        deadlines=tuple(_deadlines(session, referral.id)),
        escalations=tuple(_escalations(session, referral.id, registry)),
    )


def _process(session: Session, registry: Registry, referral: Referral) -> ProcessDef | None:
    """The process of the version `referral` runs on; None for an unknown Leistungsart."""
    try:
        return service_for(session, registry, referral).process
    except (UnknownServiceType, UnknownVersion):
        return None


def _steps(
    session: Session, referral_id: int, process: ProcessDef | None, states: dict[str, str]
) -> list[Step]:
    """Audit entries with a title, and the fired timers that did something (reminder,
    overdue notice, escalation) with the title of their deadline, in the order they
    took effect."""
    entries = session.exec(
        select(AuditEvent).where(AuditEvent.referral_id == referral_id).order_by(col(AuditEvent.id))
    )
    steps: list[tuple[datetime, Step]] = []
    for entry in entries:
        title = action_title(entry.action, process)
        if title is None or entry.action in TIMER_STEPS or entry.action in READS:
            continue
        on, state = entry.detail.get("on"), entry.detail.get("state_to")
        day = date.fromisoformat(on) if isinstance(on, str) else local_date(entry.at)
        after = states.get(state, "") if isinstance(state, str) else ""
        steps.append((entry.at, Step(day, title, after)))
    timers = session.exec(
        select(Timer, Deadline.title)
        .join(Deadline, col(Deadline.id) == col(Timer.deadline_id))
        .where(Timer.referral_id == referral_id, col(Timer.result).in_(TIMER_STEPS))
    )
    for timer, deadline in timers:
        assert timer.fired_at is not None and timer.result is not None
        title = f"{AUDIT_TITLES[timer.result]}: {deadline}"
        steps.append((timer.fired_at, Step(local_date(timer.fired_at), title)))
    steps.sort(key=lambda item: (item[1].on, item[0]))
    return [step for _, step in steps]


def _deadlines(session: Session, referral_id: int) -> list[DeadlineLine]:
    rows = session.exec(
        select(Deadline)
        .where(Deadline.referral_id == referral_id)
        .order_by(col(Deadline.started_on), col(Deadline.id))
    )
    return [DeadlineLine(d.title, d.started_on, d.due_on, d.state, d.completed_on) for d in rows]


def _escalations(session: Session, referral_id: int, registry: Registry) -> list[EscalationLine]:
    second = registry.escalation.second_step_title if registry.escalation else "2. Stufe"
    rows = session.exec(
        select(Escalation, Deadline.title)
        .join(Deadline, col(Deadline.id) == col(Escalation.deadline_id))
        .where(Escalation.referral_id == referral_id)
        .order_by(col(Escalation.created_at), col(Escalation.id))
    )
    lines = []
    for escalation, deadline in rows:
        settled = local_date(escalation.resolved_at) if escalation.resolved_at else None
        state = ESCALATION_STATES.get(escalation.state, "")
        lines.append(
            EscalationLine(
                deadline=deadline,
                addressee=second if escalation.level >= 2 else FIRST_STEP,
                state=f"{state} am {datum(settled)}" if settled else state,
                raised_on=local_date(escalation.created_at),
                settled_on=settled,
            )
        )
    return lines


# --- the step of a command (names of follow-up runs) --------------------------------


@dataclass(frozen=True)
class CommandStep:
    """What a command did, as the Prefect UI may show it: the run's name, its case
    (Aktenzeichen and id; None for an intake, whose reference is a customer number, and for
    a refused start), the referrals it changed, and for a command the process refused, why
    (German, `rejection_reason`; None otherwise)."""

    command_id: int
    run_name: str
    reference: str | None = None
    case_id: int | None = None
    referral_ids: tuple[int, ...] = ()
    rejected: str | None = None


def command_step(session: Session, command_id: int, registry: Registry) -> CommandStep:
    """The step of command `command_id` (see `CommandStep`); an unknown id is a rejected
    step "Befehl 12 gibt es nicht"."""
    command = session.get(Command, command_id)
    if command is None:
        name = f"Befehl {command_id}"
        return CommandStep(command_id, name, rejected=f"{name} gibt es nicht; nichts zu tun")
    referral = _command_referral(session, command)
    process = _process(session, registry, referral) if referral else None
    staged = referral is not None and referral.staged_after_id is not None
    title = step_title(command.kind, command.payload, process, staged=staged)
    reference = None if command.kind == "intake" else command.reference
    name = follow_up_run_name(command_id, command.kind, reference, title)
    case, case_id = (referral.reference, referral.id) if referral else (None, None)
    if command.status == CommandStatus.rejected:
        why = f"Befehl {command_id} ({title}) abgelehnt: {rejection_reason(command.error, process)}"
        return CommandStep(command_id, name, case, case_id, rejected=why)
    changed = (case_id,) if case_id is not None and command.referral_id is not None else ()
    return CommandStep(command_id, name, case, case_id, changed)


def _command_referral(session: Session, command: Command) -> Referral | None:
    """The case of `command`: the referral it changed, or for a rejected event the
    referral of its Aktenzeichen (a rejected start names none: its Aktenzeichen may be
    another case's)."""
    if command.referral_id is not None:
        return session.get(Referral, command.referral_id)
    if command.kind != "event":
        return None
    return session.exec(select(Referral).where(Referral.reference == command.reference)).first()


def rejection_reason(error: str | None, process: ProcessDef | None) -> str:
    """Why the process refused a command, in words fit for Prefect (no codes, no values
    the user typed, no data of the person): the stored `error` is mapped to a fixed German
    text; the details are on the case page of the dashboard."""
    details = "Einzelheiten auf der Fallseite im Dashboard"
    error = error or ""
    match = _NOT_ALLOWED.match(error)
    if match:
        states = {n: s.title for n, s in process.states.items()} if process else {}
        state = states.get(match.group(1))
        where = f"im Zustand „{state}“" if state else "im Zustand des Falls"
        return f"Schritt {where} nicht zulässig ({details})"
    if error.startswith("Keine Zuweisung mit Aktenzeichen"):
        return f"kein Fall mit diesem Aktenzeichen ({details})"
    if error == REFERENCE_TAKEN:
        return "Aktenzeichen nicht verfügbar"
    return f"Angaben unvollständig oder unzulässig ({details})"
