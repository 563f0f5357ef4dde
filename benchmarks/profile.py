"""Profiles of the hot paths with pyinstrument: API events (in-process, FastAPI's
TestClient, the same requests as `benchmarks.api_load`) and the deadline sweep.

    .venv/bin/python -m benchmarks.profile api --db postgresql --cases 100
    .venv/bin/python -m benchmarks.profile sweep --cases 2000

Writes ``out/profile-<what>-<db>.html``, prints the call tree (time per frame) and the SQL
statements and CPU milliseconds per request or timer (`Statements`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from pyinstrument import Profiler
from sqlalchemy import event

from api.main import create_app
from api.trigger import InProcess
from benchmarks.api_load import case_requests
from benchmarks.common import (
    JWT_SECRET,
    PASSWORD,
    PROVIDERS,
    postgres_database,
    seed_accounts,
    sqlite_database,
)
from models.clock import start_of_day
from models.db import engine, session
from models.process import load_registry
from models.settings import Settings
from tasks.sweep import fire_due_timers

OUT = Path("out")


def database(kind: str) -> AbstractContextManager[str]:
    if kind == "postgresql":
        return postgres_database("kel_bench_profile")
    return sqlite_database(OUT / "tmp")


def run_inline() -> None:
    """Run FastAPI's sync endpoints and dependencies in the calling thread instead of its
    thread pool, so one profiler sees a request's whole work (profiling only)."""
    import fastapi.dependencies.utils as dependency_utils
    import fastapi.routing as routing

    async def inline(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    @asynccontextmanager
    async def inline_cm(cm: Any) -> AsyncIterator[Any]:
        with cm as value:
            yield value

    setattr(routing, "run_in_threadpool", inline)  # noqa: B010 (not exported)
    setattr(dependency_utils, "run_in_threadpool", inline)  # noqa: B010
    setattr(dependency_utils, "contextmanager_in_threadpool", inline_cm)  # noqa: B010


def profile_api(kind: str, cases: int, interval: float) -> Profiler:
    run_inline()
    with database(kind) as url:
        seed_accounts(url)
        settings = Settings(database_url=url, jwt_secret=JWT_SECRET)
        app = create_app(settings, trigger=InProcess())
        return asyncio.run(_profile_requests(app, cases, interval))


async def _profile_requests(app: Any, cases: int, interval: float) -> Profiler:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kel") as client:
        tokens = {}
        for who in ["ifk", *(f"traeger-{n}" for n in range(1, PROVIDERS + 1))]:
            answer = await client.post(
                "/api/v1/auth/token", data={"username": who, "password": PASSWORD}
            )
            tokens[who] = {"Authorization": f"Bearer {answer.json()['access_token']}"}

        async def send(prefix: str, n: int) -> None:
            for who, path, body in case_requests(prefix, n, date.today()):
                headers = {**tokens[who], "Idempotency-Key": uuid.uuid4().hex}
                answer = await client.post(f"/api/v1{path}", json=body, headers=headers)
                assert answer.status_code == 202, answer.text

        for n in range(20):  # warm-up
            await send("WARM", n)
        profiler = Profiler(interval=interval, async_mode="disabled")
        started, cpu = time.perf_counter(), time.process_time()
        with profiler, Statements(app.state.settings.database_url) as statements:
            for n in range(cases):
                await send("PROF", n)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        each = elapsed / cases / 5 * 1000
        print(f"{cases * 5} Anfragen in {elapsed:.2f} s: {each:.1f} ms je Anfrage")
        statements.report(cases * 5, "Anfrage", cpu)
    return profiler


def profile_sweep(kind: str, cases: int, interval: float) -> Profiler:
    from tests.factories import World, provider, start_referral

    with database(kind) as url:
        w = World(Settings(database_url=url), load_registry())
        w.add(provider("SB-CARITAS", ("schulden",)))
        started = date(2026, 3, 2)
        for n in range(cases):
            w.record("start_referral", f"S-{n}", started, start_referral(customer_number=f"K{n}"))
        w.apply(start_of_day(started))
        profiler = Profiler(interval=interval)
        cpu = time.process_time()
        with profiler, Statements(url) as statements:
            swept = fire_due_timers(
                partial(session, url),
                w.registry,
                w.settings,
                start_of_day(started + timedelta(days=11)) + timedelta(hours=10),
            )
        statements.report(swept.fired, "Timer", time.process_time() - cpu)
    return profiler


class Statements:
    """Counts the SQL statements sent on `url`'s engine inside the block, by their first
    words: with the CPU time of this process, the stable measure on a shared machine
    (wall time moves with the load, the count and the CPU per event hardly)."""

    def __init__(self, url: str) -> None:
        self.engine, self.counts = engine(url), Counter[str]()

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        self.counts["SAVEPOINT …" if "SAVEPOINT" in statement else " ".join(words[:3])] += 1

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def report(self, events: int, what: str, cpu: float) -> None:
        """Print statements and CPU milliseconds per `what` (of `events`)."""
        n = max(events, 1)
        total = sum(self.counts.values())
        print(f"{total / n:.1f} SQL-Anweisungen und {cpu / n * 1000:.1f} ms CPU je {what}:")
        for statement, count in self.counts.most_common(25):
            print(f"  {count / n:5.2f}  {statement}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["api", "sweep"])
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.0005)
    args = parser.parse_args()
    run = profile_api if args.what == "api" else profile_sweep
    profiler = run(args.db, args.cases, args.interval)
    OUT.mkdir(exist_ok=True)
    target = OUT / f"profile-{args.what}-{args.db}.html"
    target.write_text(profiler.output_html())
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    print(f"Profil: {target}")


if __name__ == "__main__":
    main()
