"""``python -m cli.api_server --workers 2`` keeps two API processes and stops cleanly.

The parent of `cli.api_server` replaces uvicorn's supervisor (each process has its own
``SO_REUSEPORT`` listener, `tests/integration/test_api_server.py`): a process killed with
SIGKILL is started again and the API keeps answering; SIGTERM to the parent stops every
process and the parent exits 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.serve import PROJECT_DIR, free_port, wait_until
from models.db import migrate

pytestmark = pytest.mark.e2e
SECRET = "7c3e9a1f5b2d8e4a6c0f9b3d7e1a5c8f2b6d0e4a9c3f7b1d5e8a2c6f0b4d9e3a"


def _api_processes(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [
        int(pid)
        for pid in children
        if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    ]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    url = f"sqlite:///{tmp_path / 'kel.db'}"
    migrate(url)
    port = free_port()
    env = {**os.environ, "KEL_DATABASE_URL": url, "KEL_JWT_SECRET": SECRET, "PREFECT_API_URL": ""}
    argv = [sys.executable, "-m", "cli.api_server", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(argv, cwd=PROJECT_DIR, env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: len(_api_processes(process.pid)) == 2, 120, "zwei API-Prozesse")
        wait_until(lambda: httpx.get(f"{base}/api/v1/health").status_code in (200, 503), 120, "API")
        yield process, base
    finally:
        process.kill()
        process.wait()


def test_a_killed_api_process_is_replaced_and_sigterm_stops_them_all(
    server: tuple[subprocess.Popen[bytes], str],
) -> None:
    parent, base = server
    first, second = _api_processes(parent.pid)

    os.kill(first, signal.SIGKILL)

    def replaced() -> bool:
        now = _api_processes(parent.pid)
        return len(now) == 2 and first not in now

    wait_until(replaced, 120, "neuer API-Prozess")
    assert second in _api_processes(parent.pid)
    wait_until(lambda: httpx.get(f"{base}/api/v1/health").status_code in (200, 503), 60, "API")
    workers = _api_processes(parent.pid)

    parent.send_signal(signal.SIGTERM)

    assert parent.wait(timeout=60) == 0
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_a_port_taken_by_another_program_ends_the_server_with_exit_code_1(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'kel.db'}"
    migrate(url)
    with socket.socket() as taken:  # bound without SO_REUSEPORT: no process can join it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "KEL_DATABASE_URL": url, "KEL_JWT_SECRET": SECRET}
        argv = [sys.executable, "-m", "cli.api_server", "--port", str(port), "--workers", "2"]
        process = subprocess.run(argv, cwd=PROJECT_DIR, env=env, capture_output=True, timeout=180)

    assert process.returncode == 1
    assert "API-Prozess startet nicht" in process.stderr.decode()
