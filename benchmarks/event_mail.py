"""From an API event to its e-mail in a real SMTP server, through Prefect.

The stack of ``kel serve`` (`cli.serve.Stack`: a Prefect server, the deployments, one
process worker, the API) on a PostgreSQL database of its own, and an SMTP server
(aiosmtpd) that notes when each e-mail arrives. A provider declines a Gutschein; the API
commits the state change and its outbox row and starts ``folgen-ausfuehren``; the worker
runs it and the e-mail to the caseworker arrives. Measured on the client: from sending the
request to the arrival of the e-mail (found by its Message-ID, derived from the
notification key), one event after the other. Target: p95 < 5 s. Also the peak RSS of
the worker and of its flow-run processes.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from sqlmodel import select

from benchmarks.common import (
    JWT_SECRET,
    Figure,
    PeakWatcher,
    median,
    peak_rss_mib,
    percentile,
    postgres_database,
    seed_accounts,
    token,
    wait_for,
)
from cli.serve import Stack
from models.db import session
from models.tables import Notification
from notifications import SmtpSink, message_id, smtp_url

SENDER = "kel-flow@jobcenter.example"


class TimedSink(SmtpSink):
    """`SmtpSink` that notes the arrival time (``perf_counter``) of each Message-ID."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, float] = {}

    def __enter__(self) -> TimedSink:
        super().__enter__()
        return self

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        self.arrived[str(self.messages[-1]["Message-ID"])] = time.perf_counter()
        return answer


def run(out: Path, console: Console, events: int = 15) -> list[Figure]:
    section = "Ereignis bis E-Mail (Prefect, Worker, SMTP)"
    with postgres_database("kel_bench_mail") as url, TimedSink() as sink:
        seed_accounts(url)
        env = {
            "KEL_SMTP_URL": smtp_url(sink.host, sink.port, SENDER),
            "KEL_MAIL_FROM": SENDER,
            "KEL_JWT_SECRET": JWT_SECRET,
        }
        home = out / "tmp" / f"prefect-{uuid.uuid4().hex[:6]}"
        started = time.perf_counter()
        with Stack(url, home, extra_env=env, log_dir=out / "logs") as stack:
            console.print(
                f"  Prefect-Server, Worker und API bereit nach "
                f"{time.perf_counter() - started:.0f} s"
            )
            worker = stack.processes[1].pid
            watcher = PeakWatcher(worker)
            stop = threading.Event()
            sampler = threading.Thread(target=_sample, args=(watcher, stop), daemon=True)
            sampler.start()
            try:
                latencies = _events(stack, url, sink, events)
            finally:
                stop.set()
                sampler.join()
            worker_rss = peak_rss_mib(worker)
    console.print(
        f"  Ereignis bis E-Mail: p50 {median(latencies):.1f} s, "
        f"p95 {percentile(latencies, 95):.1f} s ({len(latencies)} Ereignisse)"
    )
    return [
        Figure(section, "p50", median(latencies), "s"),
        Figure(section, "p95", percentile(latencies, 95), "s", 5.0),
        Figure("Speicher", "Worker: Spitze RSS", worker_rss, "MiB"),
        Figure(
            "Speicher", "Flow-Lauf-Prozess des Workers: Spitze RSS", watcher.peak or None, "MiB"
        ),
    ]


def _sample(watcher: PeakWatcher, stop: threading.Event) -> None:
    while not stop.wait(0.1):
        watcher.sample()


def _events(stack: Stack, url: str, sink: TimedSink, events: int) -> list[float]:
    """`events` declines, one after the other: seconds from request to e-mail."""
    base = f"{stack.api_url}/api/v1"
    ifk = {"Authorization": f"Bearer {token(stack.api_url, 'ifk')}"}
    provider = {"Authorization": f"Bearer {token(stack.api_url, 'traeger-1')}"}
    latencies = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for n in range(events + 1):  # the first one warms up: not counted
            reference = f"MAIL-{n:04d}"
            answer = client.post(
                "/referrals",
                json={
                    "reference": reference,
                    "customer_number": f"KM{n:06d}",
                    "site": "Aachen",
                    "age_group": "25-49",
                    "service_type": "schulden",
                    "provider_code": "SB-01",
                    "caseworker_email": "ifk.aachen@jobcenter.example",
                },
                headers={**ifk, "Idempotency-Key": uuid.uuid4().hex},
            )
            answer.raise_for_status()
            sent = time.perf_counter()
            answer = client.post(
                f"/referrals/{reference}/events",
                json={"event": "provider_declined", "reason_code": "keine_kapazitaet"},
                headers={**provider, "Idempotency-Key": uuid.uuid4().hex},
            )
            answer.raise_for_status()
            wanted = _message_ids(url, int(answer.json()["referral_id"]))
            wait_for(lambda w=wanted: w <= sink.arrived.keys(), 180, f"E-Mail zu {reference}")
            if n:
                latencies.append(max(sink.arrived[m] for m in wanted) - sent)
    return latencies


def _message_ids(url: str, referral_id: int) -> set[str]:
    with session(url) as s:
        keys = s.exec(select(Notification.key).where(Notification.referral_id == referral_id))
        return {message_id(key, SENDER) for key in keys}
