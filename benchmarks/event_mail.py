"""From an API event to its e-mail in a real SMTP server, through Prefect.

The stack of ``kel serve`` (`cli.serve.Stack`: a Prefect server, the deployments, a
process worker, the task worker of the follow-ups, the API) on a PostgreSQL database of
its own, the Prefect server on another (as ``make up``), and an SMTP server (aiosmtpd)
that notes when each e-mail arrives. A provider declines a Gutschein; the API commits
the state change and its outbox row and hands the command to the task worker
(`api.trigger.Background`: ``.delay()`` from a thread of the API); the task worker sends
the e-mail to the caseworker in its own process, no new Python process per event.

Measured on the client: from sending the request to the arrival of the e-mail (found by
its Message-ID, derived from the notification key).

- **one after the other**: `events` declines (after one not counted: warm-up);
- **burst**: `burst` referrals are started (not timed, their e-mails awaited), then
  `burst` declines are sent at once by `CLIENTS` concurrent clients; per event the time
  from its request to its e-mail, and the time from the first request to the last e-mail.

Target: p95 < 5 s (issue 9, point 7). Also the peak RSS of the process worker and of the
task worker. Alone: ``.venv/bin/python -m benchmarks.event_mail --events 15 --burst 200``.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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
    wide_console,
)
from cli import serve
from cli.serve import Stack
from models.db import session
from models.tables import Notification
from notifications import SmtpSink, message_id, smtp_url

SENDER = "kel-flow@jobcenter.example"
#: Concurrent clients of the burst.
CLIENTS = 16
SECTION = "Ereignis bis E-Mail (Prefect, Task-Worker, SMTP)"


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


class Api:
    """The API of the stack as the caseworker and the provider use it."""

    def __init__(self, stack: Stack, url: str, sink: TimedSink) -> None:
        self.url, self.sink = url, sink
        self.ifk = {"Authorization": f"Bearer {token(stack.api_url, 'ifk')}"}
        self.provider = {"Authorization": f"Bearer {token(stack.api_url, 'traeger-1')}"}
        self.client = httpx.Client(
            base_url=f"{stack.api_url}/api/v1",
            timeout=120,
            limits=httpx.Limits(max_connections=CLIENTS * 2),
        )

    def start(self, reference: str) -> None:
        self.client.post(
            "/referrals",
            json={
                "reference": reference,
                "customer_number": f"K{reference}",
                "site": "Aachen",
                "age_group": "25-49",
                "service_type": "schulden",
                "provider_code": "SB-01",
                "caseworker_email": "ifk.aachen@jobcenter.example",
            },
            headers={**self.ifk, "Idempotency-Key": uuid.uuid4().hex},
        ).raise_for_status()

    def decline(self, reference: str) -> tuple[float, int]:
        """Send the decline; returns when it was sent (``perf_counter``) and the referral id."""
        sent = time.perf_counter()
        answer = self.client.post(
            f"/referrals/{reference}/events",
            json={"event": "provider_declined", "reason_code": "keine_kapazitaet"},
            headers={**self.provider, "Idempotency-Key": uuid.uuid4().hex},
        )
        answer.raise_for_status()
        return sent, int(answer.json()["referral_id"])

    def mails_of(self, referral_id: int) -> set[str]:
        with session(self.url) as s:
            keys = s.exec(select(Notification.key).where(Notification.referral_id == referral_id))
            return {message_id(key, SENDER) for key in keys}

    def wait_mails(self, wanted: set[str], what: str, timeout: float = 300) -> float:
        """Wait until every Message-ID in `wanted` arrived; the last arrival."""
        wait_for(lambda: wanted <= self.sink.arrived.keys(), timeout, what)
        return max(self.sink.arrived[m] for m in wanted)


@contextmanager
def patient_start(factor: float = 5.0) -> Iterator[None]:
    """Give the stack's start-up checks (`cli.serve.wait_until`) `factor` times their
    timeout: on a loaded shared machine the API may need more than its 60 s to start."""
    original = serve.wait_until

    def patient(check: Callable[[], bool], timeout: float, what: str) -> None:
        original(check, timeout * factor, what)

    serve.wait_until = patient
    try:
        yield
    finally:
        serve.wait_until = original


def run(out: Path, console: Console, events: int = 15, burst: int = 200) -> list[Figure]:
    with (
        postgres_database("kel_bench_mail") as url,
        postgres_database("kel_bench_prefect", for_prefect=True) as prefect_url,
        TimedSink() as sink,
        patient_start(),
    ):
        seed_accounts(url)
        env = {
            "PREFECT_API_DATABASE_CONNECTION_URL": prefect_url,  # as `make up`
            "KEL_SMTP_URL": smtp_url(sink.host, sink.port, SENDER),
            "KEL_MAIL_FROM": SENDER,
            "KEL_JWT_SECRET": JWT_SECRET,
        }
        home = out / "tmp" / f"prefect-{uuid.uuid4().hex[:6]}"
        (out / "logs").mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with Stack(url, home, extra_env=env, log_dir=out / "logs") as stack:
            console.print(
                f"  Prefect-Server, Worker und API bereit nach "
                f"{time.perf_counter() - started:.0f} s"
            )
            pids = {_role(p.args): p.pid for p in stack.processes}
            watchers = {r: PeakWatcher(pid) for r, pid in pids.items() if r == "Worker"}
            stop = threading.Event()
            sampler = threading.Thread(target=_sample, args=(watchers, stop), daemon=True)
            sampler.start()
            api = Api(stack, url, sink)
            try:
                latencies = _one_after_the_other(api, events)
                console.print(
                    f"  Ereignis bis E-Mail: p50 {median(latencies):.2f} s, p95 "
                    f"{percentile(latencies, 95):.2f} s ({len(latencies)} Ereignisse nacheinander)"
                )
                burst_latencies, burst_total = _burst(api, burst, console) if burst else ([], 0.0)
            finally:
                stop.set()
                sampler.join()
                api.client.close()
            rss = {role: peak_rss_mib(pid) for role, pid in pids.items()}
    figures = [
        Figure(SECTION, "p50 (nacheinander)", median(latencies), "s"),
        Figure(SECTION, "p95 (nacheinander)", percentile(latencies, 95), "s", 5.0),
    ]
    if burst_latencies:
        console.print(
            f"  Stoß von {burst}: p50 {median(burst_latencies):.2f} s, "
            f"p95 {percentile(burst_latencies, 95):.2f} s, letzte E-Mail nach {burst_total:.1f} s"
        )
        figures += [
            Figure(SECTION, f"p50 (Stoß {burst}, {CLIENTS} Clients)", median(burst_latencies), "s"),
            Figure(
                SECTION,
                f"p95 (Stoß {burst}, {CLIENTS} Clients)",
                percentile(burst_latencies, 95),
                "s",
                5.0,
            ),
            Figure(SECTION, f"Stoß {burst}: bis zur letzten E-Mail", burst_total, "s"),
        ]
    figures += [
        Figure("Speicher", f"{role}: Spitze RSS", rss.get(role), "MiB")
        for role in ("Worker", "Task-Worker")
        if role in rss
    ]
    if "Worker" in watchers and watchers["Worker"].peak:
        figures.append(
            Figure(
                "Speicher",
                "Flow-Lauf-Prozess des Workers: Spitze RSS",
                watchers["Worker"].peak,
                "MiB",
            )
        )
    return figures


def _role(argv: Any) -> str:
    text = " ".join(str(a) for a in argv)
    if "cli.task_worker" in text:
        return "Task-Worker"
    if "cli.worker" in text:
        return "Worker"
    if "uvicorn" in text:
        return "API"
    return "Prefect-Server"


def _sample(watchers: dict[str, PeakWatcher], stop: threading.Event) -> None:
    while not stop.wait(0.1):
        for watcher in watchers.values():
            watcher.sample()


def _one_after_the_other(api: Api, events: int) -> list[float]:
    """`events` declines, one after the other: seconds from request to e-mail."""
    latencies = []
    for n in range(events + 1):  # the first one warms up: not counted
        reference = f"MAIL-{n:04d}"
        api.start(reference)
        sent, referral_id = api.decline(reference)
        last = api.wait_mails(api.mails_of(referral_id), f"E-Mail zu {reference}")
        if n:
            latencies.append(last - sent)
    return latencies


def _burst(api: Api, size: int, console: Console) -> tuple[list[float], float]:
    """`size` referrals started, their e-mails awaited; then `size` declines at once from
    `CLIENTS` clients. Per event seconds from its request to its last e-mail; and seconds
    from the first request to the last e-mail."""
    references = [f"STOSS-{n:04d}" for n in range(size)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(api.start, references))
    with session(api.url) as s:
        ids = list(s.exec(select(Notification.referral_id)))
    api.wait_mails(set().union(*(api.mails_of(i) for i in set(ids))), "E-Mails der Zuweisungen")
    first = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        declined = list(pool.map(api.decline, references))
    posted = time.perf_counter() - first
    console.print(f"  Stoß: {size} Ereignisse in {posted:.1f} s ({size / posted:.0f}/s) angenommen")
    wanted = {referral_id: api.mails_of(referral_id) for _, referral_id in declined}
    last = api.wait_mails(set().union(*wanted.values()), f"E-Mails des Stoßes ({size})", 600)
    latencies = [
        max(api.sink.arrived[m] for m in wanted[referral_id]) - sent
        for sent, referral_id in declined
    ]
    return latencies, last - first


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.event_mail")
    parser.add_argument("--events", type=int, default=15)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args(argv)
    (args.out / "tmp").mkdir(parents=True, exist_ok=True)
    console = wide_console()
    for figure in run(args.out, console, args.events, args.burst):
        value = "–" if figure.value is None else f"{figure.value:.2f} {figure.unit}"
        console.print(f"{figure.section} · {figure.name}: {value}")


if __name__ == "__main__":
    main()
