"""The supervisor of ``kel up`` with plain processes: a service that dies is started again
on its own, the others go on; `stop` ends exactly what the PID files name and never a
process the PID has been given to since."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.supervise import (
    Job,
    RunDir,
    Service,
    Step,
    Supervisor,
    is_same_process,
    service_status,
    start_ticks,
    stop,
    wait_gone,
)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
#: a parent that leaves a child in its process group (as ``prefect server start`` leaves
#: uvicorn): the child must not survive the parent's death
PARENT_WITH_CHILD = [
    sys.executable,
    "-c",
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)",
]


def pid_of(run_dir: RunDir, name: str) -> int:
    return int((run_dir.pids / f"{name}.pid").read_text())


def wait_for(check: object, timeout: float = 15.0) -> None:
    assert callable(check)
    assert wait_gone(lambda: not check(), timeout), "Bedingung nicht erreicht"


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Supervisor, threading.Thread]]:
    """A supervisor of two services, watched in a thread (signals: main thread only)."""
    run_dir = RunDir(tmp_path / "run")
    supervisor = Supervisor(run_dir)
    jobs_done: list[str] = []
    steps: list[Step] = [
        Job("vorbereiten", lambda: jobs_done.append("vorbereiten")),
        Service("eins", PARENT_WITH_CHILD, dict(os.environ), tmp_path),
        Service("zwei", SLEEPER, dict(os.environ), tmp_path, port=4711),
    ]
    run_dir.create()
    supervisor.run_plan(steps)
    assert jobs_done == ["vorbereiten"]
    thread = threading.Thread(target=supervisor.watch, kwargs={"interval": 0.1})
    thread.start()
    try:
        yield supervisor, thread
    finally:
        supervisor.stopping = True
        thread.join(10)
        supervisor.stop_all()


def test_a_killed_service_is_restarted_alone_with_its_group_cleared(
    supervised: tuple[Supervisor, threading.Thread],
) -> None:
    supervisor, _ = supervised
    run_dir = supervisor.run_dir
    first, other = pid_of(run_dir, "eins"), pid_of(run_dir, "zwei")
    wait_for(lambda: len(_group(first)) == 2)
    child = next(p for p in _group(first) if p != first)

    os.kill(first, signal.SIGKILL)

    wait_for(lambda: pid_of(run_dir, "eins") != first)
    assert wait_gone(lambda: is_same_process(child, None), 5), "Kind der Gruppe lebt noch"
    assert pid_of(run_dir, "zwei") == other and is_same_process(other, None)
    status = {s.name: s for s in service_status(run_dir)}
    assert status["eins"].restarts == 1 and status["eins"].alive
    assert status["zwei"].restarts == 0 and status["zwei"].port == 4711


def test_stop_ends_what_the_pid_files_name_and_removes_them(tmp_path: Path) -> None:
    """`kel down` after the supervisor itself was killed: the left-over services are
    stopped by their PID files."""
    run_dir = RunDir(tmp_path / "run")
    supervisor = Supervisor(run_dir)
    run_dir.create()
    supervisor.run_plan([Service("eins", SLEEPER, dict(os.environ), tmp_path, stop_timeout=5)])
    pid = pid_of(run_dir, "eins")
    process = supervisor.running["eins"].process
    assert process is not None

    reaper = threading.Thread(target=process.wait)  # the test is the parent: reap it
    reaper.start()
    result = stop(run_dir, timeout=5)
    reaper.join(10)

    assert result.results == {"eins": "gestoppt"}
    assert not is_same_process(pid, None)
    assert list(run_dir.pid_files()) == []


def test_stop_leaves_a_process_alone_whose_pid_was_reused(tmp_path: Path) -> None:
    """A PID file naming a PID that now belongs to another process (other start time)."""
    run_dir = RunDir(tmp_path / "run")
    run_dir.create()
    stranger = subprocess.Popen(SLEEPER, start_new_session=True)
    try:
        run_dir.write_pid(run_dir.pids / "eins.pid", stranger.pid)
        ticks = start_ticks(stranger.pid)
        assert ticks is not None
        run_dir.write_state({"services": {"eins": {"pid": stranger.pid, "start": ticks - 1}}})

        result = stop(run_dir, timeout=2)

        assert result.results == {"eins": "nicht gelaufen"}
        assert stranger.poll() is None
        assert list(run_dir.pid_files()) == []
    finally:
        stranger.kill()
        stranger.wait()


def _group(pgid: int) -> list[int]:
    """PIDs of the processes in group `pgid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry.name))
    return found
