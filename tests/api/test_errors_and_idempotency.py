"""Bad input and repeated writes (issue 3.5).

Errors are ``application/problem+json`` (RFC 9457): 422 names the fields, 409 names the
state and the allowed events, 404 for an unknown case. A rejected request changes
nothing. Every write takes an ``Idempotency-Key``; a repeat returns the first answer, and
two identical requests at the same time (against a real server) have one effect.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import SQLModel, col, select

from models.tables import (
    AuditEvent,
    Command,
    Consent,
    Customer,
    Escalation,
    Feedback,
    IdempotencyRecord,
    IntakeDecision,
    Referral,
)
from tests.api.conftest import ApiClient, count, feedback_event, referral_body, served
from tests.factories import World

ClientFor = Callable[[str], ApiClient]
PROBLEM = "application/problem+json"
TABLES: tuple[type[SQLModel], ...] = (
    AuditEvent,
    Command,
    Consent,
    Customer,
    Escalation,
    Feedback,
    IdempotencyRecord,
    IntakeDecision,
    Referral,
)


def snapshot(kel: World) -> dict[str, Any]:
    """Row counts of every table an API write touches, and each referral's state."""
    with kel.session() as s:
        states = {r.reference: (r.state, r.appointment_on) for r in s.exec(select(Referral))}
        escalations = {e.id: (e.state, e.assigned_to) for e in s.exec(select(Escalation))}
    return {t.__name__: count(kel, t) for t in TABLES} | {
        "states": states,
        "escalations": escalations,
    }


def assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    return problem


# --- problem documents ---------------------------------------------------------------


def test_invalid_input_answers_422_naming_each_field(client_for: ClientFor, app: FastAPI) -> None:
    body = referral_body("AC-NEU-1", caseworker_email="keine-adresse", age_group="alt")
    del body["customer_number"]

    problem = assert_problem(client_for("ifk.aachen").write("/api/v1/referrals", body), 422)

    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"customer_number", "caseworker_email", "age_group"}
    assert all(e["message"] for e in problem["errors"])
    assert "customer_number" in problem["detail"]


def test_invalid_nested_feedback_names_the_nested_field(client_for: ClientFor, case: str) -> None:
    answer = client_for("traeger.caritas").write(
        f"/api/v1/referrals/{case}/events", feedback_event(need_group=0)
    )

    problem = assert_problem(answer, 422)
    assert [e["field"].endswith("feedback.need_group") for e in problem["errors"]] == [True]


def test_an_event_the_state_does_not_allow_answers_409_naming_state_and_allowed_events(
    client_for: ClientFor, case: str
) -> None:
    answer = client_for("traeger.caritas").write(
        f"/api/v1/referrals/{case}/events", {"event": "appointment_kept"}
    )

    problem = assert_problem(answer, 409)
    assert (problem["state"], problem["event"]) == ("voucher_issued", "appointment_kept")
    assert "appointment_booked" in problem["allowed_events"]
    assert "appointment_kept" not in problem["allowed_events"]
    assert "voucher_issued" in problem["detail"]


def test_an_event_on_a_closed_case_answers_409_with_no_allowed_events(
    client_for: ClientFor, case: str
) -> None:
    closed = client_for("ifk.aachen").write(
        f"/api/v1/referrals/{case}/events", {"event": "closed_by_caseworker"}
    )
    assert closed.status_code == 202

    answer = client_for("ifk.aachen").write(
        f"/api/v1/referrals/{case}/events", {"event": "customer_withdrew"}
    )

    problem = assert_problem(answer, 409)
    assert (problem["state"], problem["allowed_events"]) == ("closed", [])


def test_an_unknown_case_answers_404_problem(client_for: ClientFor, app: FastAPI) -> None:
    problem = assert_problem(client_for("admin").get("/api/v1/referrals/GIBT-ES-NICHT"), 404)

    assert "GIBT-ES-NICHT" in problem["detail"]


def test_an_unknown_route_answers_404_problem(client_for: ClientFor, app: FastAPI) -> None:
    assert_problem(client_for("admin").get("/api/v1/gibt-es-nicht"), 404)


# --- a rejected request changes nothing -----------------------------------------------


@dataclass(frozen=True)
class Rejected:
    name: str
    user: str
    path: str
    body: Any
    status: int


