"""The referral state machine: ``decide(case, event, today, service) -> Decision``.

Pure Python: it applies a `ProcessDef` (loaded from YAML, `models.process`) to a snapshot
of one referral and returns what should change; the caller saves it and sends what it
says. Nothing here touches a database, Prefect or the network (DESIGN §4.3).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

from models.calendar import due_date, is_working_day
from models.process import EntryCondition, ProcessDef, ServiceConfig, TransitionDef, shift

Recipient = Literal["provider", "customer", "caseworker", "coordinator", "funder"]


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


class EntryRefused(ValueError):
    """The referral is refused at the start: an Ausschlusskriterium of the process applies,
    or a fact it asks for is missing or of the wrong kind. The message (German) is the
    reason; `fact` names the fact (None: several or unknown ones)."""

    def __init__(self, reason: str, fact: str | None = None) -> None:
        super().__init__(reason)
        self.fact = fact


def check_entry(process: ProcessDef, facts: Mapping[str, bool | int] | None) -> None:
    """Check the start's `facts` against the process's ``entry`` conditions (in order).

    Raises `EntryRefused` naming every missing or unknown fact, then the first condition
    whose fact is of the wrong kind or that refuses (its ``reason``, e.g. seed 004 Ziff. 2:
    "Nicht betreut werden Personen ... unter 21 Jahren"). A process without conditions
    accepts no facts at all (a fact given there is a mistake of the caller).
    """
    given = dict(facts or {})
    asked = {c.fact: c for c in process.entry}
    unknown = sorted(set(given) - set(asked))
    if unknown:
        raise EntryRefused(
            f"{process.title}: Angaben {', '.join(unknown)} werden nicht erfragt "
            f"(erfragt: {', '.join(asked) or 'keine'})"
        )
    missing = [c for c in process.entry if c.fact not in given]
    if missing:
        titles = ", ".join(f"„{c.title}“ ({c.fact})" for c in missing)
        raise EntryRefused(f"{process.title}: für die Aufnahme fehlt die Angabe {titles}")
    for condition in process.entry:
        if _refuses(condition, given[condition.fact]):
            raise EntryRefused(condition.reason, condition.fact)


def _refuses(condition: EntryCondition, value: bool | int) -> bool:
    if condition.refuse_if is not None:
        if not isinstance(value, bool):
            raise EntryRefused(f"Angabe „{condition.title}“ muss ja oder nein sein", condition.fact)
        return value == condition.refuse_if
    if isinstance(value, bool):
        raise EntryRefused(f"Angabe „{condition.title}“ muss eine ganze Zahl sein", condition.fact)
    return condition.refuse_below is not None and value < condition.refuse_below


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
    entry_facts: Mapping[str, bool | int] | None = None,
) -> Decision:
    """The first decision of a new referral (Bedarfsfeststellung, Gutschein, Fristen).

    `entry_facts` (yes/no or whole numbers, never names) are checked against the
    process's entry conditions first (`check_entry`, raises `EntryRefused`). `staged` puts
    it into the process's waiting state instead (another Leistungsart runs first, e.g.
    Sucht vor Schulden, seed 002 §4.2). Deadlines are counted from `started_on` per
    § 26 SGB X (see `models.calendar.due_date`).
    """
    process = service.process
    check_entry(process, entry_facts)
    if staged:
        if process.staged is None:
            raise ValueError(f"Prozess {process.name!r} kennt keine Stufung")
        return Decision(state=process.staged, event="staged", title="Gestuft")
    return Decision(
        state=process.initial,
        event="started",
        title="Gutschein ausgegeben" if process.initial_voucher else "Zuweisung angelegt",
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
    process = service.process
    open_kinds = [d.kind for d in case.open_deadlines]
    complete = tuple(k for k in t.complete if k in open_kinds)
    cancel_from = open_kinds if t.cancel == "all" else t.cancel
    cancel = tuple(k for k in cancel_from if k in open_kinds and k not in complete)
    ends = process.states[t.to or case.state].final
    again = [k for k in complete if process.deadlines[k].recurs and not ends and k not in t.start]
    started = _new_deadlines(service, [*t.start, *again], on, closures)
    # an open deadline that starts anew (a follower of a restarted one) is replaced
    cancel += tuple(
        d.kind
        for d in started
        if d.kind in open_kinds and d.kind not in (*complete, *cancel, *t.start)
    )
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
        start=started,
        complete=complete,
        cancel=cancel,
        notify=notify,
    )


def _new_deadlines(
    service: ServiceConfig, kinds: Collection[str], on: date, closures: Collection[date]
) -> tuple[NewDeadline, ...]:
    """The deadlines `kinds` (each followed by those relative to it) started on `on`.

    A deadline with a period is due per § 26 SGB X (`due_date`); one relative to another
    (``relative_to``/``offset``) is due `offset` from the other's due date (calendar
    months for ``-P2M``, `models.process.shift`), moved to the next working day when that
    is a weekend, holiday or closure day, never before `on`. Ladder steps fire `offset`
    from the due date (`LadderStep.fire_on`).
    """
    out: list[NewDeadline] = []
    dues: dict[str, date] = {}
    for kind in service.process.with_followers(kinds):
        period = service.period(kind)
        if period is None:  # "individuell" (or relative to an "individuell" one): none
            continue
        definition = service.process.deadlines[kind]
        if definition.relative_to is None:
            due = due_date(
                on, period, service.calendar, working_days=service.working_days, closures=closures
            )
        elif definition.relative_to in dues and definition.offset is not None:
            due = max(shift(dues[definition.relative_to], definition.offset), on)
            while not is_working_day(due, service.calendar, closures):
                due += timedelta(days=1)
        else:
            continue
        dues[kind] = due
        timers = tuple(
            NewTimer(i, step.action, step.fire_on(due)) for i, step in enumerate(definition.ladder)
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
    if step.action == "notify_funder":
        informed = notice("funder_notice", "funder")
        return replace(
            noop, event="funder_informed", title="Leistungsträger informiert", notify=(informed,)
        )
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
    "EntryRefused",
    "Escalate",
    "Event",
    "InvalidTransition",
    "NewDeadline",
    "NewTimer",
    "Notify",
    "OpenDeadline",
    "allowed_events",
    "check_entry",
    "decide",
    "start",
]
