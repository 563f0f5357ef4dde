"""Generated input against the app's own OpenAPI document: no 5xx for any of it (issue 3).

Every operation gets `EXAMPLES` generated requests per generation mode (valid and invalid
input; derandomized, so every run sends the same requests), with the admin's bearer token,
on a database with two cases and open escalations. The ``Idempotency-Key`` header is
generated from its declaration in the schema.

(`schemathesis.pytest.from_fixture` does not run under pytest 9 with schemathesis 4.32:
it sets ``Function._nodeid``. So each operation is one pytest case that drives Hypothesis
with the operation's own strategy.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from api.main import create_app
from api.trigger import InProcess
from models.settings import Settings
from tests.api.conftest import JWT_SECRET, ApiClient, sweep_to_escalation
from tests.factories import World

EXAMPLES = 25
METHODS = {"get", "post", "put", "patch", "delete"}


def operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the OpenAPI document (read without a database)."""
    document = create_app(
        Settings(database_url="sqlite://", jwt_secret=JWT_SECRET), trigger=InProcess()
    ).openapi()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    ]


@pytest.fixture
def api_schema(
    app: FastAPI, kel: World, clock: Any, create_referral: Callable[..., Any]
) -> schemathesis.BaseSchema:
    """The schema of a world with cases to find: AC-CAR-1 and AC-DIA-1, both escalated."""
    for reference, provider in (("AC-CAR-1", "SB-CARITAS"), ("AC-DIA-1", "SB-DIAKONIE")):
        assert create_referral(reference, provider_code=provider).status_code == 202
    assert sweep_to_escalation(kel, clock) == 4
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), operations(), ids=" ".join)
def test_no_generated_request_makes_the_server_fail(
    api_schema: schemathesis.BaseSchema,
    client_for: Callable[[str], ApiClient],
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = api_schema[path][method]
    token = client_for("admin").headers["Authorization"]
    sent: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def no_server_error(case: schemathesis.Case) -> None:
        answer = case.call_and_validate(
            headers={"Authorization": token}, checks=[not_a_server_error]
        )
        sent.append(answer.status_code)

    no_server_error()

    assert sent, "no request was generated"
    assert max(sent) < 500