EVENTS = "/api/v1/referrals/AC-CAR-1/events"
REJECTED = [
    Rejected(
        "invalid fields",
        "ifk.aachen",
        "/api/v1/referrals",
        referral_body("AC-NEU-1", caseworker_email="x"),
        422,
    ),
    Rejected(
        "unknown field",
        "ifk.aachen",
        "/api/v1/referrals",
        referral_body("AC-NEU-1", geburtsdatum="1980-01-01"),
        422,
    ),
    Rejected(
        "unknown service type",
        "ifk.aachen",
        "/api/v1/referrals",
        referral_body("AC-NEU-1", service_type="zauberei"),
        422,
    ),
    Rejected(
        "unknown provider",
        "ifk.aachen",
        "/api/v1/referrals",
        referral_body("AC-NEU-1", provider_code="GIBT-ES-NICHT"),
        422,
    ),
    Rejected(
        "provider of another service type",
        "ifk.aachen",
        "/api/v1/referrals",
        referral_body("AC-NEU-1", provider_code="SUCHT-CARITAS"),
        422,
    ),
    Rejected(
        "reference taken",
        "ifk.aachen",
        "/api/v1/referrals",
        referral_body("AC-CAR-1", customer_number="K-ANDERS"),
        409,
    ),
    Rejected(
        "another site", "ifk.aachen", "/api/v1/referrals", referral_body("X-1", site="Jülich"), 403
    ),
    Rejected("event not allowed", "traeger.caritas", EVENTS, {"event": "appointment_kept"}, 409),
    Rejected("abort before counselling", "traeger.caritas", EVENTS, {"event": "aborted"}, 409),
    Rejected("event role forbidden", "ifk.aachen", EVENTS, {"event": "no_show"}, 403),
    Rejected("unknown event", "traeger.caritas", EVENTS, {"event": "zaubern"}, 422),
    Rejected(
        "event before the start",
        "ifk.aachen",
        EVENTS,
        {"event": "customer_withdrew", "occurred_on": "2026-03-01"},
        422,
    ),
    Rejected(
        "event in the future",
        "ifk.aachen",
        EVENTS,
        {"event": "customer_withdrew", "occurred_on": "2026-03-03"},
        422,
    ),
    Rejected("feedback missing", "traeger.caritas", EVENTS, {"event": "first_feedback"}, 422),
    Rejected(
        "appointment date missing", "traeger.caritas", EVENTS, {"event": "appointment_booked"}, 422
    ),
    Rejected(
        "event on an unknown case",
        "traeger.caritas",
        "/api/v1/referrals/GIBT-ES-NICHT/events",
        {"event": "no_show"},
        404,
    ),
    Rejected(
        "consent expiring before it is granted",
        "ifk.aachen",
        "/api/v1/referrals/AC-CAR-1/consent",
        {"form": "written", "granted_on": "2026-03-02", "expires_on": "2026-03-01"},
        422,
    ),
    Rejected(
        "consent of unknown form",
        "ifk.aachen",
        "/api/v1/referrals/AC-CAR-1/consent",
        {"form": "mündlich", "granted_on": "2026-03-02"},
        422,
    ),
    Rejected(
        "intake with incomplete facts",
        "ifk.aachen",
        "/api/v1/intake",
        {"customer_number": "K-1", "site": "Aachen", "facts": {"case": "transfer_sgb3", "age": 40}},
        422,
    ),
    Rejected(
        "intake with an impossible age",
        "ifk.aachen",
        "/api/v1/intake",
        {"customer_number": "K-1", "site": "Aachen", "facts": {"case": "transfer_sgb3", "age": 0}},
        422,
    ),
    Rejected("unknown escalation", "koordination", "/api/v1/escalations/999/resolve", None, 404),
    Rejected(
        "unknown escalation action", "koordination", "/api/v1/escalations/1/loeschen", None, 422
    ),
]


@pytest.mark.parametrize("rejected", REJECTED, ids=[r.name for r in REJECTED])
def test_a_rejected_request_answers_a_problem_and_changes_nothing(
    client_for: ClientFor, case: str, kel: World, rejected: Rejected
) -> None:
    before = snapshot(kel)

    answer = client_for(rejected.user).write(rejected.path, rejected.body)

    assert_problem(answer, rejected.status)
    after = snapshot(kel)
    if rejected.status in (403, 404):  # a denied request is audited (api.denials)
        assert after.pop("AuditEvent") == before.pop("AuditEvent") + 1
        with kel.session() as s:
            last = s.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc())).first()
        assert last is not None and last.action == "access_denied"
    assert after == before


def test_a_rejected_escalation_action_changes_nothing(
    client_for: ClientFor, escalated_case: str, kel: World
) -> None:
    coordinator = client_for("koordination")
    escalation_id = coordinator.get("/api/v1/escalations").json()[0]["id"]
    before = snapshot(kel)

    unassigned = coordinator.write(f"/api/v1/escalations/{escalation_id}/assign", {})

    assert_problem(unassigned, 422)
    assert snapshot(kel) == before


