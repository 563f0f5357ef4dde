"""The retention deployment (flows.retention) under the Prefect test harness."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from sqlmodel import select

from flows.retention import anonymise, run_retention
from models.clock import FakeClock
from models.settings import Settings
from models.tables import Customer
from tests.factories import CASEWORKER, World, at

CLOSED = date(2026, 4, 1)


@flow(name="daten-anonymisieren-test")
def anonymise_at(now: datetime) -> dict[str, int]:
    """The retention flow's body as of `now`: the test's own entry point with a clock."""
    return run_retention(Settings(), now)


def test_the_flow_anonymises_closed_cases_and_returns_the_counts(
    flow_env: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEL_RETENTION_YEARS", raising=False)
    kel = flow_env
    kel.start("Z-1", date(2026, 3, 2), customer_number="K1")
    kel.event("Z-1", CLOSED, "customer_withdrew", actor=CASEWORKER)

    counts = anonymise_at(at(date(2031, 4, 2), 2))  # the day after the five years

    assert counts == {"referrals": 1, "customers": 1, "feedback": 0, "commands": 2}
    with kel.session() as s:
        assert s.exec(select(Customer.customer_number)).one().startswith("anon-")


def test_the_deployed_flow_takes_no_parameter_and_reads_the_system_clock(
    flow_env: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEL_RETENTION_YEARS", raising=False)
    kel = flow_env
    kel.start("Z-1", date(2026, 3, 2), customer_number="K1")
    kel.event("Z-1", CLOSED, "customer_withdrew", actor=CASEWORKER)
    clock = FakeClock(at(date(2031, 4, 1), 23))  # the last day of the five years
    monkeypatch.setattr("flows.retention.SystemClock", lambda: clock)

    early = anonymise(return_state=True)
    clock.set(at(date(2031, 4, 2), 2))
    due = anonymise()

    assert early.result()["referrals"] == 0 and due["referrals"] == 1
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(early.state_details.flow_run_id)
    assert run.parameters == {}
