"""The referral state machine: ``decide(case, event, today, service) -> Decision``.

Pure Python: it applies a `ProcessDef` (loaded from YAML, `models.process`) to a snapshot
of one referral and returns what should change; the caller saves it and sends what it
says. Nothing here touches a database, Prefect or the network (DESIGN §4.3).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

from models.calendar import due_date
from models.process import ServiceConfig, TransitionDef

Recipient = Literal["provider", "customer", "caseworker", "coordinator"]


@dataclass(frozen=True)
class OpenDeadline:
    """An open Frist of the case: database id, kind (e.g. ``first_appointment``), due date."""

    id: int
    kind: str
    due_on: date


@dataclass(frozen=True)
class CaseView:
    """What the state machine needs to know of one referral.

    ``customer_reachable`` is true only where a contact channel and consent to use it exist
    (customer reminders are sent only then).
    """

    referral_id: int
    service_type: str
    state: str
    open_deadlines: tuple[OpenDeadline, ...] = ()
    customer_reachable: bool = False

    def open_deadline(self, kind: str) -> OpenDeadline | None:
        return next((d for d in self.open_deadlines if d.kind == kind), None)


@dataclass(frozen=True)
class Event:
    """Something that happened to the case on `occurred_on` (local date, Europe/Berlin)."""

    name: str
    occurred_on: date


@dataclass(frozen=True)
class DeadlineReached:
    """A timer of the deadline sweep: step `step` of the ladder of deadline `deadline_id`."""

    deadline_id: int
    kind: str
    due_on: date
    step: int


@dataclass(frozen=True)
class NewTimer:
    """A ladder step to schedule: fires at 00:00 Europe/Berlin of `fire_on`."""

    step: int
    action: str
    fire_on: date


@dataclass(frozen=True)
class NewDeadline:
    kind: str
    title: str
    period: str
    started_on: date
    due_on: date
    timers: tuple[NewTimer, ...]


@dataclass(frozen=True)
class Notify:
    """A notification to send once; `key` is unique per (case, deadline, ladder step)."""

    key: str
    template: str
    recipient: Recipient
    deadline_id: int | None = None
    title: str = ""
    due_on: date | None = None


@dataclass(frozen=True)
class Escalate:
    """An escalation to the Koordinator/in § 16a for an overdue deadline."""

    deadline_id: int
    kind: str
    title: str
    due_on: date
    days_overdue: int


@dataclass(frozen=True)
class Decision:
    """The outcome of one `decide` call; `event` is what was applied (or ``None``: no-op)."""

    state: str
    event: str | None
    title: str = ""
    outcome: str | None = None
    voucher: str | None = None
    start: tuple[NewDeadline, ...] = ()
    complete: tuple[str, ...] = ()
    cancel: tuple[str, ...] = ()
    notify: tuple[Notify, ...] = ()
    escalate: tuple[Escalate, ...] = ()
    skipped: str | None = None
    effective_on: date | None = None  # for timer-driven transitions: the day it took effect

    @property
    def changed(self) -> bool:
        return self.event is not None


class InvalidTransition(Exception):
    """The event is not allowed in the case's state; names both and the allowed events."""

    def __init__(self, state: str, event: str, allowed: Collection[str]) -> None:
        self.state, self.event, self.allowed = state, event, sorted(allowed)
        super().__init__(
            f"Ereignis {event!r} ist im Zustand {state!r} nicht zulässig; "
            f"zulässig: {', '.join(self.allowed) or 'keine (Endzustand)'}"
        )


def allowed_events(service: ServiceConfig, state: str) -> list[str]:
    """Events the process accepts in `state`, sorted."""
    return sorted({t.event for t in service.process.transitions if state in t.from_})


def start(
    service: ServiceConfig,
    referral_id: int,
    started_on: date,
    *,
    staged: bool = False,
    closures: Collection[date] = (),
) -> Decision:
    """The first decision of a new referral (Bedarfsfeststellung, Gutschein, Fristen).

    `staged` puts it into the process's waiting state instead (another Leistungsart runs
    first, e.g. Sucht vor Schulden, seed 002 §4.2). Deadlines are counted from
    `started_on` per § 26 SGB X (see `models.calendar.due_date`).
    """
    process = service.process
    if staged:
        if process.staged is None:
            raise ValueError(f"Prozess {process.name!r} kennt keine Stufung")
        return Decision(state=process.staged, event="staged", title="Gestuft")
    return Decision(
        state=process.initial,
        event="started",
        title="Gutschein ausgegeben",
        voucher=process.initial_voucher,
        start=_new_deadlines(service, process.initial_deadlines, started_on, closures),
    )


