"""The API under test: one app per test on its own SQLite file, a fake clock, six accounts.

Time is injected (`FakeClock`), flows run in process (`InProcess`); nothing sleeps.
Accounts are created directly in the database; clients log in through the API.

Two things keep the suite fast without changing what is tested: each test's database is
a copy of one migrated template (Alembic runs once), and `client_for` opens its sessions
directly (`api.security.start_session`: the same token and session row a login makes,
without Argon2, which is slow on purpose, and without a login's audit row, so what a test
finds in the audit trail does not depend on which tests ran before). Logging in itself is
tested in test_sessions_and_login.py.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import SQLModel, select

from api.main import create_app
from api.security import hash_password, start_session
from api.trigger import InProcess
from models.clock import FakeClock
from models.settings import Settings
from models.tables import Escalation, Provider, User
from tasks.sweep import fire_due_timers
from tests.factories import World, at

JWT_SECRET = "3f9c2a7d5e1b4c8a9d0e6f2b7a1c5d3e8f4a0b6c2d9e7f1a3b5c8d0e2f4a6b9c"
PASSWORD = "Gutschein-2026!"
STARTED = date(2026, 3, 2)  # a Monday; no holiday in NW in March 2026
ESCALATED = date(2026, 3, 25)  # first_appointment and first_feedback escalate on 24.3.


@dataclass(frozen=True)
class Account:
    role: str
    site: str | None = None
    provider_code: str | None = None


ACCOUNTS = {
    "ifk.aachen": Account("caseworker", site="Aachen"),
    "ifk.eschweiler": Account("caseworker", site="Eschweiler"),
    "traeger.caritas": Account("provider", provider_code="SB-CARITAS"),
    "traeger.diakonie": Account("provider", provider_code="SB-DIAKONIE"),
    "koordination": Account("coordinator"),
    "admin": Account("admin"),
}


@functools.cache
def password_hash() -> str:
    """One Argon2 hash for all accounts (hashing is slow on purpose)."""
    return hash_password(PASSWORD)


class ApiClient(TestClient):
    """A logged-in client; `write` adds a fresh ``Idempotency-Key`` unless one is given."""

    def write(
        self,
        url: str,
        json: Any = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return self.post(
            url, json=json, headers={"Idempotency-Key": key or str(uuid.uuid4()), **(headers or {})}
        )


def login(app: FastAPI, username: str, password: str = PASSWORD) -> httpx.Response:
    with TestClient(app) as anonymous:
        return anonymous.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )


def referral_body(reference: str, **overrides: Any) -> dict[str, Any]:
    """A Bedarfsfeststellung for Schuldnerberatung at SB-CARITAS, site Aachen."""
    body: dict[str, Any] = {
        "reference": reference,
        "customer_number": f"K-{reference}",
        "site": "Aachen",
        "age_group": "25-49",
        "service_type": "schulden",
        "provider_code": "SB-CARITAS",
        "caseworker_email": "ifk.aachen@jobcenter.example",
    }
    body.update(overrides)
    return body


def feedback_event(event: str = "first_feedback", **feedback: Any) -> dict[str, Any]:
    """A Rückmeldung with status fields and content (seed 002 §4.6.5)."""
    values: dict[str, Any] = {
        "appointment_kept": True,
        "counselling_ongoing": True,
        "need_group": 2,
        "modules": [{"code": 1, "hours": 1.5}],
        "content": {"ausgangssituation": "Zwölf Gläubiger", "ziele": "Schuldenbereinigungsplan"},
    }
    values.update(feedback)
    return {"event": event, "feedback": values}


@contextmanager
def served(app: FastAPI, *, lifespan: str = "off") -> Iterator[str]:
    """`app` served by uvicorn in a thread on a free loopback port; its base URL. With
    ``lifespan="on"`` the app's start-up runs (its thread pool, `api.main.create_app`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    config = uvicorn.Config(app, log_level="warning", lifespan=lifespan)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # waiting for a real server to listen, not for time to pass
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=40)
        sock.close()


