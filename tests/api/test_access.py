"""Access matrix (issue 3, access control): every role against every endpoint.

A provider sees and changes only its own cases, a caseworker those of their site, the
coordinator and the admin all cases of the Kommune. A case outside a user's view answers
404, so its existence does not leak; an action the role may not take answers 403.

The world (`escalated`): three referrals started on 2.3.2026 and swept on 25.3.2026,
each with two open escalations:

    AC-CAR-1  site Aachen      provider SB-CARITAS
    AC-DIA-1  site Aachen      provider SB-DIAKONIE
    ES-CAR-1  site Eschweiler  provider SB-CARITAS
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from models.clock import FakeClock
from models.settings import Settings
from models.tables import Command, IdempotencyRecord, Referral, User
from tests.api.conftest import ACCOUNTS, PASSWORD, ApiClient, count, login, referral_body
from tests.factories import World

ClientFor = Callable[[str], ApiClient]
USERS = list(ACCOUNTS)
CASES = ("AC-CAR-1", "AC-DIA-1", "ES-CAR-1")
VISIBLE = {
    "ifk.aachen": {"AC-CAR-1", "AC-DIA-1"},
    "ifk.eschweiler": {"ES-CAR-1"},
    "traeger.caritas": {"AC-CAR-1", "ES-CAR-1"},
    "traeger.diakonie": {"AC-DIA-1"},
    "koordination": set(CASES),
    "admin": set(CASES),
}
COORDINATION_ONLY = {
    "ifk.aachen": 403,
    "ifk.eschweiler": 403,
    "traeger.caritas": 403,
    "traeger.diakonie": 403,
    "koordination": 200,
    "admin": 200,
}


def escalation_of(client: ApiClient, reference: str) -> int:
    """The id of `reference`'s first escalation, looked up as the coordinator sees it."""
    for escalation in client.get("/api/v1/escalations").json():
        if escalation["reference"] == reference:
            return int(escalation["id"])
    raise AssertionError(f"no escalation for {reference}")


@dataclass(frozen=True)
class Endpoint:
    """One endpoint, called on case AC-CAR-1 (Aachen, SB-CARITAS) where it names a case,
    with the status each user must get. `world` is the fixture it needs."""

    name: str
    call: Callable[[ApiClient, str, ApiClient], httpx.Response]  # (client, user, coordinator)
    expected: dict[str, int]
    world: str = "case"


def _intake(client: ApiClient, user: str, _: ApiClient) -> httpx.Response:
    site = ACCOUNTS[user].site or "Aachen"
    facts = {"case": "new_or_reactivated", "age": 22}
    return client.write(
        "/api/v1/intake", {"customer_number": "K-EZ-1", "site": site, "facts": facts}
    )


def _escalation(action: str, body: dict[str, Any] | None = None) -> Any:
    def call(client: ApiClient, _: str, coordinator: ApiClient) -> httpx.Response:
        escalation_id = escalation_of(coordinator, "AC-CAR-1")
        return client.write(f"/api/v1/escalations/{escalation_id}/{action}", body)

    return call


