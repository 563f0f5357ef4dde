"""The BPMN export of the further Leistungstypen (issue 10.5), shipped as Kommune
directories beside the Düsseldorf default: ``kel process export-bpmn <Leistungsart>
--process-dir models/process_definitions/kommunen/<name>``, read back by bpmn-moddle."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from models.bpmn import layout, open_deadlines_by_state
from models.process import SHIPPED_DIR, load_registry
from tests.bpmn.test_bpmn_export import by_type, read_back

KOMMUNEN = {
    "beschaeftigung_67": SHIPPED_DIR / "kommunen" / "lvr",
    "sozialpsychiatrie": SHIPPED_DIR / "kommunen" / "hamburg",
}


@pytest.fixture(scope="module", params=sorted(KOMMUNEN))
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    service: str = request.param
    target = tmp_path_factory.mktemp("bpmn") / f"{service}.bpmn"
    directory = str(KOMMUNEN[service])
    result = CliRunner().invoke(
        app,
        ["process", "export-bpmn", service, "--process-dir", directory, "--out", str(target)],
    )
    assert result.exit_code == 0, result.output
    return service, read_back(target)


def timers(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Timer boundary events by name."""
    return {
        e["name"]: e
        for e in by_type(found, "BoundaryEvent")
        if e["definitions"] and e["definitions"][0]["type"] == "bpmn:TimerEventDefinition"
    }


def test_the_export_reads_back_without_warnings_and_every_state_is_a_task(exported: Any) -> None:
    service, found = exported
    process = load_registry(KOMMUNEN[service]).service(service).process

    assert found["warnings"] == []
    tasks = {e["name"] for e in by_type(found, "ReceiveTask")}
    assert tasks == {s.title for s in process.states.values() if not s.final}
    ids = {e["id"] for e in found["elements"]}
    assert ids <= {s["element"] for s in found["shapes"]}


def test_the_relative_deadline_is_a_timer_counted_from_the_start(exported: Any) -> None:
    service, found = exported
    expected = {
        "beschaeftigung_67": ("Verlaufsbericht an den Leistungsträger (22 Monate)", "P22M"),
        "sozialpsychiatrie": ("Sozial- und Verlaufsbericht (10 Monate)", "P10M"),
    }[service]
    name, duration = expected

    timer = timers(found)[name]

    assert timer["definitions"][0]["duration"] == duration
    assert "-2 Monate relativ zur Fälligkeit der Frist" in timer["documentation"]
    assert "plan_update" not in timer["documentation"]  # titles, no internal names
    assert "approval_period" not in timer["documentation"]


def test_the_recurring_deadline_says_it_starts_again(exported: Any) -> None:
    service, found = exported
    name = {
        "beschaeftigung_67": "Fortschreibung des Hilfeplans (24 Monate)",
        "sozialpsychiatrie": "Ende des Bewilligungszeitraums (12 Monate)",
    }[service]

    assert "Beginnt nach jeder Erfüllung neu." in timers(found)[name]["documentation"]


def test_the_crisis_timer_ends_in_informing_the_leistungstraeger() -> None:
    found_dir = KOMMUNEN["beschaeftigung_67"]
    process = load_registry(found_dir).service("beschaeftigung_67").process
    opened = open_deadlines_by_state(process)

    assert opened["in_crisis"] >= {"crisis", "plan_update", "progress_report"}
    assert "crisis" not in opened["in_care"]  # crisis_ended completes it
    assert opened["left"] == {"final_report"}


def test_month_offsets_are_named_in_months() -> None:
    diagram = layout(load_registry(KOMMUNEN["beschaeftigung_67"]).service("beschaeftigung_67"))
    names = {n.name for n in diagram.nodes if n.deadline == "plan_update" or n.deadline == "crisis"}

    assert "Eskalation (1 Monat nach Fälligkeit)" in names
    assert "Information an den Leistungsträger (1 Tag nach Fälligkeit)" in names
