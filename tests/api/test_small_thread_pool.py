"""Reads and writes at once on an API process with few handler threads (issue 9).

On PostgreSQL an API process runs its handlers on 4 threads (`Settings.effective_api_threads`).
FastAPI checks a synchronous route's answer in one more hop through that pool; a request
that still held the SQLite writers' lock there (`models.db`) waited for a thread while
every thread waited for that lock: "database is locked" after the 30 s busy timeout. The
case detail (`api.views.detail`) ended its transaction only when it had audited a read of
content, and the lists never did; now each ends its transaction before it returns.
Real uvicorn, real threads, two handler threads, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from api.trigger import InProcess
from models.clock import FakeClock
from models.settings import Settings
from tests.api.conftest import ApiClient, referral_body, served

ClientFor = Callable[[str], ApiClient]
CLIENTS = 12
ROUNDS = 6


@pytest.fixture
def two_thread_server(app: FastAPI, settings: Settings, clock: FakeClock) -> Iterator[str]:
    """The API (accounts of `app`) with 2 handler threads, served by uvicorn with its
    lifespan (which sets the pool) on a free loopback port."""
    small = create_app(
        settings.model_copy(update={"api_threads": 2}), clock=clock, trigger=InProcess()
    )
    with served(small, lifespan="on") as url:
        yield url


def test_reads_and_writes_at_once_all_answer_without_waiting_for_the_busy_timeout(
    two_thread_server: str, client_for: ClientFor
) -> None:
    token = client_for("ifk.aachen").headers["Authorization"]
    case = client_for("ifk.aachen").write("/api/v1/referrals", referral_body("AC-POOL-0"))
    assert case.status_code == 202, case.text
    answers: list[tuple[int, float]] = []

    def work(n: int) -> None:
        with httpx.Client(base_url=f"{two_thread_server}/api/v1", timeout=60) as c:
            for r in range(ROUNDS):
                started = time.monotonic()
                if n % 3 == 0:
                    body = referral_body(f"AC-POOL-{n}-{r}")
                    headers = {"Authorization": token, "Idempotency-Key": uuid.uuid4().hex}
                    answer = c.post("/referrals", json=body, headers=headers)
                else:
                    path = "/referrals/AC-POOL-0" if n % 3 == 1 else "/referrals?limit=5"
                    answer = c.get(path, headers={"Authorization": token})
                answers.append((answer.status_code, time.monotonic() - started))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert len(answers) == CLIENTS * ROUNDS
    assert {status for status, _ in answers} <= {200, 202}
    assert max(seconds for _, seconds in answers) < 15  # the busy timeout is 30 s
