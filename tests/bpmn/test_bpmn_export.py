"""The BPMN export of every shipped process, read back by bpmn-moddle (node, npm package).

`make install` puts bpmn-moddle into ``node_modules``; ``tests/bpmn/check_bpmn.mjs`` parses
the file as bpmn-js would and reports its warnings and elements.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from models.bpmn import layout, open_deadlines_by_state
from models.process import load_registry

ROOT = Path(__file__).resolve().parents[2]
CHECK = Path(__file__).with_name("check_bpmn.mjs")
REGISTRY = load_registry(None)


def read_back(path: Path) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node fehlt"
    assert (ROOT / "node_modules" / "bpmn-moddle").is_dir(), "bpmn-moddle fehlt: make install"
    done = subprocess.run(
        [node, str(CHECK), str(path)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


@pytest.fixture(scope="module", params=sorted(REGISTRY.services))
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    service = request.param
    target = tmp_path_factory.mktemp("bpmn") / f"{service}.bpmn"
    result = CliRunner().invoke(app, ["process", "export-bpmn", service, "--out", str(target)])
    assert result.exit_code == 0, result.output
    return service, read_back(target)


def by_type(found: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in found["elements"] if e["type"] == f"bpmn:{kind}"]


def test_bpmn_moddle_reads_the_export_without_warnings(exported: Any) -> None:
    _, found = exported
    assert found["warnings"] == []


def test_every_wait_state_is_a_receive_task_and_every_event_is_named(exported: Any) -> None:
    service, found = exported
    process = REGISTRY.service(service).process
    tasks = {e["name"] for e in by_type(found, "ReceiveTask")}
    waits = {s.title for s in process.states.values() if not s.final}
    assert tasks == waits
    named = {e["name"] for e in found["elements"] if e["name"]}
    flows = {e["name"] for e in by_type(found, "SequenceFlow") if e["name"]}
    for t in process.transitions:
        assert t.title in flows or any(t.title in n for n in named), t.event


def test_every_deadline_with_a_period_is_a_non_interrupting_timer(exported: Any) -> None:
    service, found = exported
    config = REGISTRY.service(service)
    timers = [
        e
        for e in by_type(found, "BoundaryEvent")
        if e["definitions"] and e["definitions"][0]["type"] == "bpmn:TimerEventDefinition"
    ]
    durations = {t["definitions"][0]["duration"] for t in timers}
    expected = {config.period(k) for k in config.process.deadlines} - {None}
    assert durations == expected
    assert all(t["cancelActivity"] is False for t in timers)
    assert all("§ 187 Abs. 1 BGB" in t["documentation"] for t in timers)
    assert all(t["attachedTo"].startswith("Zustand_") for t in timers)


def test_escalating_ladders_end_in_escalation_events(exported: Any) -> None:
    service, found = exported
    config = REGISTRY.service(service)
    codes = {
        d["escalation"]
        for e in by_type(found, "EndEvent")
        for d in e["definitions"]
        if d["type"] == "bpmn:EscalationEventDefinition"
    }
    escalating = {
        kind
        for kind, deadline in config.process.deadlines.items()
        if config.period(kind) and any(step.action == "escalate" for step in deadline.ladder)
    }
    assert codes == escalating


def test_every_element_is_drawn(exported: Any) -> None:
    _, found = exported
    ids = {e["id"] for e in found["elements"]}
    drawn = {s["element"] for s in found["shapes"]}
    assert ids <= drawn
    edges = [s for s in found["shapes"] if s["type"] == "bpmndi:BPMNEdge"]
    assert edges and all(s["waypoints"] >= 2 for s in edges)
    tasks = [s["bounds"] for s in found["shapes"] if s["element"].startswith("Zustand_")]
    for i, a in enumerate(tasks):
        for b in tasks[i + 1 :]:
            apart = (
                a["x"] + a["width"] <= b["x"]
                or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"]
                or b["y"] + b["height"] <= a["y"]
            )
            assert apart, (a, b)


def test_which_deadlines_can_be_open_in_which_state() -> None:
    """Read off seed 002 §4.2/§4.3 by hand: e.g. after the first appointment was kept, no
    appointment deadline is open, but the reports are; after a no-show the voucher is
    no longer waiting to be redeemed (booking completed its validity)."""
    found = open_deadlines_by_state(REGISTRY.service("schulden").process)
    assert found["staged"] == {"staged_release"}  # the weeks of "laufende Therapie" (opt.)
    assert found["voucher_issued"] == {"voucher_validity", "first_appointment", "first_feedback"}
    assert found["appointment_booked"] == {"first_appointment", "first_feedback"}
    assert found["no_show"] == {"first_appointment", "first_feedback", "no_show_followup"}
    assert found["rerouting"] == {"reroute"}
    assert found["in_counselling"] == {"first_feedback", "interim_report", "result_report"}


def test_pflege_has_no_timers_where_the_seed_says_individuell() -> None:
    diagram = layout(REGISTRY.service("pflege"))
    kinds = {n.deadline for n in diagram.nodes if n.kind == "timer"}
    assert "first_appointment" not in kinds and "result_report" not in kinds


def test_an_unknown_name_is_refused_in_german() -> None:
    result = CliRunner().invoke(app, ["process", "export-bpmn", "gibt-es-nicht"])
    assert result.exit_code == 2
    assert "Unbekannte Leistungsart" in result.output
