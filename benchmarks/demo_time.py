"""``kel demo --scale 1.0``: a simulated Düsseldorf year (about 1,325 referrals) through
the real flows, timed from the outside as a user runs it. Target: < 3 minutes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from rich.console import Console

from benchmarks.common import PROJECT_DIR, Figure

#: ``kel``, importing the code of the project directory it runs in (`PROJECT_DIR`)
KEL = (sys.executable, "-c", "from cli.main import app; app()")


def run(out: Path, console: Console, scale: float = 1.0) -> list[Figure]:
    target = out / "tmp" / f"demo-{uuid.uuid4().hex[:6]}"
    log = out / "logs" / "demo.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEL_", "PREFECT_API_URL"))}
    env.update(
        PREFECT_HOME=str(out / "tmp" / "prefect-demo"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    started = time.perf_counter()
    with log.open("wb") as output:
        done = subprocess.run(
            # `kel demo`, from the code of this project directory
            [*KEL, "demo", "--scale", str(scale), "--out", str(target)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    took = time.perf_counter() - started
    note = "" if done.returncode == 0 else f"Abbruch (Code {done.returncode}, {log})"
    console.print(f"  kel demo --scale {scale:g}: {took:.0f} s {note}")
    return [Figure("Demo", f"kel demo --scale {scale:g} (Wandzeit)", took, "s", 180.0, note=note)]
