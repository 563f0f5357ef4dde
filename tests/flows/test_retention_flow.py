"""The retention deployment (flows.retention) under the Prefect test harness."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from flows.retention import anonymise
from models.tables import Customer
from tests.factories import CASEWORKER, World, at

CLOSED = date(2026, 4, 1)


def test_the_flow_anonymises_closed_cases_and_returns_the_counts(
    flow_env: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEL_RETENTION_YEARS", raising=False)
    kel = flow_env
    kel.start("Z-1", date(2026, 3, 2), customer_number="K1")
    kel.event("Z-1", CLOSED, "customer_withdrew", actor=CASEWORKER)

    counts = anonymise(as_of=at(date(2031, 4, 2), 2))  # the day after the five years

    assert counts == {"referrals": 1, "customers": 1, "feedback": 0, "commands": 2}
    with kel.session() as s:
        assert s.exec(select(Customer.customer_number)).one().startswith("anon-")