def decide(
    case: CaseView,
    event: Event | DeadlineReached,
    today: date,
    service: ServiceConfig,
    *,
    closures: Collection[date] = (),
) -> Decision:
    """Apply `event` to `case` as of `today` (local date, Europe/Berlin).

    An `Event` not allowed in the case's state raises `InvalidTransition`. A
    `DeadlineReached` is re-checked against the case as it is now: if its deadline is no
    longer open, or its ladder step no longer applies, the decision is a no-op
    (``changed`` false, ``skipped`` says why), so a late or repeated timer does no harm
    (DESIGN §3: never early, possibly late, once).
    """
    if isinstance(event, DeadlineReached):
        return _on_deadline(case, event, today, service, closures)
    transition = _transition(service, case.state, event.name)
    return _apply(case, transition, event.occurred_on, service, closures)


def _transition(service: ServiceConfig, state: str, event: str) -> TransitionDef:
    for t in service.process.transitions:
        if t.event == event and state in t.from_:
            return t
    raise InvalidTransition(state, event, allowed_events(service, state))


def _apply(
    case: CaseView,
    t: TransitionDef,
    on: date,
    service: ServiceConfig,
    closures: Collection[date],
) -> Decision:
    open_kinds = [d.kind for d in case.open_deadlines]
    complete = tuple(k for k in t.complete if k in open_kinds)
    cancel_from = open_kinds if t.cancel == "all" else t.cancel
    cancel = tuple(k for k in cancel_from if k in open_kinds and k not in complete)
    notify = tuple(
        Notify(
            key=f"ref-{case.referral_id}:{t.event}:{on.isoformat()}",
            template="caseworker_status",
            recipient=who,
            title=t.title,
        )
        for who in t.notify
    )
    return Decision(
        state=t.to or case.state,
        event=t.event,
        title=t.title,
        outcome=t.outcome,
        voucher=t.voucher,
        start=_new_deadlines(service, t.start, on, closures),
        complete=complete,
        cancel=cancel,
        notify=notify,
    )


def _new_deadlines(
    service: ServiceConfig, kinds: Collection[str], on: date, closures: Collection[date]
) -> tuple[NewDeadline, ...]:
    out = []
    for kind in kinds:
        period = service.period(kind)
        if period is None:  # "individuell": no deadline
            continue
        definition = service.process.deadlines[kind]
        due = due_date(
            on, period, service.calendar, working_days=service.working_days, closures=closures
        )
        timers = tuple(
            NewTimer(i, step.action, due + timedelta(days=step.offset_days))
            for i, step in enumerate(definition.ladder)
        )
        out.append(NewDeadline(kind, definition.title, period, on, due, timers))
    return tuple(out)


def _on_deadline(
    case: CaseView,
    timer: DeadlineReached,
    today: date,
    service: ServiceConfig,
    closures: Collection[date],
) -> Decision:
    noop = Decision(state=case.state, event=None)
    deadline = case.open_deadline(timer.kind)
    if deadline is None or deadline.id != timer.deadline_id:
        return replace(noop, skipped="Frist nicht mehr offen")
    definition = service.process.deadlines[timer.kind]
    if not 0 <= timer.step < len(definition.ladder):
        return replace(noop, skipped="Stufe nicht mehr definiert")
    step = definition.ladder[timer.step]
    key = f"ref-{case.referral_id}:dl-{timer.deadline_id}:step-{timer.step}"

    def notice(template: str, recipient: Recipient) -> Notify:
        return Notify(key, template, recipient, timer.deadline_id, definition.title, timer.due_on)

    if step.action in ("remind_provider", "remind_customer"):
        if today > timer.due_on:
            return replace(noop, skipped="Erinnerung nach Fristablauf entfällt")
        if step.action == "remind_customer" and not case.customer_reachable:
            return replace(noop, skipped="kein Kontaktweg oder keine Einwilligung")
        recipient: Recipient = "provider" if step.action == "remind_provider" else "customer"
        reminder = notice(f"{recipient}_reminder", recipient)
        return replace(noop, event="reminder", title="Erinnerung", notify=(reminder,))
    if step.action == "notify_caseworker":
        overdue = notice("caseworker_overdue", "caseworker")
        return replace(noop, event="overdue", title="Frist überschritten", notify=(overdue,))
    if step.action == "escalate":
        escalation = Escalate(
            timer.deadline_id,
            timer.kind,
            definition.title,
            timer.due_on,
            (today - timer.due_on).days,
        )
        return replace(
            noop,
            event="escalated",
            title="Eskalation",
            notify=(notice("coordinator_escalation", "coordinator"),),
            escalate=(escalation,),
        )
    assert step.event is not None
    try:
        transition = _transition(service, case.state, step.event)
    except InvalidTransition:
        return replace(noop, skipped=f"{step.event} im Zustand {case.state} nicht zulässig")
    effective = timer.due_on + timedelta(days=1)
    decision = _apply(case, transition, effective, service, closures)
    return replace(decision, effective_on=effective)


__all__ = [
    "CaseView",
    "DeadlineReached",
    "Decision",
    "Escalate",
    "Event",
    "InvalidTransition",
    "NewDeadline",
    "NewTimer",
    "Notify",
    "OpenDeadline",
    "allowed_events",
    "decide",
    "start",
]
