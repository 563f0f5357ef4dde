"""Two API processes on one database: conflicting events on one case, sent to both at
once, end in one sequential outcome (SQLite and PostgreSQL). Real uvicorn processes on
loopback, real HTTP, real threads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.security import hash_password
from cli.serve import free_port, wait_until
from models.db import session
from models.tables import Provider, User

pytestmark = pytest.mark.e2e
PASSWORD = "Zwei-Prozesse-Passwort-2026"
SECRET = "9b1f0c7e2d4a6b8c1e3f5a7d9c0b2e4f6a8d1c3e5b7f9a0c2e4d6b8f1a3c5e7d"


@pytest.fixture
def apis(db_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two uvicorn processes of the API on `db_url`; their base URLs."""
    now = datetime.now(UTC)
    with session(db_url) as s:
        s.add(
            Provider(
                code="SB",
                name="Schuldnerberatung",
                email="sb@traeger.example",
                service_types=["schulden"],
            )
        )
    with session(db_url) as s:
        hashed = hash_password(PASSWORD)
        s.add(
            User(
                username="ifk",
                role="caseworker",
                site="Aachen",
                password_hash=hashed,
                created_at=now,
            )
        )
        s.add(
            User(
                username="traeger",
                role="provider",
                provider_id=1,
                password_hash=hashed,
                created_at=now,
            )
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEL_", "PREFECT_API_URL"))}
    env.update(KEL_DATABASE_URL=db_url, KEL_JWT_SECRET=SECRET, PREFECT_API_URL="")
    ports = [free_port(), free_port()]
    logs = [open(tmp_path / f"api-{port}.log", "wb") for port in ports]  # noqa: SIM115
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url in urls:
            wait_until(
                lambda u=url: httpx.get(f"{u}/api/v1/health").status_code in (200, 503),
                60,
                f"API {url}",
            )
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        for log in logs:
            log.close()


def client(base: str, username: str) -> httpx.Client:
    answer = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return httpx.Client(
        base_url=f"{base}/api/v1",
        timeout=60,
        headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
    )


def post(c: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return c.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})


def at_once(calls: list[Any]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def start(ifk: httpx.Client, reference: str) -> None:
    answer = post(
        ifk,
        "/referrals",
        {
            "reference": reference,
            "customer_number": f"K-{reference}",
            "site": "Aachen",
            "age_group": "25-49",
            "service_type": "schulden",
            "provider_code": "SB",
            "caseworker_email": "ifk@jobcenter.example",
        },
    )
    assert answer.status_code == 202, answer.text
    assert (answer.json()["status"], answer.json()["state"]) == ("applied", "voucher_issued")


def test_conflicting_events_through_two_api_processes_end_in_one_sequential_outcome(
    apis: list[str],
) -> None:
    ifk = client(apis[0], "ifk")
    providers = [client(url, "traeger") for url in apis]
    today = datetime.now(UTC).date().isoformat()
    booking = {"event": "appointment_booked", "appointment_on": today}

    start(ifk, "ZP-1")
    answers = at_once(
        [lambda c=providers[i % 2]: post(c, "/referrals/ZP-1/events", booking) for i in range(12)]
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] + [409] * 11, [a.text for a in answers if a.status_code >= 500]
    accepted = next(a for a in answers if a.status_code == 202)
    assert accepted.json()["state"] == "appointment_booked"

    for i in range(4):
        reference = f"ZP-K-{i}"
        start(ifk, reference)
        assert post(providers[0], f"/referrals/{reference}/events", booking).status_code == 202
        path = f"/referrals/{reference}/events"
        kept, declined = at_once(
            [
                lambda path=path: post(providers[0], path, {"event": "appointment_kept"}),
                lambda path=path: post(providers[1], path, {"event": "provider_declined"}),
            ]
        )
        assert sorted((kept.status_code, declined.status_code)) == [202, 409]
        winner = kept if kept.status_code == 202 else declined
        case = providers[0].get(f"/referrals/{reference}").json()
        assert case["state"] == winner.json()["state"]
        assert case["state"] in ("in_counselling", "rerouting")
        assert case["outcome"] is None
