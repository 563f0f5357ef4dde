"""The deadline sweep deployment (flows.sweep) under the Prefect test harness: the
deployed flow takes no parameter and reads the system clock; tests and simulations
inject theirs through `flows.simulation.sweep_at` (`run_sweep`)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from prefect.client.orchestration import get_client
from sqlmodel import select

from flows.simulation import sweep_at
from flows.sweep import deadline_sweep
from models.clock import FakeClock
from models.tables import Deadline
from tests.factories import World, at

START = date(2026, 3, 2)  # a Monday


def test_the_deployed_sweep_takes_no_parameter_and_reads_the_system_clock(
    flow_env: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    kel = flow_env
    kel.start("Z-1", START)
    clock = FakeClock(at(START + timedelta(days=1), 6))  # nothing is due yet
    monkeypatch.setattr("flows.sweep.SystemClock", lambda: clock)

    early = deadline_sweep(return_state=True)
    clock.set(at(START + timedelta(days=60), 6))
    late = deadline_sweep()

    assert early.result()["timers"] == 0 and late["timers"] > 0
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(early.state_details.flow_run_id)
    assert run.name and run.parameters == {}


def test_the_sweep_with_an_injected_clock_fires_only_what_is_due_by_then(
    flow_env: World,
) -> None:
    kel = flow_env
    kel.start("Z-1", START)

    before = sweep_at(at(START + timedelta(days=1), 6))
    after = sweep_at(at(START + timedelta(days=60), 6))

    assert before["timers"] == 0 and after["timers"] > 0
    with kel.session() as s:
        states = {d.kind: d.state for d in s.exec(select(Deadline))}
    assert states["first_appointment"] != "open"