WRITES = [
    Endpoint(
        "intake",
        _intake,
        {
            "ifk.aachen": 201,
            "ifk.eschweiler": 201,
            "traeger.caritas": 403,
            "traeger.diakonie": 403,
            "koordination": 403,
            "admin": 201,
        },
        world="app",
    ),
    Endpoint(
        "create referral for Aachen",
        lambda c, _, __: c.write("/api/v1/referrals", referral_body("AC-NEU-1")),
        {
            "ifk.aachen": 202,
            "ifk.eschweiler": 403,
            "traeger.caritas": 403,
            "traeger.diakonie": 403,
            "koordination": 403,
            "admin": 202,
        },
        world="app",
    ),
    Endpoint(
        "provider event appointment_booked",
        lambda c, _, __: c.write(
            "/api/v1/referrals/AC-CAR-1/events",
            {"event": "appointment_booked", "appointment_on": "2026-03-10"},
        ),
        {
            "ifk.aachen": 403,
            "ifk.eschweiler": 404,
            "traeger.caritas": 202,
            "traeger.diakonie": 404,
            "koordination": 403,
            "admin": 202,
        },
    ),
    Endpoint(
        "caseworker event customer_withdrew",
        lambda c, _, __: c.write(
            "/api/v1/referrals/AC-CAR-1/events", {"event": "customer_withdrew"}
        ),
        {
            "ifk.aachen": 202,
            "ifk.eschweiler": 404,
            "traeger.caritas": 403,
            "traeger.diakonie": 404,
            "koordination": 403,
            "admin": 202,
        },
    ),
    Endpoint(
        "grant consent",
        lambda c, _, __: c.write(
            "/api/v1/referrals/AC-CAR-1/consent", {"form": "written", "granted_on": "2026-03-02"}
        ),
        {
            "ifk.aachen": 201,
            "ifk.eschweiler": 404,
            "traeger.caritas": 403,
            "traeger.diakonie": 403,
            "koordination": 403,
            "admin": 201,
        },
    ),
    Endpoint(
        "acknowledge escalation",
        _escalation("acknowledge"),
        COORDINATION_ONLY,
        world="escalated_case",
    ),
    Endpoint(
        "resolve escalation", _escalation("resolve"), COORDINATION_ONLY, world="escalated_case"
    ),
    Endpoint(
        "assign escalation",
        _escalation("assign", {"assigned_to": "frau.k"}),
        COORDINATION_ONLY,
        world="escalated_case",
    ),
]
READS = [
    Endpoint(
        "list referrals", lambda c, _, __: c.get("/api/v1/referrals"), dict.fromkeys(USERS, 200)
    ),
    Endpoint(
        "read referral",
        lambda c, _, __: c.get("/api/v1/referrals/AC-CAR-1"),
        {
            "ifk.aachen": 200,
            "ifk.eschweiler": 404,
            "traeger.caritas": 200,
            "traeger.diakonie": 404,
            "koordination": 200,
            "admin": 200,
        },
    ),
    Endpoint(
        "list escalations",
        lambda c, _, __: c.get("/api/v1/escalations"),
        dict.fromkeys(USERS, 200),
        world="escalated_case",
    ),
    Endpoint("read audit", lambda c, _, __: c.get("/api/v1/audit"), COORDINATION_ONLY),
    Endpoint("health", lambda c, _, __: c.get("/api/v1/health"), dict.fromkeys(USERS, 200)),
]


def _check(answer: httpx.Response) -> int:
    """The status of `answer`, after checking that an error is a problem document."""
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == answer.status_code
    return answer.status_code


@pytest.mark.parametrize(
    ("endpoint", "user"),
    [
        pytest.param(endpoint, user, id=f"{endpoint.name}-{user}")
        for endpoint in WRITES
        for user in USERS
    ],
)
def test_each_role_gets_the_status_the_access_rules_give_it_for_each_write(
    request: pytest.FixtureRequest, client_for: ClientFor, endpoint: Endpoint, user: str
) -> None:
    request.getfixturevalue(endpoint.world)

    answer = endpoint.call(client_for(user), user, client_for("koordination"))

    assert _check(answer) == endpoint.expected[user], answer.text


@pytest.mark.parametrize("endpoint", READS, ids=[e.name for e in READS])
def test_each_role_gets_the_status_the_access_rules_give_it_for_each_read(
    request: pytest.FixtureRequest, client_for: ClientFor, endpoint: Endpoint
) -> None:
    request.getfixturevalue(endpoint.world)
    coordinator = client_for("koordination")

    statuses = {user: _check(endpoint.call(client_for(user), user, coordinator)) for user in USERS}

    assert statuses == endpoint.expected


def test_the_list_of_referrals_holds_exactly_the_cases_each_user_may_see(
    client_for: ClientFor, cases: dict[str, str]
) -> None:
    listed = {
        user: {r["reference"] for r in client_for(user).get("/api/v1/referrals").json()}
        for user in USERS
    }

    assert listed == VISIBLE


def test_the_list_of_escalations_holds_only_those_of_the_cases_each_user_may_see(
    client_for: ClientFor, escalated: dict[str, str]
) -> None:
    listed = {
        user: sorted(e["reference"] for e in client_for(user).get("/api/v1/escalations").json())
        for user in USERS
    }

    assert listed == {user: sorted(2 * list(VISIBLE[user])) for user in USERS}


