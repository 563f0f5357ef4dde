"""The follow-ups of a state change run on the long-running task worker (issue 9, point 3):
an API event's e-mail reaches a real SMTP server through a real Prefect server and
``kel task-worker``, without a flow run of a deployment (no new Python process per
change); with the Prefect server down the API answers at once and the outbox keeps the
e-mail for the sweep."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from api.security import hash_password
from cli import serve
from cli.serve import Stack, wait_until
from models.db import migrate, session
from models.tables import Notification, Provider, User
from models.urls import case_artifact_key, case_tag
from notifications import SmtpSink, message_id, smtp_url

pytestmark = pytest.mark.e2e
PASSWORD = "e2e-geheim-passwort"
SENDER = "kel@jobcenter.example"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, SmtpSink]]:
    original = serve.wait_until

    def patient(check: Callable[[], bool], timeout: float, what: str) -> None:
        original(check, timeout * 4, what)  # the machine is shared: starts may take minutes

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serve, "wait_until", patient)
        with running_stack(tmp_path_factory.mktemp("task-worker")) as running:
            yield running


@contextmanager
def running_stack(root: Path) -> Iterator[tuple[Stack, SmtpSink]]:
    """`kel serve`'s stack (with the task worker) on a new SQLite database in `root`, two
    accounts and an SMTP sink."""
    url = f"sqlite:///{root / 'kel.db'}"
    migrate(url)
    now = datetime.now(UTC)
    with session(url) as s:
        s.add(
            Provider(code="SB", name="SB", email="sb@traeger.example", service_types=["schulden"])
        )
    with session(url) as s:
        for name, role, extra in (
            ("ifk", "caseworker", {"site": "Aachen"}),
            ("traeger", "provider", {"provider_id": 1}),
        ):
            s.add(
                User(
                    username=name,
                    role=role,
                    password_hash=hash_password(PASSWORD),
                    created_at=now,
                    **extra,
                )
            )
    with SmtpSink(root / "mail") as sink:
        env = {
            "KEL_SMTP_URL": smtp_url(sink.host, sink.port, SENDER),
            "KEL_MAIL_FROM": SENDER,
            "KEL_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        }
        with Stack(
            url,
            root / "prefect",  # free ports: another worker may run a stack beside it
            extra_env=env,
            log_dir=root,
        ) as running:
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


def start_referral(stack: Stack, reference: str) -> None:
    post(
        client(stack, "ifk"),
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


def mails_of(stack: Stack, referral_id: int) -> list[Notification]:
    with session(stack.database_url) as s:
        return list(s.exec(select(Notification).where(Notification.referral_id == referral_id)))


def prefect(stack: Stack, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = httpx.post(f"{stack.prefect_api}{path}", json=body, timeout=30)
    response.raise_for_status()
    return list(response.json())


def test_an_events_email_is_sent_by_the_task_worker_without_a_deployment_run(
    stack: tuple[Stack, SmtpSink],
) -> None:
    running, sink = stack
    start_referral(running, "TW-1")
    declined = post(
        client(running, "traeger"), "/referrals/TW-1/events", {"event": "provider_declined"}
    )
    assert declined["state"] == "rerouting"
    wanted = {message_id(n.key, SENDER) for n in mails_of(running, declined["referral_id"])}

    def arrived() -> bool:
        return wanted <= {str(m["Message-ID"]) for m in sink.messages}

    wait_until(arrived, 120, "E-Mail der Ablehnung")  # seconds when idle; the machine is shared
    assert {n.status for n in mails_of(running, declined["referral_id"])} == {"sent"}
    received = [m for m in sink.messages if str(m["Message-ID"]) in wanted]
    assert len(received) == len(wanted)  # each once

    tag = case_tag("TW-1")
    step = "TW-1 · Träger hat abgelehnt oder keine Kapazität – Neuzuweisung erforderlich"
    tasks: list[dict[str, Any]] = []

    def completed() -> bool:  # the e-mail is sent first, then the case's card
        tasks[:] = prefect(running, "/task_runs/filter", {"task_runs": {"tags": {"all_": [tag]}}})
        return step in {t["name"] for t in tasks if t["state_name"] == "Completed"}

    wait_until(completed, 60, "Task-Lauf der Folgen")
    assert all(t["flow_run_id"] is None for t in tasks if t["name"] == step)  # background
    # run in the task worker's own process: no flow run, so no deployment, no new process
    flows = prefect(running, "/flow_runs/filter", {"flow_runs": {"tags": {"all_": [tag]}}})
    assert flows == []
    card = {"artifacts": {"key": {"any_": [case_artifact_key("TW-1")]}}}
    [latest] = prefect(running, "/artifacts/latest/filter", card)  # the case's card
    assert latest["description"].startswith("Fall TW-1")
    shown = " ".join(f"{r['name']} {r['tags']}" for r in tasks + flows)
    assert "@" not in shown and "K-TW-1" not in shown  # nothing identifying a person


def test_with_prefect_down_the_api_answers_at_once_and_the_outbox_keeps_the_email(
    stack: tuple[Stack, SmtpSink],
) -> None:
    running, sink = stack
    start_referral(running, "TW-2")
    traeger = client(running, "traeger")
    running.stop_prefect()
    try:
        began = time.monotonic()
        declined = post(traeger, "/referrals/TW-2/events", {"event": "provider_declined"})
        took = time.monotonic() - began
        assert declined["state"] == "rerouting"
        assert took < 2.0  # a loose guard: the request only queues the command
        assert "pending" in {n.status for n in mails_of(running, declined["referral_id"])}
    finally:
        running.restart_prefect()
    before = len(sink.messages)

    start_referral(running, "TW-3")  # Prefect is back: the next event's e-mail goes out
    after = post(traeger, "/referrals/TW-3/events", {"event": "provider_declined"})
    wait_until(
        lambda: {n.status for n in mails_of(running, after["referral_id"])} == {"sent"},
        60,
        "E-Mail nach dem Neustart",
    )
    assert len(sink.messages) > before
