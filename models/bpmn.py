"""A process definition as a BPMN 2.0 diagram: layout once, exported as XML with DI.

Pure: reads a `ProcessDef` (and, for real periods, the `ServiceConfig` of one Leistungsart)
and returns a `Diagram` of positioned nodes and edges; `to_bpmn_xml` writes it as BPMN 2.0
XML with BPMN DI (shapes and edges), so bpmn-js and other modellers draw it as laid out
here. The dashboard's "Prozess" page draws the same `Diagram`.

How the process maps to BPMN:

- every wait state (not final) is a receive task named by the state's German title: the
  case waits there for a message (an event reported by the Träger, the Integrationsfach-
  kraft or the deadline sweep); after it an exclusive gateway routes by the event, one
  sequence flow per transition, named by the transition's title (a flow back into the
  same task for an event that keeps the state, e.g. a Rückmeldung);
- the start event is the Zuweisung; where the process can stage a referral (Sucht vor
  Schulden, seed 002 §4.2), a gateway "Vorrangige Leistung offen?" leads to the staged
  state or to the initial one;
- a transition into a final state ends in an end event per outcome;
- every deadline that can be open while the case waits in a state is a non-interrupting
  timer boundary event on that state's task, with the deadline's ISO 8601 period as
  ``timeDuration`` and the legal counting rule as documentation; where its ladder
  escalates, the timer leads to an escalation end event (the escalation to the
  Koordination § 16a), otherwise to a plain end event (reminder or system event).

Which deadlines can be open in which state is computed from the transitions
(`open_deadlines_by_state`), not copied from the YAML.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from models.process import DeadlineDef, LadderStep, ProcessDef, ServiceConfig, TransitionDef

NodeKind = Literal[
    "start",
    "gateway",
    "task",
    "end",
    "timer",
    "escalation_end",
    "timer_end",
    "message_boundary",
    "sub_process",
]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
COUNTING_RULE = (
    "Fristbeginn am Tag nach dem auslösenden Ereignis (§ 187 Abs. 1 BGB, § 26 Abs. 1 SGB X); "
    "Ende mit Ablauf des letzten Tages (§ 188 BGB); fällt das Ende auf einen Samstag, "
    "Sonntag oder Feiertag, endet die Frist mit dem nächsten Werktag (§ 26 Abs. 3 SGB X, "
    "§ 193 BGB). Gezählt in {unit}."
)

# Layout grid (BPMN DI units are pixels at 100 %).
TASK_W, TASK_H = 150, 80
GATEWAY = 50
EVENT = 36
COLUMN = 340
ROW = 400
LEFT, TOP = 30, 40
SUB = "Zuweisung_laeuft"
SUB_X, SUB_Y = 120, 40


@dataclass(frozen=True)
class Node:
    """A flow node with its bounds: `x`, `y` top left, `w`, `h` in pixels."""

    id: str
    kind: NodeKind
    name: str
    x: int
    y: int
    w: int
    h: int
    parent: str | None = None  # the sub-process holding it (None: the process)
    attached_to: str | None = None  # boundary events: the activity they sit on
    interrupting: bool = False  # message boundary events
    period: str | None = None  # timers: ISO 8601 duration
    documentation: str | None = None
    escalation: str | None = None  # escalation end events: the escalation's id
    state: str | None = None  # tasks: the state name; timers: the state they sit on
    deadline: str | None = None  # timers and their end events: the deadline kind
    label: tuple[int, int, int, int] | None = None  # x, y, w, h of the name

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.w // 2, self.y + self.h // 2


@dataclass(frozen=True)
class Edge:
    """A sequence flow from `source` to `target` through `waypoints` (pixels)."""

    id: str
    source: str
    target: str
    name: str
    waypoints: tuple[tuple[int, int], ...]
    event: str | None = None  # the event a gateway routes by
    label: tuple[int, int, int, int] | None = None  # x, y, w, h of the name


@dataclass(frozen=True)
class Diagram:
    """A laid-out process: `nodes` and `edges`, `width` × `height` pixels, and the
    escalations (id → German name) the escalation end events throw."""

    process_id: str
    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    escalations: dict[str, str] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return max(n.x + n.w for n in self.nodes) + LEFT

    @property
    def height(self) -> int:
        return max(n.y + n.h for n in self.nodes) + TOP

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)


def open_deadlines_by_state(process: ProcessDef) -> dict[str, frozenset[str]]:
    """For each state, the deadlines that can be open while a case waits in it.

    Explores every reachable (state, open deadlines) pair from the start: the initial
    state with `ProcessDef.initial_deadlines` open, the staged state with none; a
    transition closes its ``complete`` and ``cancel`` deadlines, then opens its ``start``
    ones, the recurring ones it completed (``recurs``) and the deadlines relative to those.
    Returns the union of open sets per state (empty for unreachable states).
    """
    starts = [(process.initial, frozenset(process.with_followers(process.initial_deadlines)))]
    if process.staged:
        starts.append((process.staged, frozenset()))
    seen: set[tuple[str, frozenset[str]]] = set(starts)
    queue = deque(starts)
    result: dict[str, set[str]] = {name: set() for name in process.states}
    while queue:
        state, open_now = queue.popleft()
        result[state] |= open_now
        for t in process.transitions:
            if state not in t.from_:
                continue
            closed = set(process.deadlines) if t.cancel == "all" else set(t.cancel)
            ends = process.states[t.to or state].final
            again = [k for k in t.complete if k in open_now and process.deadlines[k].recurs]
            started = process.with_followers([*t.start, *([] if ends else again)])
            after = (open_now - set(t.complete) - closed) | set(started)
            nxt = (t.to or state, frozenset(after))
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return {name: frozenset(found) for name, found in result.items()}


def layout(service: ServiceConfig) -> Diagram:
    """Lay out the process of `service` (a Leistungsart) left to right.

    The wait states sit in an expanded sub-process "Zuweisung läuft", in columns by
    distance from its start and one row per state of a column, its end events in the last
    column. Events every wait state accepts (Rückzug, Abschluss durch die Integrations-
    fachkraft, Widerruf der Schweigepflichtentbindung) are message boundary events of the
    sub-process (interrupting when they close the case); events that keep the state
    (Rückmeldungen) are non-interrupting message boundary events on top of their state.
    Timers carry the Leistungsart's periods from the Kommune's Mindeststandards;
    deadlines whose period is "individuell" (None, seed 002 §4.2) start no timer and are
    left out.
    """
    process = service.process
    columns = _columns(process)
    waits = [s for s in process.states if not process.states[s].final and s in columns]
    everywhere = [t for t in process.transitions if set(waits) <= set(t.from_)]
    tasks = _tasks(process, columns, waits)
    ends = _end_events(
        process,
        columns,
        waits,
        [t for t in process.transitions if t not in everywhere],
        _timer_row_right(service, tasks),
    )
    gateways = {s: _gateway(tasks[s]) for s in waits}
    nodes: list[Node] = [*tasks.values(), *ends.values(), *gateways.values()]
    edges: list[Edge] = []
    inner_start = Node(
        "Start_innen", "start", "", SUB_X + 24, _mid(tasks[process.initial]), EVENT, EVENT, SUB
    )
    nodes.append(inner_start)
    _entry(process, inner_start, tasks, nodes, edges)
    for state in waits:
        task, gateway = tasks[state], gateways[state]
        edges.append(_edge(f"Fluss_{state}_weiche", task, gateway, "", 0))
        leaving = [t for t in process.transitions if state in t.from_ and t not in everywhere]
        forward = [t for t in leaving if (t.to or state) != state]
        for index, t in enumerate(forward):
            target = _target(process, t, state, tasks, ends)
            edges.append(_routed(state, t, gateway, target, index))
        kept = [t for t in leaving if (t.to or state) == state]
        _kept_events(state, task, kept, nodes, edges)
    timers, timer_edges, escalations = _timers(process, service, tasks)
    nodes += timers
    edges += timer_edges
    sub = _sub_process(nodes)
    outer = _outer(process, sub, everywhere, nodes, edges)
    return Diagram(
        process_id=f"Prozess_{process.name}",
        name=f"{service.title} ({process.title})",
        nodes=(*outer, sub, *nodes),
        edges=tuple(edges),
        escalations=escalations,
    )


def _mid(task: Node, size: int = EVENT) -> int:
    return task.y + TASK_H // 2 - size // 2


def _tasks(process: ProcessDef, columns: dict[str, int], waits: list[str]) -> dict[str, Node]:
    rows: dict[int, int] = {}
    tasks: dict[str, Node] = {}
    for state in waits:
        col = columns[state]
        row = rows.get(col, 0)
        rows[col] = row + 1
        tasks[state] = Node(
            id=f"Zustand_{state}",
            kind="task",
            name=process.states[state].title,
            x=SUB_X + 200 + col * COLUMN,
            y=SUB_Y + 170 + row * ROW,
            w=TASK_W,
            h=TASK_H,
            parent=SUB,
            state=state,
        )
    return tasks


def _columns(process: ProcessDef) -> dict[str, int]:
    """Column of every state reachable from the start (breadth first)."""
    columns = {process.initial: 0}
    if process.staged:
        columns = {process.staged: 0, process.initial: 1}
    queue = deque(columns)
    while queue:
        state = queue.popleft()
        for t in process.transitions:
            to = t.to or state
            if state in t.from_ and to not in columns and not process.states[to].final:
                columns[to] = columns[state] + 1
                queue.append(to)
    return columns


def _entry(
    process: ProcessDef, start: Node, tasks: dict[str, Node], nodes: list[Node], edges: list[Edge]
) -> None:
    initial = tasks[process.initial]
    if not process.staged:
        edges.append(_edge("Fluss_start", start, initial, "", 0))
        return
    staged = tasks[process.staged]
    gate = Node(
        "Weiche_start",
        "gateway",
        "Vorrangige Leistung offen?",
        start.x + 70,
        start.center[1] - GATEWAY // 2,
        GATEWAY,
        GATEWAY,
        SUB,
    )
    nodes.append(gate)
    edges.append(_edge("Fluss_start", start, gate, "", 0))
    edges.append(_edge("Fluss_start_gestuft", gate, staged, "ja: gestuft", 0))
    edges.append(_edge("Fluss_start_gutschein", gate, initial, "nein: Gutschein", 1))


def _end_events(
    process: ProcessDef,
    columns: dict[str, int],
    waits: list[str],
    transitions: list[TransitionDef],
    right_of: int = 0,
) -> dict[str, Node]:
    """End events of the sub-process, one per state and outcome, so no two flows share
    one (keyed ``state/outcome``), in the column after the last one and right of
    `right_of` (the widest row of timer end events)."""
    last = max(columns.values()) + 1
    x = max(SUB_X + 200 + last * COLUMN, right_of + 40)
    ends: dict[str, Node] = {}
    for state, t in ((s, t) for s in waits for t in transitions if s in t.from_):
        if t.to is None or not process.states[t.to].final:
            continue
        key = f"{state}/{t.outcome or t.to}"
        if key not in ends:
            ends[key] = Node(
                id=f"Ende_{state}_{t.outcome or t.to}",
                kind="end",
                name=_end_name(process, t),
                x=x,
                y=SUB_Y + 40 + len(ends) * 110,
                w=EVENT,
                h=EVENT,
                parent=SUB,
                state=t.to,
            )
    return ends


def _timer_row_right(service: ServiceConfig, tasks: dict[str, Node]) -> int:
    """Right edge of the label of the rightmost timer end event below a task with four or
    more timers: that row reaches into the next column (see `_ladder_end`); 0 if none."""
    right = 0
    for state, open_kinds in open_deadlines_by_state(service.process).items():
        count = sum(1 for k in open_kinds if service.period(k))
        if state in tasks and count >= 4:
            right = max(right, tasks[state].x + 30 + (count - 1) * 110 + EVENT // 2 + 50)
    return right


def _end_name(process: ProcessDef, t: TransitionDef) -> str:
    title = process.states[t.to or ""].title
    return f"{title}: {t.title}" if t.outcome else title


def _gateway(task: Node) -> Node:
    return Node(
        id=f"Weiche_{task.state}",
        kind="gateway",
        name="",
        x=task.x + TASK_W + 40,
        y=_mid(task, GATEWAY),
        w=GATEWAY,
        h=GATEWAY,
        parent=SUB,
        state=task.state,
    )


def _target(
    process: ProcessDef,
    t: TransitionDef,
    state: str,
    tasks: dict[str, Node],
    ends: dict[str, Node],
) -> Node:
    to = t.to or state
    if process.states[to].final:
        return ends[f"{state}/{t.outcome or to}"]
    return tasks[to]


def _label_below(node: Node) -> tuple[int, int, int, int]:
    return node.center[0] - 50, node.y + node.h + 4, 100, 40


def _edge(edge_id: str, source: Node, target: Node, name: str, lane: int) -> Edge:
    """A flow from the right of `source` to the left of `target`, bent once on its own
    vertical `lane` when they are not level; its label sits just before the target."""
    sx, sy = source.x + source.w, source.center[1]
    tx, ty = target.x, target.center[1]
    if sy == ty:
        points: tuple[tuple[int, int], ...] = ((sx, sy), (tx, ty))
    else:
        bend = sx + 18 + 14 * lane
        points = ((sx, sy), (bend, sy), (bend, ty), (tx, ty))
    label = (points[-2][0] + 6, ty - 34, max(60, tx - points[-2][0] - 12), 30) if name else None
    return Edge(edge_id, source.id, target.id, name, points, label=label)


def _routed(state: str, t: TransitionDef, gateway: Node, target: Node, index: int) -> Edge:
    """A gateway's flow for transition `t`: forward flows leave to the right, each bent on
    its own lane; flows back to an earlier column run above the rows."""
    edge_id = f"Fluss_{state}_{t.event}"
    if target.x > gateway.x:
        edge = _edge(edge_id, gateway, target, t.title, index)
        return replace(edge, event=t.event)
    gx, gy = gateway.center[0], gateway.y
    lane = min(gy, target.y) - 150 - 10 * index
    tx = target.center[0] + 30
    points = ((gx, gy), (gx, lane), (tx, lane), (tx, target.y))
    label = (tx + 6, lane - 32, gx - tx - 12, 30)
    return Edge(edge_id, gateway.id, target.id, t.title, points, t.event, label)


def _kept_events(
    state: str, task: Node, kept: list[TransitionDef], nodes: list[Node], edges: list[Edge]
) -> None:
    """Events that keep the state: a non-interrupting message boundary event on top of
    the task each, leading to an end event in a row above it."""
    for index, t in enumerate(kept):
        boundary = Node(
            id=f"Meldung_{state}_{t.event}",
            kind="message_boundary",
            name="",
            x=task.x + 10 + index * (EVENT + 10),
            y=task.y - EVENT // 2,
            w=EVENT,
            h=EVENT,
            parent=SUB,
            attached_to=task.id,
            state=state,
        )
        x, y = task.x - 30 + index * 105, task.y - 100
        end = Node(
            id=f"Erfasst_{state}_{t.event}",
            kind="end",
            name=f"{t.title}: erfasst",
            x=x,
            y=y,
            w=EVENT,
            h=EVENT,
            parent=SUB,
            state=state,
            label=(x - 32, y - 34, 100, 30),
        )
        nodes += [boundary, end]
        bx, ex, mid = boundary.center[0], end.center[0], task.y - 40
        points = ((bx, boundary.y), (bx, mid), (ex, mid), (ex, y + EVENT))
        edges.append(Edge(f"Fluss_{state}_{t.event}", boundary.id, end.id, "", points))


def _sub_process(nodes: list[Node]) -> Node:
    """The expanded sub-process around every inner node, with a margin."""
    right = max(n.x + n.w for n in nodes) + 60
    bottom = (
        max(
            n.y + n.h + (44 if n.kind in ("end", "escalation_end", "timer_end") else 0)
            for n in nodes
        )
        + 30
    )
    return Node(SUB, "sub_process", "Zuweisung läuft", SUB_X, SUB_Y, right - SUB_X, bottom - SUB_Y)


def _outer(
    process: ProcessDef,
    sub: Node,
    everywhere: list[TransitionDef],
    nodes: list[Node],
    edges: list[Edge],
) -> list[Node]:
    """Start and end of the whole process and the sub-process's message boundary events
    for events every wait state accepts."""
    start = Node("Start", "start", "Zuweisung", LEFT, SUB_Y + 130, EVENT, EVENT)
    done = Node("Ende", "end", "Fall abgeschlossen", sub.x + sub.w + 60, SUB_Y + 130, EVENT, EVENT)
    outer = [start, done]
    cy = start.center[1]
    edges.append(Edge("Fluss_beginn", start.id, SUB, "", ((start.x + EVENT, cy), (sub.x, cy))))
    edges.append(
        Edge(
            "Fluss_ende",
            SUB,
            done.id,
            "",
            ((sub.x + sub.w, done.center[1]), (done.x, done.center[1])),
        )
    )
    bottom = sub.y + sub.h
    for index, t in enumerate(everywhere):
        closes = t.to is not None and process.states[t.to].final
        x = sub.x + 80 + index * 240
        boundary = Node(
            id=f"Meldung_{t.event}",
            kind="message_boundary",
            name=t.title,
            x=x,
            y=bottom - EVENT // 2,
            w=EVENT,
            h=EVENT,
            attached_to=SUB,
            interrupting=closes,
            label=(x + EVENT + 4, bottom + 4, 190, 40),
        )
        end = Node(
            id=f"Ende_{t.event}",
            kind="end",
            name=_end_name(process, t) if closes else "erfasst",
            x=x,
            y=bottom + 80,
            w=EVENT,
            h=EVENT,
            state=t.to,
        )
        outer += [boundary, replace(end, label=(x + EVENT + 4, end.y, 190, 40))]
        cx = boundary.center[0]
        edges.append(
            Edge(
                f"Fluss_{t.event}", boundary.id, end.id, "", ((cx, boundary.y + EVENT), (cx, end.y))
            )
        )
    return outer


def _timers(
    process: ProcessDef, service: ServiceConfig, tasks: dict[str, Node]
) -> tuple[list[Node], list[Edge], dict[str, str]]:
    """Timer boundary events per (state, deadline open there) on the task's bottom edge,
    each leading to its ladder's end event in a row below the task."""
    nodes: list[Node] = []
    edges: list[Edge] = []
    escalations: dict[str, str] = {}
    unit = "Arbeitstagen" if service.working_days else "Kalendertagen"
    for state, open_kinds in open_deadlines_by_state(process).items():
        if state not in tasks:
            continue
        task = tasks[state]
        kinds = [k for k in process.deadlines if k in open_kinds and service.period(k)]
        for index, kind in enumerate(kinds):
            deadline = process.deadlines[kind]
            period = service.period(kind) or ""
            timer = Node(
                id=f"Frist_{state}_{kind}",
                kind="timer",
                name=f"{deadline.title} ({_period_text(period)})",
                x=task.x + 8 + index * (EVENT + 10),
                y=task.y + TASK_H - EVENT // 2,
                w=EVENT,
                h=EVENT,
                parent=SUB,
                attached_to=task.id,
                period=period,
                documentation=_timer_documentation(process, deadline, period, unit),
                state=state,
                deadline=kind,
            )
            end = _ladder_end(process, deadline, kind, task, index, escalations)
            x, y = timer.center[0], timer.y + EVENT
            label = (task.x - 20 + index * 110, task.y + TASK_H + 22, 100, 28)
            nodes += [replace(timer, label=label), end]
            points: tuple[tuple[int, int], ...] = (
                (x, y),
                (x, end.center[1]),
                (end.x, end.center[1]),
            )
            if end.x <= x:
                points = ((x, y), (x, end.y))
            edges.append(Edge(f"Fluss_{state}_{kind}_frist", timer.id, end.id, "", points))
    return nodes, edges, escalations


