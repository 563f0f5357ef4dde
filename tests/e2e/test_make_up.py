"""``kel up`` / ``kel status`` / ``kel down`` (``make up`` …) as an operator runs them:
fresh PostgreSQL databases, free ports, a temporary data directory; real processes.

Checked: every part runs and answers, the deployments run the fixed release, two workers
poll the pool, a sweep's task logs reach Prefect at INFO; the Prefect server killed with
SIGKILL is restarted alone while the API goes on answering; a worker stops on SIGTERM
within seconds; a flow run that died with its worker is Crashed within a minute and its
concurrency slot is free again; ``down`` leaves no process and no PID file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.serve import free_port
from cli.supervise import RunDir, is_same_process, wait_gone
from tests.conftest import PG_ADMIN, PG_HOST, PG_PORT, require_postgres

pytestmark = pytest.mark.e2e
SERVICES = ("prefect-server", "worker-1", "worker-2", "task-worker", "api")
DEPLOYMENTS = {"fristen-pruefen", "daten-anonymisieren"}  # follow-ups: the task worker


@dataclass
class Up:
    """A running ``kel up`` of this module."""

    root: Path
    env: dict[str, str]
    api_port: int
    prefect_port: int

    @property
    def run_dir(self) -> RunDir:
        return RunDir(self.root / "run")

    @property
    def prefect(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def kel(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kel = str(Path(sys.executable).parent / "kel")
        argv = [kel, *args, "--run-dir", str(self.run_dir.path)]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)

    def pid(self, name: str) -> int:
        return int((self.run_dir.pids / f"{name}.pid").read_text())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = httpx.post(f"{self.prefect}{path}", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def flow_run(self, run_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.prefect}/flow_runs/{run_id}", timeout=10).json()
        return answer

    def logs(self) -> str:
        return "\n".join(
            f"== {log.name}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(self.run_dir.logs.glob("*.log"))
        )


def until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `check` until true; the seconds it took. Fails naming `what` after `timeout`."""
    started = time.monotonic()
    while not _safe(check):
        assert time.monotonic() - started < timeout, f"{what}: nicht nach {timeout:.0f} s"
        time.sleep(0.5)
    return time.monotonic() - started


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except (httpx.HTTPError, OSError, ValueError, KeyError):
        return False


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    require_postgres()
    root = tmp_path_factory.mktemp("up")
    names = [f"kel_up_{uuid.uuid4().hex[:10]}", f"kel_up_prefect_{uuid.uuid4().hex[:10]}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEL_", "PREFECT_"))}
    env.update(KEL_DATA_DIR=str(root / "daten"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    running = Up(root, env, free_port(), free_port())
    try:
        started = running.kel(
            "up",
            "--database-url",
            f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{names[0]}",
            "--prefect-database-url",
            f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{names[1]}",
            "--api-port",
            str(running.api_port),
            "--prefect-port",
            str(running.prefect_port),
            timeout=480,
        )
        assert started.returncode == 0, started.stdout + started.stderr + running.logs()
        yield running
    finally:
        running.kel("down")
        for name in names:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_up_starts_every_part_and_status_shows_them(up: Up) -> None:
    status = up.kel("status")
    assert status.returncode == 0, status.stderr
    for name in (*SERVICES, "supervisor"):
        line = next(row for row in status.stdout.splitlines() if f" {name} " in row)
        assert "│ ja" in line, status.stdout
    assert str(up.api_port) in status.stdout and str(up.prefect_port) in status.stdout
    assert "Letzte Fristenprüfung: noch keine" in status.stdout
    assert httpx.get(f"{up.prefect}/health").status_code == 200
    assert httpx.get(f"{up.api}/api/v1/health").status_code in (200, 503)
    assert {p.stem for p in up.run_dir.pid_files()} == set(SERVICES)
    assert up.run_dir.supervisor_pid.exists()
    again = up.kel("up", "--api-port", str(up.api_port), "--prefect-port", str(up.prefect_port))
    assert again.returncode == 0 and "läuft bereits" in again.stdout, again.stdout


def test_the_api_runs_two_processes_with_one_secret(up: Up) -> None:
    children = Path(f"/proc/{up.pid('api')}/task/{up.pid('api')}/children").read_text().split()
    workers = [
        pid
        for pid in children
        if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    ]
    assert len(workers) == 2
    secret = up.root / "daten" / "kel-secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    # the same secret in both: a token from one process is accepted by the other
    environ = [Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") for pid in workers]
    keys = [{e for e in env if e.startswith(b"KEL_JWT_SECRET=")} for env in environ]
    assert keys[0] == keys[1] == {b"KEL_JWT_SECRET=" + secret.read_text().strip().encode()}


def test_the_deployments_run_the_fixed_release(up: Up) -> None:
    deployments = up.post("/deployments/filter", {})
    releases = up.root / "daten" / "releases"
    (release,) = releases.iterdir()
    assert {d["name"] for d in deployments} == DEPLOYMENTS
    for d in deployments:
        step = d["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]
        assert step["directory"] == str(release)
        assert d["job_variables"]["env"]["PYTHONPATH"] == str(release)
    assert (release / "flows" / "sweep.py").stat().st_mode & 0o222 == 0
    sweep = next(d for d in deployments if d["name"] == "fristen-pruefen")
    assert sweep["global_concurrency_limit"]["limit"] == 1
    assert sweep["concurrency_options"]["grace_period_seconds"] == 60


def test_two_workers_poll_the_pool(up: Up) -> None:
    def online() -> list[str]:
        workers = up.post("/work_pools/kel-prozesse/workers/filter", {})
        return sorted(w["name"] for w in workers if w["status"] == "ONLINE")

    until(lambda: len(online()) == 2, 60, "zwei Worker online")
    assert [name.rsplit("-", 1)[1] for name in online()] == ["1", "2"]


def run_deployment(up: Up, flow: str, name: str, **parameters: Any) -> str:
    deployment = httpx.get(f"{up.prefect}/deployments/name/{flow}/{name}").json()
    run = up.post(f"/deployments/{deployment['id']}/create_flow_run", {"parameters": parameters})
    return str(run["id"])


def test_a_sweep_runs_and_its_task_logs_reach_prefect_at_info(up: Up) -> None:
    run_id = run_deployment(up, "fristen-pruefen", "fristen-pruefen")
    until(lambda: up.flow_run(run_id)["state"]["type"] == "COMPLETED", 120, "Sweep beendet")

    def task_info() -> list[dict[str, Any]]:  # logs arrive in batches, after the state
        body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200}
        return [log for log in up.post("/logs/filter", body) if log["task_run_id"]]

    until(lambda: any(log["level"] == 20 for log in task_info()), 30, "INFO-Zeilen der Tasks")
    assert "Letzte Fristenprüfung: noch keine" not in up.kel("status").stdout


def test_a_killed_prefect_server_is_restarted_alone_and_the_api_answers(up: Up) -> None:
    before = {name: up.pid(name) for name in SERVICES}

    os.kill(before["prefect-server"], signal.SIGKILL)

    for _ in range(4):  # the server is down or starting: the API answers all the same
        assert httpx.get(f"{up.api}/api/v1/health", timeout=10).status_code in (200, 503)
        time.sleep(0.5)
    until(lambda: up.pid("prefect-server") != before["prefect-server"], 30, "neu gestartet")
    until(lambda: httpx.get(f"{up.prefect}/health").status_code == 200, 120, "Prefect antwortet")
    assert {n: up.pid(n) for n in SERVICES if n != "prefect-server"} == {
        n: pid for n, pid in before.items() if n != "prefect-server"
    }
    assert "prefect-server (PID" in (up.run_dir.logs / "supervisor.log").read_text()


def test_sigterm_stops_a_worker_within_seconds_and_it_is_restarted(up: Up) -> None:
    pid = up.pid("worker-2")

    os.kill(pid, signal.SIGTERM)

    took = until(lambda: not is_same_process(pid, None), 15, "Worker beendet")
    assert took < 10
    log = up.run_dir.logs / "supervisor.log"
    until(lambda: f"worker-2 (PID {pid}) beendet mit Code 0" in log.read_text(), 5, "Exit 0")
    until(lambda: up.pid("worker-2") != pid, 15, "Worker neu gestartet")


SLEEPY_FLOW = """
import time
from prefect import flow

@flow(name="schlafen")
def schlafen(sekunden: int) -> int:
    time.sleep(sekunden)
    return sekunden
"""


def test_a_run_that_died_with_its_worker_is_crashed_within_a_minute_and_frees_its_slot(
    up: Up,
) -> None:
    """Heartbeats every 30 s and the automation of `cli.automations` (45 s)."""
    code = up.root / "schlafen"
    code.mkdir()
    (code / "schlafen.py").write_text(SLEEPY_FLOW)
    flow = up.post("/flows/", {"name": "schlafen"})
    step = {"prefect.deployments.steps.set_working_directory": {"directory": str(code)}}
    up.post(
        "/deployments/",
        {
            "name": "schlafen",
            "flow_id": flow["id"],
            "entrypoint": "schlafen.py:schlafen",
            "pull_steps": [step],
            "work_pool_name": "kel-prozesse",
            "concurrency_limit": 1,
        },
    )
    run_id = run_deployment(up, "schlafen", "schlafen", sekunden=300)
    until(lambda: up.flow_run(run_id)["state"]["type"] == "RUNNING", 90, "Lauf läuft")
    flow_pid = int(str(up.flow_run(run_id)["infrastructure_pid"]).rsplit(":", 1)[-1])
    assert "prefect.engine" in Path(f"/proc/{flow_pid}/cmdline").read_text()

    for worker in ("worker-1", "worker-2"):  # the worker dies with its flow run process
        os.killpg(up.pid(worker), signal.SIGKILL)
    os.kill(flow_pid, signal.SIGKILL)

    took = until(lambda: up.flow_run(run_id)["state"]["type"] == "CRASHED", 90, "Crashed")
    assert took < 65, f"erst nach {took:.0f} s Crashed"
    deployment = httpx.get(f"{up.prefect}/deployments/name/schlafen/schlafen").json()
    assert deployment["global_concurrency_limit"]["active_slots"] == 0
    second = run_deployment(up, "schlafen", "schlafen", sekunden=1)
    until(lambda: up.flow_run(second)["state"]["type"] == "COMPLETED", 60, "Slot wieder frei")


def test_down_stops_everything_it_started_and_removes_the_pid_files(up: Up) -> None:
    pids = [up.pid(name) for name in SERVICES]
    pids.append(int(up.run_dir.supervisor_pid.read_text()))

    stopped = up.kel("down")

    assert stopped.returncode == 0, stopped.stderr
    assert "supervisor: gestoppt" in stopped.stdout
    assert wait_gone(lambda: any(is_same_process(pid, None) for pid in pids), 10)
    assert list(up.run_dir.pid_files()) == []
    assert not up.run_dir.supervisor_pid.exists()
    assert "│ nein" in up.kel("status").stdout
