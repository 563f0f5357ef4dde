"""A worker told to stop while it is still starting stops cleanly (issue 9, point 3).

Importing Prefect takes seconds; a SIGTERM in that time (``make down`` right after
``make up``, a supervisor restarting a part) used to kill the process with the signal's
default action, exit -15, instead of the clean stop of a running worker (exit 0). Each
entry point is started as the supervisor starts it and signalled at once; the Prefect
API it would connect to does not exist, so nothing but the early stop can end it with 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from cli.serve import PROJECT_DIR

pytestmark = pytest.mark.e2e

ENTRY_POINTS = {
    "worker": ["-m", "cli.worker", "--pool", "kel-prozesse", "--grace", "1"],
    "task-worker": ["-m", "cli.task_worker", "--grace", "1"],
}


@pytest.mark.parametrize("part", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_start_up_ends_the_part_with_exit_code_0(
    part: str, signum: signal.Signals
) -> None:
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # nobody listens
    process = subprocess.Popen(
        [sys.executable, *ENTRY_POINTS[part]],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    time.sleep(0.5)  # the interpreter runs and imports; Prefect is not loaded yet
    assert process.poll() is None
    process.send_signal(signum)
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, output.decode(errors="replace")[-2000:]
