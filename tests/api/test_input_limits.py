"""Bad input is refused with a 4xx problem, never stored and never a 500 (issue 7, point 6).

Reported values against the catalog (need group 17, module 99, 5,000 hours, ``1e999``),
sizes (a 20,001-character field, a 3 MB body), the Aktenzeichen pattern, date bounds
(a start in 2031, ``9999-12-31``) and every GET route of the API and the dashboard with
hostile query values. The clock stands at 2.3.2026.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from api import errors
from api.dashboard.web import COOKIE
from api.limits import MAX_BODY_BYTES
from models.commands import MAX_TEXT_CHARS, REFERENCE_PATTERN
from models.report_checks import InvalidReport
from models.tables import Feedback, Referral
from tests.api.conftest import STARTED, ApiClient, count, feedback_event, referral_body
from tests.factories import World

ClientFor = Callable[[str], ApiClient]
PROBLEM = "application/problem+json"


def refused(answer: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def sucht_case(client_for: ClientFor) -> str:
    """A Suchtberatung referral at SUCHT-CARITAS (consent given), customer aged 25-49."""
    body = referral_body(
        "SU-1",
        service_type="sucht",
        provider_code="SUCHT-CARITAS",
        consent={"form": "written", "granted_on": STARTED.isoformat()},
    )
    answer = client_for("ifk.aachen").write("/api/v1/referrals", body)
    assert answer.status_code == 202, answer.text
    return "SU-1"


def report(client: ApiClient, reference: str, **feedback: Any) -> httpx.Response:
    return client.write(f"/api/v1/referrals/{reference}/events", feedback_event(**feedback))


# --- the catalog (seed 002 §4.6.1) ------------------------------------------------------------
# tasks.commands checks every report with models.report_checks.check_feedback.


def test_need_group_17_for_sucht_is_refused_with_422_and_not_stored(
    client_for: ClientFor, sucht_case: str, kel: World
) -> None:
    answer = report(client_for("admin"), sucht_case, need_group=17, modules=[])

    assert "need_group" in refused(answer)["detail"]
    assert count(kel, Feedback) == 0


def test_module_99_for_sucht_is_refused_with_422_and_not_stored(
    client_for: ClientFor, sucht_case: str, kel: World
) -> None:
    answer = report(client_for("admin"), sucht_case, need_group=2, modules=[{"code": 99}])

    assert "modules[0].code" in refused(answer)["detail"]
    assert count(kel, Feedback) == 0


def test_a_youth_module_for_a_customer_over_25_is_refused_with_422(
    client_for: ClientFor, sucht_case: str, kel: World
) -> None:
    answer = report(client_for("admin"), sucht_case, need_group=3, modules=[{"code": "J1"}])

    assert "u25" in refused(answer)["detail"]
    assert count(kel, Feedback) == 0


def test_5000_hours_are_refused_with_422(client_for: ClientFor, case: str, kel: World) -> None:
    answer = report(client_for("admin"), case, modules=[{"code": 1, "hours": 5000}])

    assert refused(answer)["errors"][0]["field"].endswith("feedback.modules.0.hours")
    assert count(kel, Feedback) == 0


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity"])
def test_non_finite_hours_are_refused_with_422(
    client_for: ClientFor, case: str, kel: World, number: str
) -> None:
    text = json.dumps(feedback_event(modules=[{"code": 1, "hours": 0}]))
    text = text.replace('"hours": 0', f'"hours": {number}')
    client = client_for("admin")
    answer = client.post(
        f"/api/v1/referrals/{case}/events",
        content=text,
        headers={"Content-Type": "application/json", "Idempotency-Key": f"inf-{number}"},
    )

    refused(answer)
    assert count(kel, Feedback) == 0


# --- sizes ---------------------------------------------------------------------------------------


def test_a_field_of_20001_characters_is_refused_with_422(
    client_for: ClientFor, case: str, kel: World
) -> None:
    content = {"ausgangssituation": "x" * (MAX_TEXT_CHARS + 1)}
    answer = report(client_for("admin"), case, content=content)

    assert refused(answer)["errors"][0]["field"].endswith("feedback.content.ausgangssituation")
    assert count(kel, Feedback) == 0


def test_a_field_of_20000_characters_is_accepted(
    client_for: ClientFor, case: str, kel: World
) -> None:
    answer = report(client_for("admin"), case, content={"ziele": "ä" * MAX_TEXT_CHARS})

    assert answer.status_code == 202, answer.text
    assert count(kel, Feedback) == 1


def test_a_body_of_3_mb_is_refused_with_413_before_it_is_read(
    client_for: ClientFor, case: str, kel: World
) -> None:
    body = feedback_event(content={"ergebnis": "x" * 3_000_000})
    answer = client_for("admin").write(f"/api/v1/referrals/{case}/events", body)

    assert "256 KB" in refused(answer, 413)["detail"]
    assert count(kel, Feedback) == 0


def test_a_streamed_body_over_the_limit_is_refused_with_413(
    client_for: ClientFor, case: str, kel: World
) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        yield b'{"event": "first_feedback", "feedback": {"content": {"ergebnis": "'
        for _ in range(MAX_BODY_BYTES // 1000 + 1):
            yield b"x" * 1000
        yield b'"}}}'

    answer = client_for("admin").post(
        f"/api/v1/referrals/{case}/events",
        content=chunks(),
        headers={"Content-Type": "application/json", "Idempotency-Key": "gestreamt-1"},
    )

    refused(answer, 413)
    assert count(kel, Feedback) == 0


def test_a_login_form_of_3_mb_is_refused_with_413(app: FastAPI) -> None:
    with TestClient(app) as client:
        answer = client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": "x" * 3_000_000}
        )

    refused(answer, 413)


# --- references ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["AC/CAR/1", "AC CAR 1", "-AC", "A" * 41, "Akte-ä", ".."])
def test_a_reference_outside_the_pattern_is_refused_with_422(
    create_referral: Callable[..., httpx.Response], kel: World, reference: str
) -> None:
    assert re.fullmatch(REFERENCE_PATTERN, reference) is None
    answer = create_referral(reference, customer_number="K-1")

    assert [e["field"] for e in refused(answer)["errors"]] == ["reference"]
    assert count(kel, Referral) == 0


def test_a_customer_number_with_a_slash_is_refused_with_422(
    create_referral: Callable[..., httpx.Response], kel: World
) -> None:
    answer = create_referral("AC-1", customer_number="K/1")

    assert [e["field"] for e in refused(answer)["errors"]] == ["customer_number"]


# --- dates ---------------------------------------------------------------------------------------


def test_a_start_in_2031_is_refused_with_422(
    create_referral: Callable[..., httpx.Response], kel: World
) -> None:
    answer = create_referral("AC-2031", occurred_on="2031-01-02")

    assert refused(answer)["errors"][0]["field"] == "occurred_on"
    assert count(kel, Referral) == 0


def test_a_start_within_30_days_is_accepted_and_31_days_is_not(
    create_referral: Callable[..., httpx.Response],
) -> None:
    soon = create_referral("AC-30", occurred_on=(STARTED + timedelta(days=30)).isoformat())
    late = create_referral("AC-31", occurred_on=(STARTED + timedelta(days=31)).isoformat())

    assert soon.status_code == 202, soon.text
    refused(late)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31"])
def test_a_start_out_of_range_is_refused_with_422(
    create_referral: Callable[..., httpx.Response], kel: World, day: str
) -> None:
    refused(create_referral("AC-X", occurred_on=day))
    assert count(kel, Referral) == 0


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2026-03-03"])
def test_an_event_dated_out_of_range_is_refused_with_422(
    client_for: ClientFor, case: str, day: str
) -> None:
    answer = client_for("admin").write(
        f"/api/v1/referrals/{case}/events", {"event": "provider_declined", "occurred_on": day}
    )

    assert refused(answer)["errors"][0]["field"] == "occurred_on"


@pytest.mark.parametrize("day", ["9999-12-31", "2027-03-03", "0001-01-01"])
def test_an_appointment_out_of_range_is_refused_with_422(
    client_for: ClientFor, case: str, day: str
) -> None:
    answer = client_for("admin").write(
        f"/api/v1/referrals/{case}/events", {"event": "appointment_booked", "appointment_on": day}
    )

    assert refused(answer)["errors"][0]["field"] == "appointment_on"


@pytest.mark.parametrize(
    ("consent", "field"),
    [
        ({"granted_on": "9999-12-31"}, "granted_on"),
        ({"granted_on": "2026-03-01", "expires_on": "9999-12-31"}, "expires_on"),
        ({"granted_on": "2026-03-01", "expires_on": "2026-02-01"}, "expires_on"),
    ],
)
def test_consent_dates_out_of_range_are_refused_with_422(
    client_for: ClientFor, case: str, consent: dict[str, str], field: str
) -> None:
    answer = client_for("ifk.aachen").write(
        f"/api/v1/referrals/{case}/consent", {"form": "written", **consent}
    )

    assert refused(answer)["errors"][0]["field"] == field


def test_an_intake_dated_9999_12_31_is_refused_with_422(client_for: ClientFor) -> None:
    body = {
        "customer_number": "K-1",
        "site": "Aachen",
        "facts": {"case": "transfer_sgb3", "age": 40},
        "occurred_on": "9999-12-31",
    }
    answer = client_for("ifk.aachen").write("/api/v1/intake", body)

    assert refused(answer)["errors"][0]["field"] == "occurred_on"


# --- query parameters: no 5xx for anything ---------------------------------------------------

HOSTILE = ["9999-12-31", "0001-01-01", "-1", str(10**20), "abc", "%00", "", "2026-02-30"]
PATH_VALUES = {
    "reference": "AC-CAR-1",
    "feedback_id": "1",
    "username": "admin",
    "slug": "termin",
    "token": "x",
    "code": "SB-CARITAS",
    "service_type": "schulden",
}


def query_params(dependant: Dependant) -> list[str]:
    """The query parameters of a route's dependant and of all its dependencies."""
    names = [p.alias for p in dependant.query_params]
    for dependency in dependant.dependencies:
        names += [n for n in query_params(dependency) if n not in names]
    return names


