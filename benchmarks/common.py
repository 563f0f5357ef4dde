"""What the benchmarks share: a figure beside its target, throw-away databases, accounts,
servers on loopback, and the peak memory of processes (``/proc``, Linux)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from api.security import hash_password
from cli.serve import free_port, wait_until
from models.db import engine, migrate, session
from models.tables import Provider, User

PROJECT_DIR = Path(__file__).resolve().parent.parent
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
PASSWORD = "Benchmark-Passwort-2026!"
#: API signing key of the benchmark servers (a fresh random one per run).
JWT_SECRET = uuid.uuid4().hex + uuid.uuid4().hex
PROVIDERS = 20


@dataclass
class Figure:
    """One measured figure; `target` is the bound it must stay below (``max``) or reach
    (``min``), None for figures without a target."""

    section: str
    name: str
    value: float | None
    unit: str
    target: float | None = None
    bound: str = "max"  # "max": value <= target is good; "min": value >= target
    note: str = ""

    @property
    def ok(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value <= self.target if self.bound == "max" else self.value >= self.target

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def percentile(values: list[float], p: float) -> float:
    """The `p`-th percentile (0-100) of `values`, nearest rank on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def wide_console() -> Console:
    """The console of the benchmarks: at least 132 columns, so the table (and a log piped
    to a file) keeps one line per figure."""
    return Console(width=max(Console().width, 132))


# --- databases --------------------------------------------------------------------------


@contextmanager
def postgres_database(prefix: str, *, for_prefect: bool = False) -> Iterator[str]:
    """A new PostgreSQL database on the local server, dropped afterwards: migrated for
    kel-flow, or empty with an asyncpg URL for a Prefect server (`for_prefect`, as
    ``make up`` runs it: ``PREFECT_API_DATABASE_CONNECTION_URL``)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.format(name=name)
    try:
        if for_prefect:
            yield url.replace("+psycopg", "+asyncpg")
        else:
            migrate(url)
            yield url
    finally:
        engine(url).dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database(directory: Path) -> Iterator[str]:
    """A new, migrated SQLite file in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    # absolute: a relative SQLite path is resolved against KEL_DATA_DIR (`Settings`)
    path = directory.resolve() / f"kel-bench-{uuid.uuid4().hex[:8]}.db"
    url = f"sqlite:///{path}"
    migrate(url)
    try:
        yield url
    finally:
        engine(url).dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def seed_accounts(url: str) -> None:
    """`PROVIDERS` debt-counselling providers, a caseworker ``ifk`` (site Aachen) and a
    provider account ``traeger-N`` per provider, all with `PASSWORD`."""
    now = datetime.now(UTC)
    with session(url) as s:
        for n in range(1, PROVIDERS + 1):
            s.add(
                Provider(
                    code=f"SB-{n:02d}",
                    name=f"Schuldnerberatung {n}",
                    email=f"sb{n}@traeger.example",
                    service_types=["schulden"],
                )
            )
    hashed = hash_password(PASSWORD)
    with session(url) as s:
        s.add(
            User(
                username="ifk",
                role="caseworker",
                site="Aachen",
                password_hash=hashed,
                created_at=now,
            )
        )
        for n in range(1, PROVIDERS + 1):
            s.add(
                User(
                    username=f"traeger-{n}",
                    role="provider",
                    provider_id=n,
                    password_hash=hashed,
                    created_at=now,
                )
            )


# --- servers ----------------------------------------------------------------------------


@dataclass
class Server:
    """An API served by uvicorn with `processes` worker processes on loopback."""

    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def api_environment(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEL_")}
    env.update(
        KEL_DATABASE_URL=url,
        KEL_JWT_SECRET=JWT_SECRET,
        PREFECT_API_URL="",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        **extra,
    )
    return env


def start_api(url: str, processes: int, log: Path) -> Server:
    """``python -m cli.api_server --workers N`` as `make up` runs it (`cli.up.api`)."""
    port = free_port()
    argv = [sys.executable, "-m", "cli.api_server", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(processes)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, env=api_environment(url), cwd=PROJECT_DIR, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        wait_until(
            lambda: httpx.get(f"{server.url}/api/v1/health").status_code in (200, 503),
            180,
            "API",
        )
        if processes > 1:  # every worker process has imported the app
            wait_until(lambda: len(children(process.pid)) >= processes, 180, "API-Prozesse")
    except BaseException:
        server.stop()
        raise
    return server


def token(base: str, username: str) -> str:
    answer = httpx.post(
        f"{base}/api/v1/auth/token",
        data={"username": username, "password": PASSWORD},
        timeout=60,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


# --- memory -----------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The direct child processes of `pid`."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def peak_rss_mib(pid: int) -> float | None:
    """The peak resident set size of process `pid` so far (``VmHWM``), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system, seconds) each of the processes `pids` has used so far;
    processes that have ended are left out."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two `cpu_seconds` readings by the processes alive at the
    second (a process started in between counts in full; one that ended is lost)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def database_backends(url: str) -> list[int]:
    """Process ids of the PostgreSQL backends serving `url`'s database (none for SQLite)."""
    if not url.startswith("postgresql"):
        return []
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchall()
    return [int(r[0]) for r in rows]


class PeakWatcher:
    """Samples the peak RSS of the children of a process (e.g. flow-run processes of a
    worker, which end before anyone could read their ``VmHWM`` afterwards)."""

    def __init__(self, parent: int) -> None:
        self.parent, self.peak = parent, 0.0

    def sample(self) -> None:
        for child in children(self.parent):
            self.peak = max(self.peak, peak_rss_mib(child) or 0.0)


def wait_for(check: Any, timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: nach {timeout:.0f} s nicht erreicht")
        time.sleep(every)
