"""API events under load: closed-loop clients, each working through its own cases.

A case is the Zuweisung of a caseworker and four events of its provider, the requests a
Fachverfahren and a Träger send in the first weeks (seed 002 §4.2): start (Gutschein),
``appointment_booked``, ``appointment_kept``, ``first_feedback`` (HBG, modules) and
``interim_report``. Every request carries a fresh Idempotency-Key and a bearer token and
is a state change on the one serialised path (`api.service.submit`). `clients` async
clients send one request after the other for `seconds`; throughput is answers per second
of wall time, latency the time to the full answer on the client.
"""

from __future__ import annotations

import asyncio
import itertools
import resource
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from benchmarks.common import PROVIDERS, median, percentile

FEEDBACK = {
    "appointment_kept": True,
    "counselling_ongoing": True,
    "need_group": 2,
    "modules": [{"code": 1, "hours": 2}],
}


@dataclass
class Level:
    """The answers of one run at `clients` concurrent clients."""

    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds
    errors: Counter[int] = field(default_factory=Counter)  # status code -> count
    client_cpu: float = 0.0  # CPU seconds the load generator itself used
    server_cpu: float = 0.0  # CPU seconds of the API processes
    database_cpu: float = 0.0  # CPU seconds of the PostgreSQL backends of the database

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def cpu_ms(self, seconds: float) -> float:
        """`seconds` of CPU per answer, in milliseconds."""
        return seconds / len(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p50_ms(self) -> float:
        return median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies, 95) * 1000


def case_requests(prefix: str, n: int, today: date) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(who, path, body) of case `n`: ``ifk`` starts it, ``traeger-P`` reports."""
    reference = f"{prefix}-{n:06d}"
    provider = n % PROVIDERS + 1
    yield (
        "ifk",
        "/referrals",
        {
            "reference": reference,
            "customer_number": f"K{prefix}{n:06d}",
            "site": "Aachen",
            "age_group": "25-49",
            "service_type": "schulden",
            "provider_code": f"SB-{provider:02d}",
            "caseworker_email": "ifk.aachen@jobcenter.example",
        },
    )
    me, events = f"traeger-{provider}", f"/referrals/{reference}/events"
    booked_for = (today + timedelta(days=3)).isoformat()
    yield me, events, {"event": "appointment_booked", "appointment_on": booked_for}
    yield me, events, {"event": "appointment_kept"}
    yield me, events, {"event": "first_feedback", "feedback": FEEDBACK}
    yield me, events, {"event": "interim_report", "feedback": FEEDBACK}


async def run_level(
    base: str, tokens: dict[str, str], clients: int, seconds: float, prefix: str
) -> Level:
    """`clients` clients send the case requests for `seconds`; returns their answers."""
    loop = asyncio.get_running_loop()
    stop = loop.time() + seconds
    numbers = itertools.count()
    today = date.today()
    level = Level(clients, 0.0)
    headers = {who: {"Authorization": f"Bearer {t}"} for who, t in tokens.items()}

    async def client() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=120, limits=limits) as c:
            while loop.time() < stop:
                for who, path, body in case_requests(prefix, next(numbers), today):
                    if loop.time() >= stop:
                        return
                    started = time.perf_counter()
                    answer = await c.post(
                        path,
                        json=body,
                        headers={**headers[who], "Idempotency-Key": uuid.uuid4().hex},
                    )
                    level.latencies.append(time.perf_counter() - started)
                    if answer.status_code != 202:
                        level.errors[answer.status_code] += 1

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    level.seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    level.client_cpu = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return level


def measure(base: str, tokens: dict[str, str], clients: int, seconds: float) -> Level:
    """One run (see `run_level`) with case references of its own."""
    prefix = f"B{uuid.uuid4().hex[:6].upper()}"
    return asyncio.run(run_level(base, tokens, clients, seconds, prefix))