def _period_text(period: str) -> str:
    """``P14D`` → "14 Tage", ``P6W`` → "6 Wochen", else the ISO text."""
    match = re.fullmatch(r"P(\d+)([DWM])", period)
    if match is None:
        return period
    amount, unit = int(match.group(1)), match.group(2)
    names = {"D": ("Tag", "Tage"), "W": ("Woche", "Wochen"), "M": ("Monat", "Monate")}[unit]
    return f"{amount} {names[0] if amount == 1 else names[1]}"


def _ladder_end(
    process: ProcessDef,
    deadline: DeadlineDef,
    kind: str,
    task: Node,
    index: int,
    escalations: dict[str, str],
) -> Node:
    x = task.x + 30 + index * 110
    y = task.y + TASK_H + 70
    steps = {step.action: step for step in deadline.ladder}
    if "escalate" in steps:
        escalation_id = f"Eskalation_{kind}"
        escalations[escalation_id] = f"Eskalation: {deadline.title} überfällig"
        return Node(
            id=f"Eskalation_{task.state}_{kind}",
            kind="escalation_end",
            name=f"Eskalation ({_offset_text(steps['escalate'].offset)} nach Fälligkeit)",
            x=x,
            y=y,
            w=EVENT,
            h=EVENT,
            parent=SUB,
            escalation=escalation_id,
            state=task.state,
            deadline=kind,
        )
    last = deadline.ladder[-1]
    titles = {t.event: t.title for t in process.transitions}
    what = titles.get(last.event or "", "Erinnerung")
    if last.action == "notify_funder":
        what = LADDER_ACTIONS[last.action]
    return Node(
        id=f"Erinnert_{task.state}_{kind}",
        kind="timer_end",
        name=f"{what} ({_offset_text(last.offset)} nach Fälligkeit)",
        x=x,
        y=y,
        w=EVENT,
        h=EVENT,
        parent=SUB,
        state=task.state,
        deadline=kind,
    )


