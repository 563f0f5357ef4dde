"""The referral lifecycle driven only through the API, with a real Prefect server and a
process worker carrying out the follow-ups (``kel serve``'s stack). Every answer carries
the new state at once (DESIGN §4.2); e-mails follow through Prefect, and an event
accepted while the Prefect server is down is applied at once, its e-mail sent by the
deadline sweep once the server is back (outbox)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import select

from api.security import hash_password
from cli.serve import Stack, wait_until
from models.db import migrate, session
from models.tables import Command, Notification, Provider, User
from notifications import SmtpSink, smtp_url

pytestmark = pytest.mark.e2e
PASSWORD = "e2e-geheim-passwort"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, SmtpSink]]:
    root = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{root / 'kel.db'}"
    migrate(url)
    now = datetime.now(UTC)
    with session(url) as s:
        s.add(
            Provider(
                code="SB",
                name="Schuldnerberatung",
                email="sb@traeger.example",
                service_types=["schulden"],
                sites=[],
            )
        )
    with session(url) as s:
        s.add(
            User(
                username="ifk",
                role="caseworker",
                site="Aachen",
                password_hash=hash_password(PASSWORD),
                created_at=now,
            )
        )
        s.add(
            User(
                username="traeger",
                role="provider",
                provider_id=1,
                password_hash=hash_password(PASSWORD),
                created_at=now,
            )
        )
    with SmtpSink(root / "mail") as sink:
        env = {
            "KEL_SMTP_URL": smtp_url(sink.host, sink.port, "kel@jobcenter.example"),
            "KEL_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        with Stack(url, root / "prefect", extra_env=env, log_dir=root) as running:
            yield running, sink


def client(stack: Stack, username: str) -> httpx.Client:
    token = httpx.post(
        f"{stack.api_url}/api/v1/auth/token", data={"username": username, "password": PASSWORD}
    ).json()
    return httpx.Client(
        base_url=f"{stack.api_url}/api/v1",
        timeout=30,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )


def post(c: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = c.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code in (201, 202), response.text
    return dict(response.json())


def wait_for_state(c: httpx.Client, reference: str, state: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def reached() -> bool:
        response = c.get(f"/referrals/{reference}")
        found.update(response.json() if response.status_code == 200 else {})
        return found.get("state") == state

    wait_until(reached, 90, f"Zustand {state} von {reference}")
    return found


def test_a_referral_runs_through_the_api_and_the_prefect_worker(
    stack: tuple[Stack, SmtpSink],
) -> None:
    running, _ = stack
    ifk, traeger = client(running, "ifk"), client(running, "traeger")

    routed = post(
        ifk,
        "/intake",
        {
            "customer_number": "K-E2E-1",
            "site": "Aachen",
            "facts": {"case": "new_or_reactivated", "age": 22},
        },
    )
    assert (routed["team"], routed["rule"]) == ("U25", "1.3")
    accepted = post(
        ifk,
        "/referrals",
        {
            "reference": "E2E-1",
            "customer_number": "K-E2E-1",
            "site": "Aachen",
            "age_group": "u25",
            "service_type": "schulden",
            "provider_code": "SB",
            "caseworker_email": "ifk@jobcenter.example",
        },
    )
    assert (accepted["status"], accepted["state"]) == ("applied", "voucher_issued")

    today = datetime.now(UTC).date().isoformat()
    booked = post(
        traeger, "/referrals/E2E-1/events", {"event": "appointment_booked", "appointment_on": today}
    )
    assert booked["state"] == "appointment_booked"
    kept = post(traeger, "/referrals/E2E-1/events", {"event": "appointment_kept"})
    assert kept["state"] == "in_counselling"
    post(
        traeger,
        "/referrals/E2E-1/events",
        {
            "event": "final_report",
            "feedback": {
                "ended": True,
                "need_group": 2,
                "modules": [{"code": 1, "hours": 3}],
                "content": {"ergebnis": "Regulierung vereinbart"},
            },
        },
    )
    closed = ifk.get("/referrals/E2E-1").json()
    assert closed["state"] == "closed"

    assert closed["outcome"] == "completed"
    assert [v["status"] for v in closed["vouchers"]] == ["redeemed"]
    assert closed["feedback"][0]["content_withheld"] is True  # no consent on record
    declined = post(
        ifk,
        "/referrals",
        {
            "reference": "E2E-3",
            "customer_number": "K-E2E-3",
            "site": "Aachen",
            "age_group": "25-49",
            "service_type": "schulden",
            "provider_code": "SB",
            "caseworker_email": "ifk@jobcenter.example",
        },
    )
    assert declined["state"] == "voucher_issued"
    answer = post(traeger, "/referrals/E2E-3/events", {"event": "provider_declined"})
    assert answer["state"] == "rerouting"
    referral_id = answer["referral_id"]

    def follow_ups_sent() -> bool:  # by the flow run `folgen-ausfuehren`, within seconds
        with session(running.database_url) as s:
            rows = s.exec(select(Notification).where(Notification.referral_id == referral_id))
            statuses = [n.status for n in rows]
        return bool(statuses) and all(status == "sent" for status in statuses)

    wait_until(follow_ups_sent, 90, "E-Mail an die IFK nach der Ablehnung")
    actions = [entry["action"] for entry in closed["timeline"]]
    assert actions[:4] == ["started", "appointment_booked", "appointment_kept", "final_report"]


def test_an_event_accepted_while_prefect_is_down_is_applied_after_restart(
    stack: tuple[Stack, SmtpSink],
) -> None:
    running, sink = stack
    ifk = client(running, "ifk")
    post(
        ifk,
        "/referrals",
        {
            "reference": "E2E-2",
            "customer_number": "K-E2E-2",
            "site": "Aachen",
            "age_group": "25-49",
            "service_type": "schulden",
            "provider_code": "SB",
            "caseworker_email": "ifk@jobcenter.example",
        },
    )

    running.stop_prefect()
    mails_before = len(sink.wait_for(0))
    accepted = post(
        client(running, "traeger"), "/referrals/E2E-2/events", {"event": "provider_declined"}
    )
    assert (accepted["status"], accepted["state"]) == ("applied", "rerouting")
    with session(running.database_url) as s:
        command = s.get(Command, accepted["command_id"])
        assert command is not None and command.status == "applied"
        [mail] = s.exec(select(Notification).where(Notification.referral_id == command.referral_id))
        assert mail.status == "pending"  # the follow-up flow could not be started

    running.restart_prefect()
    subprocess.run(
        [running.bin("prefect"), "deployment", "run", "fristen-pruefen/fristen-pruefen"],
        env=running.env,
        check=True,
        capture_output=True,
    )

    def sent() -> bool:
        with session(running.database_url) as s:
            return s.exec(select(Notification.status).where(Notification.id == mail.id)).one() == (
                "sent"
            )

    wait_until(sent, 120, "E-Mail nach dem Neustart von Prefect")
    assert ifk.get("/referrals/E2E-2").json()["state"] == "rerouting"
    assert len(sink.wait_for(mails_before + 1, timeout=30)) == mails_before + 1