def count(kel: World, model: type[SQLModel]) -> int:
    with kel.session() as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at(STARTED))


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, jwt_secret=JWT_SECRET)


@pytest.fixture
def app(kel: World, settings: Settings, clock: FakeClock) -> FastAPI:
    """The app on the `kel` world's database, with the six accounts of `ACCOUNTS`."""
    with kel.session() as s:
        providers = {p.code: p.id for p in s.exec(select(Provider))}
        for username, account in ACCOUNTS.items():
            s.add(
                User(
                    username=username,
                    role=account.role,
                    site=account.site,
                    provider_id=providers[account.provider_code] if account.provider_code else None,
                    email=f"{username}@jobcenter.example",
                    password_hash=password_hash(),
                    created_at=clock.now(),
                )
            )
    return create_app(settings, clock=clock, trigger=InProcess())


@pytest.fixture
def client_for(
    app: FastAPI, kel: World, settings: Settings, clock: FakeClock
) -> Iterator[Callable[[str], ApiClient]]:
    """`client_for(username)`: a client with the bearer token of a session opened at the
    clock's time."""
    clients: dict[tuple[str, datetime], ApiClient] = {}

    def make(username: str) -> ApiClient:
        issued = clock.now()
        if (username, issued) not in clients:
            with kel.session() as s:
                user = s.exec(select(User).where(User.username == username)).one()
                token = start_session(s, user, settings, issued)
            client = ApiClient(app)
            client.headers["Authorization"] = f"Bearer {token}"
            clients[username, issued] = client
        return clients[username, issued]

    yield make
    for client in clients.values():
        client.close()


@pytest.fixture
def create_referral(
    client_for: Callable[[str], ApiClient],
) -> Callable[..., httpx.Response]:
    """Create a referral through the API (default: Aachen caseworker, schulden, SB-CARITAS)."""

    def create(reference: str, *, as_user: str = "ifk.aachen", **overrides: Any) -> httpx.Response:
        return client_for(as_user).write("/api/v1/referrals", referral_body(reference, **overrides))

    return create


@pytest.fixture
def case(create_referral: Callable[..., httpx.Response]) -> str:
    """One referral AC-CAR-1: site Aachen, Schuldnerberatung at SB-CARITAS, started 2.3."""
    answer = create_referral("AC-CAR-1")
    assert answer.status_code == 202, answer.text
    return str(answer.json()["reference"])


@pytest.fixture
def cases(create_referral: Callable[..., httpx.Response]) -> dict[str, str]:
    """Three referrals: Aachen/SB-CARITAS, Aachen/SB-DIAKONIE, Eschweiler/SB-CARITAS."""
    made = {
        "aachen_caritas": create_referral("AC-CAR-1"),
        "aachen_diakonie": create_referral("AC-DIA-1", provider_code="SB-DIAKONIE"),
        "eschweiler_caritas": create_referral(
            "ES-CAR-1",
            as_user="ifk.eschweiler",
            site="Eschweiler",
            caseworker_email="ifk.eschweiler@jobcenter.example",
        ),
    }
    for answer in made.values():
        assert answer.status_code == 202, answer.text
    return {name: answer.json()["reference"] for name, answer in made.items()}


def sweep_to_escalation(kel: World, clock: FakeClock) -> int:
    """Move the clock to 25.3. and run the deadline sweep; returns the escalations made."""
    clock.set(at(ESCALATED))
    fire_due_timers(kel.session, kel.registry, kel.settings, clock.now())
    with kel.session() as s:
        return len(s.exec(select(Escalation)).all())


@pytest.fixture
def escalated_case(kel: World, clock: FakeClock, case: str) -> str:
    """`case` after the deadline sweep of 25.3.: two open escalations (first appointment,
    first feedback)."""
    assert sweep_to_escalation(kel, clock) == 2
    return case


@pytest.fixture
def escalated(kel: World, clock: FakeClock, cases: dict[str, str]) -> dict[str, str]:
    """`cases` after the deadline sweep of 25.3.: two open escalations each."""
    assert sweep_to_escalation(kel, clock) == 2 * len(cases)
    return cases