def test_a_case_outside_the_users_view_answers_404_on_read_and_events(
    client_for: ClientFor, cases: dict[str, str]
) -> None:
    seen: dict[str, dict[str, tuple[int, int]]] = {}
    for user in USERS:
        client = client_for(user)
        for reference in CASES:
            read = client.get(f"/api/v1/referrals/{reference}")
            event = client.write(f"/api/v1/referrals/{reference}/events", {"event": "no_show"})
            seen.setdefault(user, {})[reference] = (read.status_code, event.status_code)

    # a visible case: 200 on read, and no_show is refused for the state (409) or role (403)
    assert seen == {
        user: {
            reference: (200, 409 if ACCOUNTS[user].role in ("provider", "admin") else 403)
            if reference in VISIBLE[user]
            else (404, 404)
            for reference in CASES
        }
        for user in USERS
    }


def test_an_unknown_case_answers_like_a_hidden_one_so_existence_does_not_leak(
    client_for: ClientFor, cases: dict[str, str]
) -> None:
    diakonie = client_for("traeger.diakonie")

    hidden = diakonie.get("/api/v1/referrals/AC-CAR-1")
    unknown = diakonie.get("/api/v1/referrals/GIBT-ES-NICHT")

    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["title"] == unknown.json()["title"]


FOREIGN_FILTERS = {
    "ifk.aachen": "site=Eschweiler",
    "ifk.eschweiler": "site=Aachen",
    "traeger.diakonie": "provider=SB-CARITAS",
    "traeger.caritas": "provider=SB-DIAKONIE",
}


def test_filters_do_not_widen_the_view_beyond_the_users_cases(
    client_for: ClientFor, cases: dict[str, str]
) -> None:
    found = {
        user: client_for(user).get(f"/api/v1/referrals?{query}").json()
        for user, query in FOREIGN_FILTERS.items()
    }

    assert found == {user: [] for user in FOREIGN_FILTERS}


def test_a_caseworker_cannot_create_a_referral_for_another_site_and_nothing_is_recorded(
    client_for: ClientFor, kel: World
) -> None:
    answer = client_for("ifk.aachen").write(
        "/api/v1/referrals", referral_body("ES-NEU-1", site="Eschweiler")
    )

    assert answer.status_code == 403
    assert "Eschweiler" in answer.json()["detail"]
    assert (count(kel, Command), count(kel, Referral), count(kel, IdempotencyRecord)) == (0, 0, 0)


def test_a_provider_cannot_report_events_on_another_providers_case_and_the_case_is_unchanged(
    client_for: ClientFor, cases: dict[str, str]
) -> None:
    answer = client_for("traeger.diakonie").write(
        "/api/v1/referrals/AC-CAR-1/events",
        {"event": "appointment_booked", "appointment_on": "2026-03-10"},
    )

    assert answer.status_code == 404
    case = client_for("koordination").get("/api/v1/referrals/AC-CAR-1").json()
    assert (case["state"], case["appointment_on"]) == ("voucher_issued", None)


@pytest.mark.parametrize(
    "event", ["appointment_booked", "appointment_kept", "first_feedback", "customer_withdrew"]
)
def test_the_coordinator_sees_all_cases_but_cannot_report_their_events(
    client_for: ClientFor, cases: dict[str, str], event: str
) -> None:
    answer = client_for("koordination").write(
        "/api/v1/referrals/ES-CAR-1/events", {"event": event} | _event_data(event)
    )

    assert answer.status_code == 403
    assert answer.json()["allowed_for_role"] == []


def _event_data(event: str) -> dict[str, Any]:
    if event == "appointment_booked":
        return {"appointment_on": "2026-03-10"}
    if event == "first_feedback":
        return {"feedback": {"appointment_kept": True}}
    return {}


# --- authentication -----------------------------------------------------------------

