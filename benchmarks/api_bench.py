"""API events at 1, 16 and 50 clients: PostgreSQL with two API processes, SQLite with one.

Each database is new and empty but for the accounts (`benchmarks.common.seed_accounts`);
the server runs as `make up` runs it (uvicorn, no access log). A short warm-up at 16
clients comes first. Targets (issue 9, point 7) at 16 clients: PostgreSQL >= 200/s with
p95 < 50 ms, SQLite >= 150/s with p95 < 80 ms.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from rich.console import Console

from benchmarks.api_load import Level, measure
from benchmarks.common import (
    PROVIDERS,
    Figure,
    children,
    cpu_seconds,
    cpu_used,
    database_backends,
    peak_rss_mib,
    postgres_database,
    seed_accounts,
    sqlite_database,
    start_api,
    token,
)

LEVELS = (1, 16, 50)
TARGETS = {"postgresql": (200.0, 50.0), "sqlite": (150.0, 80.0)}


def run(out: Path, console: Console, seconds: float = 20.0) -> list[Figure]:
    """Both databases; returns the figures (throughput, p50, p95 per level, peak RSS)."""
    figures: list[Figure] = []
    setups: list[tuple[str, int, Callable[[], AbstractContextManager[str]]]] = [
        ("postgresql", 2, lambda: postgres_database("kel_bench_api")),
        ("sqlite", 1, lambda: sqlite_database(out / "tmp")),
    ]
    for name, processes, database in setups:
        with database() as url:
            figures += run_database(name, processes, url, out, console, seconds)
    return figures


def run_database(
    name: str, processes: int, url: str, out: Path, console: Console, seconds: float
) -> list[Figure]:
    seed_accounts(url)
    server = start_api(url, processes, out / "logs" / f"api-{name}.log")
    try:
        tokens = {"ifk": token(server.url, "ifk")}
        tokens |= {
            f"traeger-{n}": token(server.url, f"traeger-{n}") for n in range(1, PROVIDERS + 1)
        }
        measure(server.url, tokens, 16, 3.0)  # warm-up: imports, caches, pools
        levels = []
        api_pids = [server.process.pid, *children(server.process.pid)]
        for clients in LEVELS:
            backends = database_backends(url)
            before = cpu_seconds(api_pids), cpu_seconds(backends)
            level = measure(server.url, tokens, clients, seconds)
            backends += [pid for pid in database_backends(url) if pid not in backends]
            level.server_cpu = cpu_used(before[0], cpu_seconds(api_pids))
            level.database_cpu = cpu_used(before[1], cpu_seconds(backends))
            console.print(_line(name, processes, level))
            levels.append(level)
        rss = max(
            peak_rss_mib(pid) or 0.0 for pid in [server.process.pid, *children(server.process.pid)]
        )
    finally:
        server.stop()
    return _figures(name, processes, levels, rss)


def _line(name: str, processes: int, level: Level) -> str:
    errors = f", Fehler {dict(level.errors)}" if level.errors else ""
    return (
        f"  API {name} ({processes} Prozess(e)), {level.clients:>2} Clients: "
        f"{level.throughput:6.1f}/s, p50 {level.p50_ms:6.1f} ms, p95 {level.p95_ms:6.1f} ms, "
        f"{len(level.latencies)} Anfragen; CPU je Anfrage: API {level.cpu_ms(level.server_cpu):.1f}"
        f" ms, PostgreSQL {level.cpu_ms(level.database_cpu):.1f} ms, "
        f"Lastgenerator {level.cpu_ms(level.client_cpu):.1f} ms{errors}"
    )


def _figures(name: str, processes: int, levels: list[Level], rss: float) -> list[Figure]:
    rate, p95 = TARGETS[name]
    section = f"API-Ereignisse {name} ({processes} Prozess{'e' if processes > 1 else ''})"
    figures = []
    for level in levels:
        at16 = level.clients == 16
        note = f"{sum(level.errors.values())} Fehler" if level.errors else ""
        figures += [
            Figure(
                section,
                f"{level.clients} Clients: Durchsatz",
                level.throughput,
                "/s",
                rate if at16 else None,
                "min",
                note,
            ),
            Figure(section, f"{level.clients} Clients: p50", level.p50_ms, "ms"),
            Figure(
                section, f"{level.clients} Clients: p95", level.p95_ms, "ms", p95 if at16 else None
            ),
        ]
        if at16:
            figures.append(
                Figure(
                    section,
                    "16 Clients: CPU je Anfrage (API + Datenbank)",
                    level.cpu_ms(level.server_cpu + level.database_cpu),
                    "ms",
                    note=f"Lastgenerator {level.cpu_ms(level.client_cpu):.1f} ms",
                )
            )
    figures.append(Figure("Speicher", f"API {name}: Spitze RSS je Prozess", rss, "MiB"))
    return figures
