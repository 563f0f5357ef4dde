"""``make bench``: the figures of issue 9, point 7, beside their targets.

    .venv/bin/python -m benchmarks [--only api,sweep,mail,demo] [--seconds 20]

Prints a table (measured, target, ✓/✗) and writes ``out/bench.json`` with the figures,
the machine (cores, CPU model, memory) and the load average before and after: on a
shared machine the figures move with what else runs. Needs the local PostgreSQL
(127.0.0.1:5432, user postgres); every database it creates is dropped afterwards.
Takes about 15 minutes (the demo alone several).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from rich.console import Console
from rich.table import Table

from benchmarks.common import Figure, wide_console

PARTS = ("api", "sweep", "mail", "demo")


def machine() -> dict[str, object]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        (
            int(line.split()[1]) // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        None,
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_mib": memory,
        "python": platform.python_version(),
    }


def table(figures: list[Figure]) -> Table:
    out = Table(title="kel-flow: Messwerte und Ziele (issue 9, Punkt 7)")
    for name, justify in (
        ("Bereich", "left"),
        ("Messgröße", "left"),
        ("Gemessen", "right"),
        ("Ziel", "right"),
        ("", "center"),
        ("Hinweis", "left"),
    ):
        out.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in figures:
        value = "–" if f.value is None else f"{f.value:,.1f} {f.unit}"
        target = (
            "" if f.target is None else f"{'≥' if f.bound == 'min' else '<'} {f.target:g} {f.unit}"
        )
        mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: ""}[f.ok]
        out.add_row(f.section, f.name, value, target, mark, f.note)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--only", default=",".join(PARTS), help="Teile: api,sweep,mail,demo")
    parser.add_argument("--seconds", type=float, default=20.0, help="Dauer je Laststufe (20)")
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=15, help="Ereignisse bis E-Mail (15)")
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args()
    console = wide_console()
    wanted = [p.strip() for p in args.only.split(",") if p.strip()]
    out: Path = args.out
    (out / "tmp").mkdir(parents=True, exist_ok=True)
    info = machine()
    console.print(
        f"Maschine: {info['nproc']} Kerne, {info['cpu']}, {info['memory_mib']} MiB; "
        f"Last {os.getloadavg()[0]:.1f}"
    )
    load_before = os.getloadavg()
    figures: list[Figure] = []
    parts: dict[str, Callable[[], list[Figure]]] = {
        "api": lambda: _api(out, console, args.seconds),
        "sweep": lambda: _sweep(console, args.referrals, args.due),
        "mail": lambda: _mail(out, console, args.events),
        "demo": lambda: _demo(out, console),
    }
    started = time.perf_counter()
    for part in wanted:
        console.rule(part)
        try:
            figures += parts[part]()
        except Exception as exc:  # one broken part must not hide the others' figures
            traceback.print_exc()
            figures.append(Figure(part, "Abbruch", None, "", note=f"{type(exc).__name__}: {exc}"))
    shutil.rmtree(out / "tmp", ignore_errors=True)
    console.print(table(figures))
    report = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "seconds": round(time.perf_counter() - started, 1),
        "figures": [f.as_json() for f in figures],
    }
    (out / "bench.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    console.print(f"Geschrieben: {out / 'bench.json'}")


def _api(out: Path, console: Console, seconds: float) -> list[Figure]:
    from benchmarks import api_bench

    return api_bench.run(out, console, seconds)


def _sweep(console: Console, referrals: int, due: int) -> list[Figure]:
    from benchmarks import sweep_scale

    return sweep_scale.run(console, referrals, due)


def _mail(out: Path, console: Console, events: int) -> list[Figure]:
    from benchmarks import event_mail

    return event_mail.run(out, console, events)


def _demo(out: Path, console: Console) -> list[Figure]:
    from benchmarks import demo_time

    return demo_time.run(out, console)


if __name__ == "__main__":
    main()