PROTECTED = [
    ("POST", "/api/v1/intake"),
    ("POST", "/api/v1/referrals"),
    ("GET", "/api/v1/referrals"),
    ("GET", "/api/v1/referrals/AC-CAR-1"),
    ("POST", "/api/v1/referrals/AC-CAR-1/events"),
    ("POST", "/api/v1/referrals/AC-CAR-1/consent"),
    ("GET", "/api/v1/escalations"),
    ("POST", "/api/v1/escalations/1/acknowledge"),
    ("POST", "/api/v1/escalations/1/resolve"),
    ("POST", "/api/v1/escalations/1/assign"),
    ("GET", "/api/v1/audit"),
]
BODIES: dict[str, Any] = {
    "/api/v1/intake": {
        "customer_number": "K-EZ-1",
        "site": "Aachen",
        "facts": {"case": "new_or_reactivated", "age": 22},
    },
    "/api/v1/referrals": referral_body("AC-NEU-1"),
    "/api/v1/referrals/AC-CAR-1/events": {"event": "customer_withdrew"},
    "/api/v1/referrals/AC-CAR-1/consent": {"form": "written", "granted_on": "2026-03-02"},
}


def _send(client: TestClient, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": "schluessel-1234"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.request(method, path, json=BODIES.get(path), headers=headers)


def _assert_unauthenticated(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["status"] == 401


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_request_without_token_answers_401_problem_with_www_authenticate(
    app: FastAPI, method: str, path: str
) -> None:
    with TestClient(app) as anonymous:
        _assert_unauthenticated(_send(anonymous, method, path, token=None))


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_request_with_an_expired_token_answers_401(
    app: FastAPI,
    client_for: ClientFor,
    clock: FakeClock,
    settings: Settings,
    method: str,
    path: str,
) -> None:
    token = client_for("admin").headers["Authorization"].removeprefix("Bearer ")
    clock.advance(timedelta(minutes=settings.token_minutes, seconds=1))

    with TestClient(app) as client:
        _assert_unauthenticated(_send(client, method, path, token))


def test_a_token_is_accepted_until_just_before_it_expires(
    client_for: ClientFor, clock: FakeClock, settings: Settings
) -> None:
    client = client_for("koordination")

    clock.advance(timedelta(minutes=settings.token_minutes) - timedelta(seconds=1))
    still = client.get("/api/v1/referrals")
    clock.advance(timedelta(seconds=1))
    expired = client.get("/api/v1/referrals")

    assert (still.status_code, expired.status_code) == (200, 401)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("kein.jwt", id="malformed"),
        pytest.param(
            jwt.encode({"sub": "admin", "exp": 4_102_444_800}, "x" * 64, algorithm="HS256"),
            id="foreign signature",
        ),
        pytest.param(
            jwt.encode({"sub": "admin", "exp": 4_102_444_800}, "", algorithm="none"),
            id="unsigned",
        ),
    ],
)
def test_a_forged_or_malformed_token_answers_401(app: FastAPI, token: str) -> None:
    with TestClient(app) as client:
        _assert_unauthenticated(_send(client, "GET", "/api/v1/referrals", token))


@pytest.mark.parametrize(
    ("username", "password"),
    [("ifk.aachen", "falsch"), ("ifk.aachen", PASSWORD.upper()), ("niemand", PASSWORD)],
    ids=["wrong password", "wrong case", "unknown user"],
)
def test_login_with_wrong_credentials_answers_401_without_a_token(
    app: FastAPI, username: str, password: str
) -> None:
    answer = login(app, username, password)

    _assert_unauthenticated(answer)
    assert answer.json()["detail"] == "Benutzername oder Passwort falsch."
    assert "access_token" not in answer.json()


def test_login_of_a_deactivated_account_answers_401(app: FastAPI, kel: World) -> None:
    with kel.session() as s:
        user = s.exec(select(User).where(User.username == "admin")).one()
        user.active = False

    _assert_unauthenticated(login(app, "admin"))


def test_a_token_of_an_account_deactivated_later_answers_401(
    client_for: ClientFor, kel: World
) -> None:
    client = client_for("koordination")
    assert client.get("/api/v1/referrals").status_code == 200
    with kel.session() as s:
        user = s.exec(select(User).where(User.username == "koordination")).one()
        user.active = False

    _assert_unauthenticated(client.get("/api/v1/referrals"))


def test_health_answers_without_a_token(app: FastAPI) -> None:
    with TestClient(app) as anonymous:
        answer = anonymous.get("/api/v1/health")

    assert (answer.status_code, answer.json()["status"]) == (200, "ok")
