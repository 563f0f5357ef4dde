"""The process diagram (`models.bpmn.Diagram`) drawn as SVG on the server, with counts.

The same layout as the BPMN export, in the BPMN notation's shapes: receive tasks as
rounded boxes, exclusive gateways as diamonds, start events thin and end events thick
circles, timers and message events as double circles (dashed when non-interrupting),
escalation end events with an arrow head. Each state carries a badge with its open cases
and each timer one with its overdue deadlines; a badge is a link to the filtered case
list. Every text is escaped (`markupsafe`); the result is one `Markup` for the template.

Why `Markup` here: the SVG is built in Python, not in a template, so each piece is a
`Markup` literal of our own markup (no data in it) whose ``format`` escapes every value
put into it: names and titles from the process YAML, the page title, the case-list URLs
and the numbers. No value is ever marked safe itself. Tested with hostile names, title
and URL in ``tests/unit/test_process_svg.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from textwrap import wrap

from markupsafe import Markup, escape

from models.bpmn import EVENT, Diagram, Edge, Node

FONT = 11  # px; about 6 px per character for wrapping
LINE = 13


def render(
    diagram: Diagram,
    state_counts: dict[str, int],
    overdue_counts: dict[tuple[str, str], int],
    link: Callable[..., str],
    title: str,
) -> Markup:
    """The SVG of `diagram` with open cases per state (`state_counts`, by state name) and
    overdue deadlines per (state, deadline kind) (`overdue_counts`); `link(state=…)` or
    `link(state=…, deadline=…)` gives the case-list URL a badge points to. `title` names
    the figure for screen readers (role="group" with a <title>: its badges are links)."""
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="prozess" role="group" '
            'aria-labelledby="prozess-svg-titel" viewBox="0 0 {w} {h}" width="{w}" height="{h}">'
        ).format(w=diagram.width, h=diagram.height),
        Markup('<title id="prozess-svg-titel">{}</title>').format(title),
        Markup(
            '<defs><marker id="pfeil" viewBox="0 0 10 10" refX="10" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            '<path d="M 0 0 L 10 5 L 0 10 z" /></marker></defs>'
        ),
    ]
    order = sorted(diagram.nodes, key=lambda n: n.kind != "sub_process")
    for node in order:
        parts += _node(node)
    for edge in diagram.edges:
        parts += _edge(edge)
    for node in diagram.nodes:
        if node.kind == "task" and node.state is not None:
            count = state_counts.get(node.state, 0)
            parts += _badge(node.x + node.w - 12, node.y - 10, count, link(state=node.state), "")
        if node.kind == "timer" and node.state and node.deadline:
            count = overdue_counts.get((node.state, node.deadline), 0)
            if count:
                url = link(state=node.state, deadline=node.deadline)
                parts += _badge(node.x + node.w, node.y + node.h, count, url, "overdue")
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _node(node: Node) -> Iterator[Markup]:
    cx, cy = node.center
    r = EVENT // 2
    if node.kind == "sub_process":
        yield Markup(
            '<rect class="teilprozess" x="{}" y="{}" width="{}" height="{}" rx="12" />'
        ).format(node.x, node.y, node.w, node.h)
        yield from _text(node.name, node.x + 70, node.y + 18, 120)
        return
    if node.kind == "task":
        yield Markup(
            '<rect class="zustand" x="{}" y="{}" width="{}" height="{}" rx="10" />'
        ).format(node.x, node.y, node.w, node.h)
        lines = wrap(node.name, 22)
        yield from _text(node.name, cx, cy - (len(lines) - 1) * LINE // 2 + 4, node.w)
        return
    if node.kind == "gateway":
        yield Markup('<polygon class="weiche" points="{},{} {},{} {},{} {},{}" />').format(
            cx, node.y, node.x + node.w, cy, cx, node.y + node.h, node.x, cy
        )
        yield Markup('<path class="weiche-x" d="M {} {} l 14 14 m 0 -14 l -14 14" />').format(
            cx - 7, cy - 7
        )
    elif node.kind == "start":
        yield Markup('<circle class="start" cx="{}" cy="{}" r="{}" />').format(cx, cy, r)
    elif node.kind in ("end", "timer_end", "escalation_end"):
        yield Markup('<circle class="ende" cx="{}" cy="{}" r="{}" />').format(cx, cy, r - 1)
        if node.kind == "escalation_end":
            yield Markup('<path class="eskalation" d="M {} {} l 7 16 l -7 -5 l -7 5 z" />').format(
                cx, cy - 9
            )
    else:  # timer or message boundary event
        dashed = " unterbrechungsfrei" if not node.interrupting else ""
        yield Markup('<circle class="zwischen{}" cx="{}" cy="{}" r="{}" />').format(
            dashed, cx, cy, r
        )
        yield Markup('<circle class="zwischen-innen" cx="{}" cy="{}" r="{}" />').format(
            cx, cy, r - 4
        )
        if node.kind == "timer":
            yield Markup('<path class="uhr" d="M {} {} v -8 M {} {} h 6" />').format(cx, cy, cx, cy)
        else:
            yield Markup(
                '<path class="brief" d="M {} {} h 16 v 11 h -16 z l 8 6 l 8 -6" />'
            ).format(cx - 8, cy - 5)
    if node.name:
        x, y, w, _ = node.label or (cx - 50, node.y + node.h + 4, 100, 40)
        yield from _text(node.name, x + w // 2, y + LINE - 2, w)


def _text(text: str, x: int, y: int, width: int) -> Iterator[Markup]:
    lines = wrap(text, max(8, width // 6)) or [""]
    yield Markup('<text class="beschriftung" x="{}" y="{}" text-anchor="middle">').format(x, y)
    for index, line in enumerate(lines):
        dy = 0 if index == 0 else LINE
        yield Markup('<tspan x="{}" dy="{}">{}</tspan>').format(x, dy, line)
    yield Markup("</text>")


def _edge(edge: Edge) -> Iterator[Markup]:
    points = " ".join(f"{x},{y}" for x, y in edge.waypoints)
    yield Markup('<polyline class="fluss" points="{}" marker-end="url(#pfeil)" />').format(points)
    if edge.name and edge.label:
        x, y, w, _ = edge.label
        yield from _text(edge.name, x + w // 2, y + LINE - 2, w)


def _badge(x: int, y: int, count: int, url: str, kind: str) -> Iterator[Markup]:
    what = "überfällige Fristen" if kind else "offene Fälle"
    yield Markup('<a href="{}" class="zaehler {}"><title>{} {}</title>').format(
        url, kind, count, what
    )
    yield Markup('<rect x="{}" y="{}" width="30" height="20" rx="10" />').format(x - 15, y - 10)
    yield Markup('<text x="{}" y="{}" text-anchor="middle">{}</text></a>').format(
        x, y + 4, escape(str(count))
    )
