"""Generated input against the app's own OpenAPI document: no 5xx for any of it (issue 3).

Every operation gets up to `EXAMPLES` generated requests (deterministic: derandomized),
sent with the admin's bearer token, on a database with two cases and open escalations.
The ``Idempotency-Key`` header is generated from its declaration in the schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.api.conftest import ApiClient, sweep_to_escalation
from tests.factories import World

EXAMPLES = 25


@pytest.fixture
def api_schema(
    app: FastAPI, kel: World, clock: Any, create_referral: Callable[..., Any]
) -> schemathesis.BaseSchema:
    """The schema of a world with cases to find: AC-CAR-1 and AC-DIA-1, both escalated."""
    for reference, provider in (("AC-CAR-1", "SB-CARITAS"), ("AC-DIA-1", "SB-DIAKONIE")):
        assert create_referral(reference, provider_code=provider).status_code == 202
    assert sweep_to_escalation(kel, clock) == 4
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_makes_the_server_fail(
    case: schemathesis.Case, client_for: Callable[[str], ApiClient]
) -> None:
    token = client_for("admin").headers["Authorization"]

    case.call_and_validate(headers={"Authorization": token}, checks=[not_a_server_error])