def get_routes(app: FastAPI) -> list[tuple[str, list[str]]]:
    """Every GET route (API and dashboard): its path and its query parameters."""
    return [
        (str(context.path), query_params(route.dependant))
        for context in iter_route_contexts(app.routes)
        if isinstance(route := context.original_route, APIRoute) and "GET" in (route.methods or ())
    ]


def urls(path: str, params: list[str]) -> Iterator[str]:
    """The route with each hostile value in each query parameter and each path parameter."""
    names = re.findall(r"{(\w+)(?::\w+)?}", path)

    def filled(**values: str) -> str:
        return re.sub(r"{(\w+)(?::\w+)?}", lambda m: values.get(m[1], PATH_VALUES[m[1]]), path)

    for value in HOSTILE:
        quoted = httpx.QueryParams({"v": value}).get("v") or ""
        for param in params:
            yield f"{filled()}?{httpx.QueryParams({param: quoted})}"
        if params:  # every parameter at once
            yield f"{filled()}?{httpx.QueryParams(dict.fromkeys(params, quoted))}"
        for name in names:
            if value and value != "%00":
                yield filled(**{name: value})


def test_every_get_route_is_covered(app: FastAPI) -> None:
    paths = {path for path, _ in get_routes(app)}
    assert {"/api/v1/referrals", "/dashboard/kennzahlen", "/dashboard/traeger"} <= paths
    assert {"/dashboard/halbjahresbericht", "/dashboard/eintrittsplanung"} <= paths