def _days(days: int) -> str:
    return f"{days} Tag" if abs(days) == 1 else f"{days} Tage"


def _offset_text(offset: str) -> str:
    """A ladder offset in German: days and weeks as days (``-P1W`` → "-7 Tage"), months as
    months (``-P2M`` → "-2 Monate")."""
    if not offset.endswith("M"):
        return _days(LadderStep(offset=offset, action="event").offset_days)
    months = int(offset.lstrip("-P")[:-1]) * (-1 if offset.startswith("-") else 1)
    return f"{months} Monat" if abs(months) == 1 else f"{months} Monate"


LADDER_ACTIONS = {
    "remind_provider": "Erinnerung an den Träger",
    "remind_customer": "Erinnerung an die Kundin / den Kunden",
    "notify_caseworker": "Meldung an die Integrationsfachkraft",
    "notify_funder": "Information an den Leistungsträger",
    "escalate": "Eskalation an die Koordination § 16a",
    "event": "Ereignis durch das System",
}


def _timer_documentation(process: ProcessDef, deadline: DeadlineDef, period: str, unit: str) -> str:
    ladder = "; ".join(
        f"{LADDER_ACTIONS[step.action]}: {_offset_text(step.offset)}" for step in deadline.ladder
    )
    relative = ""
    base = process.deadlines.get(deadline.relative_to or "")
    if base is not None and deadline.offset is not None:
        relative = (
            f"Fällig {_offset_text(deadline.offset)} relativ zur Fälligkeit der Frist "
            f"„{base.title}“ (Monate als Kalendermonate), auf den nächsten Werktag "
            "verschoben. "
        )
    recurring = "Beginnt nach jeder Erfüllung neu. " if deadline.recurs else ""
    return (
        f"{deadline.title}: {period}. {COUNTING_RULE.format(unit=unit)} {relative}{recurring}"
        f"Stufen relativ zur Fälligkeit: {ladder}."
    )