def test_a_resolved_escalation_cannot_be_resolved_again(
    client_for: ClientFor, escalated_case: str, kel: World
) -> None:
    coordinator = client_for("koordination")
    escalation_id = coordinator.get("/api/v1/escalations").json()[0]["id"]
    assert coordinator.write(f"/api/v1/escalations/{escalation_id}/resolve").status_code == 200
    before = snapshot(kel)

    again = coordinator.write(f"/api/v1/escalations/{escalation_id}/acknowledge")

    assert assert_problem(again, 409)["state"] == "resolved"
    assert snapshot(kel) == before


# --- Idempotency-Key -------------------------------------------------------------------

WRITES = [
    ("ifk.aachen", "/api/v1/intake"),
    ("ifk.aachen", "/api/v1/referrals"),
    ("traeger.caritas", "/api/v1/referrals/AC-CAR-1/events"),
    ("ifk.aachen", "/api/v1/referrals/AC-CAR-1/consent"),
    ("koordination", "/api/v1/escalations/1/acknowledge"),
]
VALID_BODIES: dict[str, Any] = {
    "/api/v1/intake": {
        "customer_number": "K-EZ-1",
        "site": "Aachen",
        "facts": {"case": "new_or_reactivated", "age": 22},
    },
    "/api/v1/referrals": referral_body("AC-NEU-1"),
    "/api/v1/referrals/AC-CAR-1/events": {
        "event": "appointment_booked",
        "appointment_on": "2026-03-09",
    },
    "/api/v1/referrals/AC-CAR-1/consent": {"form": "written", "granted_on": "2026-03-02"},
    "/api/v1/escalations/1/acknowledge": None,
}


@pytest.mark.parametrize(("user", "path"), WRITES, ids=[p for _, p in WRITES])
@pytest.mark.parametrize("key", [None, "kurz", "x" * 129], ids=["missing", "too short", "too long"])
def test_a_write_without_a_usable_idempotency_key_answers_422_and_changes_nothing(
    client_for: ClientFor, escalated_case: str, kel: World, user: str, path: str, key: Any
) -> None:
    before = snapshot(kel)
    headers = {} if key is None else {"Idempotency-Key": key}

    answer = client_for(user).post(path, json=VALID_BODIES[path], headers=headers)

    problem = assert_problem(answer, 422)
    assert [e["field"] for e in problem["errors"]] == ["header.Idempotency-Key"]
    assert snapshot(kel) == before


def test_the_same_key_and_body_replays_the_first_answer_with_one_effect(
    client_for: ClientFor, app: FastAPI, kel: World
) -> None:
    client = client_for("ifk.aachen")
    body = referral_body("AC-NEU-1") | {"reference": None}  # kel-flow assigns a reference
    key = str(uuid.uuid4())

    first = client.write("/api/v1/referrals", body, key=key)
    repeat = client.write("/api/v1/referrals", body, key=key)

    assert (first.status_code, repeat.status_code) == (202, 202)
    assert repeat.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert repeat.headers["idempotent-replayed"] == "true"
    assert (count(kel, Command), count(kel, Referral)) == (1, 1)


def test_the_same_key_replays_a_referral_created_with_its_own_reference(
    client_for: ClientFor, app: FastAPI, kel: World
) -> None:
    client = client_for("ifk.aachen")

    first = client.write("/api/v1/referrals", referral_body("AC-NEU-1"), key="anlegen-1")
    repeat = client.write("/api/v1/referrals", referral_body("AC-NEU-1"), key="anlegen-1")

    assert (first.status_code, repeat.status_code) == (202, 202)
    assert repeat.json() == first.json()
    assert repeat.headers["idempotent-replayed"] == "true"


def test_a_repeated_feedback_is_stored_once(client_for: ClientFor, case: str, kel: World) -> None:
    client = client_for("traeger.caritas")
    key = str(uuid.uuid4())

    answers = [client.write(f"/api/v1/referrals/{case}/events", feedback_event(), key=key)]
    answers.append(client.write(f"/api/v1/referrals/{case}/events", feedback_event(), key=key))

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert (count(kel, Feedback), count(kel, Command)) == (1, 2)  # start + one feedback


