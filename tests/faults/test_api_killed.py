"""The API process killed (SIGKILL) in the middle of a request (issue 9, point 5).

A real uvicorn process on PostgreSQL. Another transaction holds the lock of the case, so
the provider's request stops inside its own transaction (the Idempotency-Key claimed,
waiting for the referral's row lock: `api.service.submit`). The
server is killed there, started again, and the client retries with the same
Idempotency-Key: the event is applied exactly once (one command, one state change, one
audit entry), and a further retry replays the stored answer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from api.security import hash_password
from cli.serve import free_port, wait_until
from models.db import session
from models.tables import AuditEvent, Command, IdempotencyRecord, Provider, Referral, User
from tests.faults.support import PATIENCE, case_locked, lock_waiters, tables_written, wait

PASSWORD = "Abbruch-Test-Passwort-2026"
SECRET = "3c5e7a9b1d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c"


UVICORN = (
    sys.executable,
    "-m",
    "uvicorn",
    "api.main:create_app",
    "--factory",
    "--host",
    "127.0.0.1",
)


@dataclass
class Api:
    """One uvicorn process of the API on `url`; `start` again after `kill`."""

    url: str
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEL_")}
        env.update(KEL_DATABASE_URL=self.url, KEL_JWT_SECRET=SECRET, PREFECT_API_URL="")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*UVICORN, "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: httpx.get(f"{self.base}/api/v1/health").status_code in (200, 503),
            PATIENCE,
            "API",
        )

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def api(pg_url: str, tmp_path: Path) -> Iterator[Api]:
    now = datetime.now(UTC)
    with session(pg_url) as s:
        s.add(
            Provider(code="SB", name="SB", email="sb@traeger.example", service_types=["schulden"])
        )
    with session(pg_url) as s:
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
    server = Api(pg_url, tmp_path / "api.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def client(api: Api, username: str) -> httpx.Client:
    answer = httpx.post(
        f"{api.base}/api/v1/auth/token", data={"username": username, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    return httpx.Client(timeout=PATIENCE, headers={"Authorization": f"Bearer {token}"})


def post(c: httpx.Client, api: Api, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    return c.post(f"{api.base}/api/v1{path}", json=body, headers={"Idempotency-Key": key})


def test_a_request_cut_off_by_a_killed_api_is_applied_exactly_once_on_retry(
    api: Api, pg_url: str
) -> None:
    ifk, provider = client(api, "ifk"), client(api, "traeger")
    started = post(
        ifk,
        api,
        "/referrals",
        {
            "reference": "ABBRUCH-1",
            "customer_number": "K-ABBRUCH-1",
            "site": "Aachen",
            "age_group": "25-49",
            "service_type": "schulden",
            "provider_code": "SB",
            "caseworker_email": "ifk@jobcenter.example",
        },
        uuid.uuid4().hex,
    )
    assert started.status_code == 202, started.text
    booking = {
        "event": "appointment_booked",
        "appointment_on": datetime.now(UTC).date().isoformat(),
    }
    key = uuid.uuid4().hex
    failures: list[BaseException] = []

    def first_try() -> None:
        try:
            post(provider, api, "/referrals/ABBRUCH-1/events", booking, key)
        except httpx.HTTPError as exc:  # the server died: no answer
            failures.append(exc)

    with case_locked(pg_url, "ABBRUCH-1"):
        request = threading.Thread(target=first_try)
        request.start()
        wait(lambda: bool(lock_waiters(pg_url)), PATIENCE, "Anfrage wartet auf die Sperre")
        [waiting] = lock_waiters(pg_url)
        # inside its transaction: the key claimed, not committed
        assert "idempotencyrecord" in tables_written(pg_url, waiting)
        api.kill()
        request.join(timeout=PATIENCE)
    assert [type(f).__name__ for f in failures] in (["RemoteProtocolError"], ["ReadError"])
    assert kept(pg_url, key) == (0, 0, 0, "voucher_issued")  # nothing of it was committed

    api.start()
    retry = post(provider, api, "/referrals/ABBRUCH-1/events", booking, key)
    again = post(provider, api, "/referrals/ABBRUCH-1/events", booking, key)

    assert retry.status_code == 202, retry.text
    assert retry.json()["state"] == "appointment_booked"
    assert "Idempotent-Replayed" not in retry.headers  # applied now, for the first time
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (202, "true")
    assert again.json() == retry.json()
    assert kept(pg_url, key) == (1, 1, 1, "appointment_booked")


def kept(url: str, key: str) -> tuple[int, int, int, str]:
    """Idempotency records with `key`, booking commands, booking audit entries, the state."""
    with session(url) as s:
        referral = s.exec(select(Referral).where(Referral.reference == "ABBRUCH-1")).one()
        records = s.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == key)).all()
        commands = s.exec(
            select(Command).where(Command.reference == "ABBRUCH-1", Command.kind == "event")
        ).all()
        audits = s.exec(
            select(AuditEvent).where(
                AuditEvent.referral_id == referral.id,
                col(AuditEvent.action) == "appointment_booked",
            )
        ).all()
        return len(records), len(commands), len(audits), referral.state
