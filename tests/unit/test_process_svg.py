"""The server-drawn process diagram escapes every value it puts into its SVG markup."""

from __future__ import annotations

from xml.etree import ElementTree

from api.dashboard.process_svg import render
from models.bpmn import Diagram, Edge, Node

PAYLOAD = '<script>alert(1)</script>"><img src=x onerror=alert(2)>&'


def hostile_diagram() -> Diagram:
    task = Node("Zustand_x", "task", PAYLOAD, 100, 100, 150, 80, state="x")
    timer = Node("Frist_x", "timer", PAYLOAD, 104, 162, 36, 36, state="x", deadline="d")
    end = Node("Ende_x", "end", PAYLOAD, 400, 120, 36, 36, label=(380, 160, 100, 40))
    edge = Edge(
        "Fluss_x", task.id, end.id, PAYLOAD, ((250, 140), (400, 138)), "e", (260, 100, 120, 30)
    )
    return Diagram("Prozess_x", PAYLOAD, (task, timer, end), (edge,))


def test_hostile_names_title_and_links_come_out_escaped() -> None:
    svg = str(
        render(
            hostile_diagram(),
            {"x": 3},
            {("x", "d"): 2},
            lambda **kw: f"/dashboard/faelle?x={PAYLOAD}",
            PAYLOAD,
        )
    )
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;script&gt;" in svg
    root = ElementTree.fromstring(svg)  # well-formed: no attribute was broken open
    ns = "{http://www.w3.org/2000/svg}"
    assert root.find(f"{ns}title").text == PAYLOAD  # type: ignore[union-attr]
    links = root.findall(f".//{ns}a")
    assert [a.get("href") for a in links] == [f"/dashboard/faelle?x={PAYLOAD}"] * 2