def test_kennzahlen_until_9999_12_31_answers_400_not_500(
    app: FastAPI, client_for: ClientFor
) -> None:
    token = str(client_for("koordination").headers["Authorization"]).removeprefix("Bearer ")
    with TestClient(app, raise_server_exceptions=False, cookies={COOKIE: token}) as client:
        answer = client.get("/dashboard/kennzahlen?bis=9999-12-31")

    assert answer.status_code == 400
    assert "bis" in answer.text


@pytest.mark.parametrize("user", ["admin", "traeger.caritas"])
def test_no_get_route_answers_a_server_error_for_hostile_query_values(
    app: FastAPI, client_for: ClientFor, case: str, kel: World, user: str
) -> None:
    client = client_for(user)
    token = str(client.headers["Authorization"]).removeprefix("Bearer ")
    report(client_for("admin"), case)  # a feedback to find (id 1)
    failures = []
    sent = 0
    with TestClient(
        app,
        raise_server_exceptions=False,
        cookies={COOKIE: token},
        headers={"Authorization": f"Bearer {token}"},
        follow_redirects=False,
    ) as browser:
        for path, params in get_routes(app):
            for url in urls(path, params):
                answer = browser.get(url)
                sent += 1
                if answer.status_code >= 500:
                    failures.append(f"{url}: {answer.status_code}")

    assert sent > 100
    assert failures == []


# --- the OpenAPI document ------------------------------------------------------------------------


def test_the_openapi_document_lists_problem_answers_where_they_occur(app: FastAPI) -> None:
    document = app.openapi()
    events = document["paths"]["/api/v1/referrals/{reference}/events"]["post"]["responses"]
    listing = document["paths"]["/api/v1/referrals"]["get"]["responses"]

    assert {"401", "403", "404", "409", "413", "422"} <= set(events)
    assert {"401", "403", "422"} <= set(listing) and "413" not in listing
    for status in ("401", "404", "413", "422"):
        assert set(events[status]["content"]) == {PROBLEM}
    assert "429" in document["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
    ]


def test_the_openapi_document_states_the_input_limits(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]

    assert schemas["ReportContent"]["properties"]["ergebnis"]["maxLength"] == MAX_TEXT_CHARS
    reference = schemas["ReferralIn"]["properties"]["reference"]["anyOf"][0]
    assert reference["pattern"] == REFERENCE_PATTERN
    hours = schemas["BookedModule"]["properties"]["hours"]
    assert (hours["minimum"], hours["maximum"]) == (0, 1000)


# --- the error mapping ----------------------------------------------------------------------------


def test_a_catalog_refusal_and_a_date_overflow_answer_422_problems() -> None:
    """`InvalidReport` (from `models.report_checks`) and an overflowing date, wherever they
    are raised in a request, answer 422 naming the field, not 500."""
    bare = FastAPI()
    errors.install(bare)

    @bare.get("/bericht")
    def refuse_report() -> None:
        raise InvalidReport("modules[0].code", "Modul 99 gibt es nicht")

    @bare.get("/datum")
    def overflow() -> None:
        date.max + timedelta(days=1)

    with TestClient(bare, raise_server_exceptions=False) as client:
        report_answer, date_answer = client.get("/bericht"), client.get("/datum")

    body = refused(report_answer)
    assert body["errors"] == [{"field": "modules[0].code", "message": "Modul 99 gibt es nicht"}]
    assert body["detail"] == "modules[0].code: Modul 99 gibt es nicht"
    refused(date_answer)
