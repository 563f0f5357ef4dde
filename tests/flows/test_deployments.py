"""Every deployment of ``prefect.yaml`` runs on the system clock: no flow a user can start
in the Prefect UI takes a date or time, so nobody can fire a timer early (DESIGN §3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint

from flows.simulation import simulate_days, sweep_at

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEPLOYMENTS: list[dict[str, Any]] = yaml.safe_load(
    (PROJECT_DIR / "prefect.yaml").read_text(encoding="utf-8")
)["deployments"]
#: Parameter names that smell of a clock, whatever their type.
CLOCK_NAMES = {"as_of", "now", "today", "at", "when", "clock", "on", "day", "date", "time"}
#: JSON schema formats of dates and times (pydantic: date, datetime, time, timedelta).
CLOCK_FORMATS = {"date", "date-time", "time", "duration"}


def clock_parameters(flow: Flow[..., Any]) -> list[str]:
    """The parameters of `flow` (and fields of their models) that carry a date or time."""
    schema = flow.parameters.model_dump(mode="json", by_alias=True)
    found = [name for name in schema["properties"] if name.lower() in CLOCK_NAMES]

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            if node.get("format") in CLOCK_FORMATS:
                found.append(f"{path} ({node['format']})")
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(schema, "parameters")
    return found


def test_prefect_yaml_deploys_the_sweep_and_the_retention_flow() -> None:
    names = {d["name"] for d in DEPLOYMENTS}
    assert {"fristen-pruefen", "daten-anonymisieren"} <= names


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: str(d["name"]))
def test_no_deployed_flow_takes_a_date_or_time(deployment: dict[str, Any]) -> None:
    path, _, name = str(deployment["entrypoint"]).partition(":")
    flow = load_flow_from_entrypoint(f"{PROJECT_DIR / path}:{name}")

    assert clock_parameters(flow) == []


def test_the_check_finds_a_clock_parameter_where_there_is_one() -> None:
    # the simulations take their own clock: they are not deployed
    assert clock_parameters(simulate_days) == ["parameters.properties.start (date)"]
    assert clock_parameters(sweep_at) == ["now", "parameters.properties.now (date-time)"]