def to_bpmn_xml(diagram: Diagram) -> str:
    """`diagram` as a BPMN 2.0 XML document (UTF-8 text) with BPMN DI."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}"',
        '    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"',
        '    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"',
        '    xmlns:di="http://www.omg.org/spec/DD/20100524/DI"',
        '    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
        '    id="Definitionen" targetNamespace="https://kel-flow.example/bpmn"',
        '    exporter="kel-flow" exporterVersion="1">',
        '  <bpmn:message id="Meldung" name="Meldung zum Fall" />',
    ]
    for escalation_id, name in diagram.escalations.items():
        code = escalation_id.removeprefix("Eskalation_")
        lines.append(
            f"  <bpmn:escalation id={quoteattr(escalation_id)} name={quoteattr(name)} "
            f"escalationCode={quoteattr(code)} />"
        )
    lines.append(
        f"  <bpmn:process id={quoteattr(diagram.process_id)} name={quoteattr(diagram.name)} "
        'isExecutable="false">'
    )
    lines += _elements(diagram, None, "    ")
    lines.append("  </bpmn:process>")
    lines += _di(diagram)
    lines.append("</bpmn:definitions>")
    return "\n".join(lines) + "\n"


def _elements(diagram: Diagram, parent: str | None, indent: str) -> list[str]:
    """The flow nodes and sequence flows directly inside `parent` (None: the process)."""
    parents = {n.id: n.parent for n in diagram.nodes}
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for edge in diagram.edges:
        outgoing.setdefault(edge.source, []).append(edge.id)
        incoming.setdefault(edge.target, []).append(edge.id)
    lines: list[str] = []
    for node in diagram.nodes:
        if node.parent != parent:
            continue
        body = _flow_node(node, incoming.get(node.id, []), outgoing.get(node.id, []))
        if node.kind == "sub_process":
            inner = _elements(diagram, node.id, "  ")
            body = body[:-1] + inner + body[-1:]
        lines += [indent + line for line in body]
    for edge in diagram.edges:
        if parents.get(edge.source) == parent and parents.get(edge.target) == parent:
            lines += [indent + line for line in _sequence_flow(edge)]
    return lines


_TAGS = {
    "start": "startEvent",
    "gateway": "exclusiveGateway",
    "task": "receiveTask",
    "end": "endEvent",
    "timer": "boundaryEvent",
    "escalation_end": "endEvent",
    "timer_end": "endEvent",
    "message_boundary": "boundaryEvent",
    "sub_process": "subProcess",
}


def _flow_node(node: Node, incoming: list[str], outgoing: list[str]) -> list[str]:
    tag = _TAGS[node.kind]
    attrs = f"id={quoteattr(node.id)}"
    if node.name:
        attrs += f" name={quoteattr(node.name)}"
    if node.kind == "task":
        attrs += ' messageRef="Meldung"'
    if node.kind in ("timer", "message_boundary"):
        cancel = "true" if node.interrupting else "false"
        attrs += f' cancelActivity="{cancel}" attachedToRef={quoteattr(node.attached_to or "")}'
    lines = [f"<bpmn:{tag} {attrs}>"]
    if node.documentation:
        lines.append(f"  <bpmn:documentation>{escape(node.documentation)}</bpmn:documentation>")
    lines += [f"  <bpmn:incoming>{i}</bpmn:incoming>" for i in incoming]
    lines += [f"  <bpmn:outgoing>{o}</bpmn:outgoing>" for o in outgoing]
    if node.kind == "timer":
        lines += [
            "  <bpmn:timerEventDefinition>",
            '    <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">'
            f"{escape(node.period or '')}</bpmn:timeDuration>",
            "  </bpmn:timerEventDefinition>",
        ]
    if node.kind == "message_boundary":
        lines.append('  <bpmn:messageEventDefinition messageRef="Meldung" />')
    if node.kind == "escalation_end":
        ref = quoteattr(node.escalation or "")
        lines.append(f"  <bpmn:escalationEventDefinition escalationRef={ref} />")
    lines.append(f"</bpmn:{tag}>")
    return lines


def _sequence_flow(edge: Edge) -> list[str]:
    attrs = (
        f"id={quoteattr(edge.id)} sourceRef={quoteattr(edge.source)} "
        f"targetRef={quoteattr(edge.target)}"
    )
    if edge.name:
        attrs += f" name={quoteattr(edge.name)}"
    if edge.event is None:
        return [f"<bpmn:sequenceFlow {attrs} />"]
    condition = escape(f"event == '{edge.event}'")
    return [
        f"<bpmn:sequenceFlow {attrs}>",
        f'  <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}'
        "</bpmn:conditionExpression>",
        "</bpmn:sequenceFlow>",
    ]


def _bounds(box: tuple[int, int, int, int], tag: str = "dc:Bounds") -> str:
    x, y, w, h = box
    return f'<{tag} x="{x}" y="{y}" width="{w}" height="{h}" />'


def _label(box: tuple[int, int, int, int] | None) -> list[str]:
    if box is None:
        return []
    return [
        "        <bpmndi:BPMNLabel>",
        f"          {_bounds(box)}",
        "        </bpmndi:BPMNLabel>",
    ]


def _di(diagram: Diagram) -> list[str]:
    lines = [
        '  <bpmndi:BPMNDiagram id="Diagramm">',
        f'    <bpmndi:BPMNPlane id="Ebene" bpmnElement={quoteattr(diagram.process_id)}>',
    ]
    for node in diagram.nodes:
        extra = ' isMarkerVisible="true"' if node.kind == "gateway" else ""
        extra += ' isExpanded="true"' if node.kind == "sub_process" else ""
        label = node.label
        if label is None and node.kind not in ("task", "sub_process") and node.name:
            label = _label_below(node)
        lines += [
            f'      <bpmndi:BPMNShape id="{node.id}_di" bpmnElement={quoteattr(node.id)}{extra}>',
            f"        {_bounds((node.x, node.y, node.w, node.h))}",
            *_label(label),
            "      </bpmndi:BPMNShape>",
        ]
    for edge in diagram.edges:
        lines.append(f'      <bpmndi:BPMNEdge id="{edge.id}_di" bpmnElement={quoteattr(edge.id)}>')
        lines += [f'        <di:waypoint x="{x}" y="{y}" />' for x, y in edge.waypoints]
        lines += _label(edge.label)
        lines.append("      </bpmndi:BPMNEdge>")
    lines += ["    </bpmndi:BPMNPlane>", "  </bpmndi:BPMNDiagram>"]
    return lines