def test_a_repeated_escalation_action_replays_the_first_answer(
    client_for: ClientFor, escalated_case: str, kel: World
) -> None:
    coordinator = client_for("koordination")
    escalation_id = coordinator.get("/api/v1/escalations").json()[0]["id"]
    url = f"/api/v1/escalations/{escalation_id}/resolve"

    first = coordinator.write(url, key="aufloesen-1")
    repeat = coordinator.write(url, key="aufloesen-1")

    assert (first.status_code, repeat.status_code) == (200, 200)
    assert repeat.json() == first.json()
    assert repeat.headers["idempotent-replayed"] == "true"
    with kel.session() as s:
        resolved = s.exec(select(AuditEvent).where(AuditEvent.action == "escalation_resolve"))
        assert len(resolved.all()) == 1


@pytest.mark.parametrize(
    ("second_path", "second_body"),
    [
        ("/api/v1/referrals", referral_body("AC-NEU-2")),
        ("/api/v1/intake", VALID_BODIES["/api/v1/intake"]),
    ],
    ids=["different body", "different endpoint"],
)
def test_the_same_key_for_a_different_request_answers_422_and_has_no_effect(
    client_for: ClientFor, app: FastAPI, kel: World, second_path: str, second_body: Any
) -> None:
    client = client_for("ifk.aachen")
    first = client.write("/api/v1/referrals", referral_body("AC-NEU-1"), key="schluessel-1")
    before = snapshot(kel)

    reused = client.write(second_path, second_body, key="schluessel-1")

    assert first.status_code == 202
    assert "Idempotency-Key" in assert_problem(reused, 422)["detail"]
    assert snapshot(kel) == before


def test_keys_belong_to_their_user_so_two_users_may_use_the_same_key(
    client_for: ClientFor, app: FastAPI, kel: World
) -> None:
    mine = client_for("ifk.aachen").write(
        "/api/v1/referrals", referral_body("AC-NEU-1"), key="gemeinsam-1"
    )
    theirs = client_for("admin").write(
        "/api/v1/referrals", referral_body("AC-NEU-2"), key="gemeinsam-1"
    )

    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert "idempotent-replayed" not in theirs.headers
    assert count(kel, Referral) == 2


def test_a_key_of_a_rejected_request_is_not_used_up(client_for: ClientFor, case: str) -> None:
    provider = client_for("traeger.caritas")
    kept = {"event": "appointment_kept"}
    too_early = provider.write(f"/api/v1/referrals/{case}/events", kept, key="wahrgenommen-1")
    provider.write(
        f"/api/v1/referrals/{case}/events",
        {"event": "appointment_booked", "appointment_on": "2026-03-02"},
    )

    retried = provider.write(f"/api/v1/referrals/{case}/events", kept, key="wahrgenommen-1")

    assert (too_early.status_code, retried.status_code) == (409, 202)
    assert "idempotent-replayed" not in retried.headers
    assert retried.json()["state"] == "in_counselling"


# --- concurrency against a real server --------------------------------------------------


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port (file SQLite database)."""
    with served(app) as url:
        yield url


def at_the_same_time(*requests: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Send `requests` from one thread each, released together by a barrier."""
    barrier = threading.Barrier(len(requests))
    answers: list[httpx.Response | None] = [None] * len(requests)

    def send(i: int) -> None:
        barrier.wait()
        answers[i] = requests[i]()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def post(server: str, token: str, key: str, body: Any) -> Callable[[], httpx.Response]:
    headers = {"Authorization": token, "Idempotency-Key": key}
    return lambda: httpx.post(f"{server}/api/v1/referrals", json=body, headers=headers, timeout=30)


def test_two_identical_requests_at_the_same_time_have_one_effect_and_one_answer(
    server: str, client_for: ClientFor, kel: World
) -> None:
    token = client_for("ifk.aachen").headers["Authorization"]
    body = referral_body("AC-PAR-1")

    answers = at_the_same_time(*[post(server, token, "gleichzeitig-1", body)] * 2)

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("idempotent-replayed", "no") for a in answers) == ["no", "true"]
    assert (count(kel, Command), count(kel, Referral), count(kel, IdempotencyRecord)) == (1, 1, 1)


def test_two_keys_creating_the_same_reference_at_the_same_time_give_one_202_and_one_409(
    server: str, client_for: ClientFor, kel: World
) -> None:
    token = client_for("ifk.aachen").headers["Authorization"]
    body = referral_body("AC-PAR-2")

    answers = at_the_same_time(
        post(server, token, "erster-schluessel", body),
        post(server, token, "zweiter-schluessel", body),
    )

    assert sorted(a.status_code for a in answers) == [202, 409], [a.text for a in answers]
    assert (count(kel, Command), count(kel, Referral)) == (1, 1)
