"""The deadline sweep runs by itself: a real ``prefect server start`` (its scheduler runs;
the test harness and the ephemeral server run none), ``prefect deploy --all`` of
``prefect.yaml``, and the server schedules runs of every cron deployment on its own.

Prefect 3.8.8's scheduler failed on every loop with SQLAlchemy 2.1 ("Can't evaluate bulk
DML statement") and no cron deployment ever got a run (issue 7, DESIGN §5); pyproject.toml
pins SQLAlchemy below 2.1.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cli.serve import PROJECT_DIR, Stack, wait_until
from models.clock import BERLIN

pytestmark = pytest.mark.e2e
SWEEP = "fristen-pruefen/fristen-pruefen"
#: After `prefect deploy`, the scheduler's loop for recently changed deployments runs every
#: 5 s and its main loop every 60 s: a run must be there well within this bound.
SCHEDULED_WITHIN_SECONDS = 90
BULK_DML_FAILURE = "Can't evaluate bulk DML statement"


def cron_deployments() -> dict[str, dict[str, str]]:
    """``flow/deployment`` name -> its one schedule (cron, timezone) from prefect.yaml.

    The flow of every deployment is named like the deployment (``@flow(name=...)``).
    """
    config = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text(encoding="utf-8"))
    found = {}
    for deployment in config["deployments"]:
        schedules = deployment.get("schedules") or []
        assert len(schedules) <= 1, f"{deployment['name']}: mehr als ein Zeitplan"
        if schedules:
            found[f"{deployment['name']}/{deployment['name']}"] = schedules[0]
    return found


def matches_cron(moment: datetime, cron: str) -> bool:
    """Whether a local `moment` matches a cron of integers and ``*`` (what prefect.yaml
    uses), checked independently of Prefect's own cron library."""
    fields = cron.split()
    assert len(fields) == 5 and all(f == "*" or f.isdigit() for f in fields), cron
    minute, hour, day, month, weekday = fields
    values = [
        (minute, moment.minute),
        (hour, moment.hour),
        (day, moment.day),
        (month, moment.month),
        (weekday, moment.isoweekday() % 7),
    ]
    return moment.second == 0 and all(f == "*" or int(f) == v for f, v in values)


def server_sqlalchemy(stack: Stack) -> str:
    """The SQLAlchemy version of the interpreter that runs ``prefect server start``."""
    shebang = Path(stack.bin("prefect")).read_text(encoding="utf-8").splitlines()[0]
    interpreter = shebang.removeprefix("#!").strip()
    return subprocess.run(
        [interpreter, "-c", "import sqlalchemy; print(sqlalchemy.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Stack, datetime]]:
    """A Prefect server (own PREFECT_HOME, free loopback port) with prefect.yaml deployed,
    no worker, no API, and the time it was started. Its output goes to
    ``tmp_path/prefect-server.log``."""
    stack = Stack(f"sqlite:///{tmp_path / 'kel.db'}", tmp_path / "prefect", log_dir=tmp_path)
    stack.prefect_home.mkdir()
    started = datetime.now(UTC)
    try:
        stack.start_prefect()
        try:
            stack.deploy()
        except subprocess.CalledProcessError as failed:
            raise AssertionError(f"prefect deploy --all: {failed.stderr.decode()}") from failed
        yield stack, started
    finally:
        stack.close()


def scheduled_runs(stack: Stack, name: str) -> list[dict[str, Any]]:
    """The SCHEDULED flow runs of deployment `name` (``flow/deployment``), from the API."""
    with httpx.Client(base_url=stack.prefect_api, timeout=10) as api:
        deployment = api.get(f"/deployments/name/{name}")
        deployment.raise_for_status()
        runs = api.post(
            "/flow_runs/filter",
            json={
                "deployments": {"id": {"any_": [deployment.json()["id"]]}},
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
            },
        )
        runs.raise_for_status()
        return list(runs.json())


def test_the_server_schedules_the_sweep_and_the_nightly_deployments_by_itself(
    server: tuple[Stack, datetime], tmp_path: Path
) -> None:
    stack, started = server
    wanted = cron_deployments()
    assert SWEEP in wanted and wanted[SWEEP]["cron"] == "5 * * * *"
    found: dict[str, list[dict[str, Any]]] = {}

    def all_scheduled() -> bool:
        found.update({name: scheduled_runs(stack, name) for name in wanted})
        return all(found.values())

    log = tmp_path / "prefect-server.log"
    try:
        wait_until(all_scheduled, SCHEDULED_WITHIN_SECONDS, "Geplante Läufe")
    except TimeoutError:
        server_log = log.read_text(encoding="utf-8", errors="replace")
        pytest.fail(
            f"keine geplanten Läufe für {[n for n in wanted if not found.get(n)]} "
            f"(SQLAlchemy des Servers: {server_sqlalchemy(stack)}):\n{server_log[-4000:]}"
        )

    for name, schedule in wanted.items():
        assert schedule["timezone"] == "Europe/Berlin"
        starts = [datetime.fromisoformat(run["expected_start_time"]) for run in found[name]]
        local = [start.astimezone(BERLIN) for start in starts]
        assert all(start > started for start in starts), (name, starts)
        assert any(start > datetime.now(UTC) for start in starts), (name, starts)
        assert all(matches_cron(moment, schedule["cron"]) for moment in local), (name, local)
        assert all(run["auto_scheduled"] for run in found[name])
    assert BULK_DML_FAILURE not in log.read_text(encoding="utf-8", errors="replace")
