"""The plan of ``kel up``: which part gets which settings (no process is started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.supervise import Job, Service
from cli.up import UpConfig, UpError, check_postgres_url, plan

SECRET = "7f3c9a1e5b2d8f4a6c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"
CALLER = {
    "KEL_SMTP_URL": "mailto://smtp.example",
    "KEL_JWT_SECRET": SECRET,
    "PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+asyncpg://x@h/alt",
    "PREFECT_LOGGING_LEVEL": "WARNING",  # as make exports it
}


@pytest.fixture
def services(tmp_path: Path) -> dict[str, Service]:
    config = UpConfig(
        data_dir=tmp_path / "daten",
        run_dir=tmp_path / "run",
        database_url="postgresql+psycopg://postgres@127.0.0.1:5432/kel_flow",
        prefect_database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/kel_prefect",
        release=tmp_path / "daten" / "releases" / "0.1.0-abc",
        api_port=8123,
        prefect_port=4321,
    )
    steps = plan(config, CALLER)
    assert [type(s) for s in steps] == [Job, Service, Service, Job, Service, Service, Service]
    return {s.name: s for s in steps if isinstance(s, Service)}


def test_every_part_runs_the_release_against_the_same_prefect_api(
    services: dict[str, Service], tmp_path: Path
) -> None:
    release = str(tmp_path / "daten" / "releases" / "0.1.0-abc")
    for service in services.values():
        assert service.cwd == Path(release)
        assert service.env["PYTHONPATH"] == release
        assert service.env["PREFECT_API_URL"] == "http://127.0.0.1:4321/api"
        assert service.env["KEL_SMTP_URL"] == "mailto://smtp.example"


def test_only_the_api_gets_the_signing_key_and_only_prefect_its_database(
    services: dict[str, Service],
) -> None:
    assert services["api"].env["KEL_JWT_SECRET"] == SECRET
    assert services["prefect-server"].env["PREFECT_API_DATABASE_CONNECTION_URL"] == (
        "postgresql+asyncpg://postgres@127.0.0.1:5432/kel_prefect"
    )
    for name in ("worker-1", "worker-2", "task-worker", "prefect-server"):
        assert "KEL_JWT_SECRET" not in services[name].env
    for name in ("worker-1", "worker-2", "task-worker", "api"):
        assert "PREFECT_API_DATABASE_CONNECTION_URL" not in services[name].env


def test_workers_log_at_info_with_heartbeats_and_the_rest_at_warning(
    services: dict[str, Service],
) -> None:
    for name in ("worker-1", "worker-2"):
        env = services[name].env
        assert env["PREFECT_LOGGING_LEVEL"] == "INFO"
        assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
        assert list(services[name].argv[1:5]) == ["-m", "cli.worker", "--pool", "kel-prozesse"]
    assert services["task-worker"].env["PREFECT_LOGGING_LEVEL"] == "INFO"
    assert list(services["task-worker"].argv[1:3]) == ["-m", "cli.task_worker"]
    assert services["prefect-server"].env["PREFECT_LOGGING_LEVEL"] == "WARNING"
    assert services["api"].env["PREFECT_LOGGING_LEVEL"] == "WARNING"


def test_the_api_runs_two_processes_on_loopback(services: dict[str, Service]) -> None:
    argv = list(services["api"].argv)
    assert argv[1:3] == ["-m", "cli.api_server"]  # its listener keeps TCP_NODELAY
    assert argv[argv.index("--workers") + 1] == "2"
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert services["api"].port == 8123 and services["prefect-server"].port == 4321


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///kel.db", "psycopg"),
        ("postgresql://postgres@127.0.0.1/kel", "psycopg"),  # psycopg2, not installed
        ("postgresql+psycopg://postgres@127.0.0.1/kel", "asyncpg"),
        ("postgresql+psycopg://postgres@127.0.0.1", "psycopg"),  # no database
    ],
)
def test_up_refuses_what_is_not_postgresql_with_the_right_driver(url: str, driver: str) -> None:
    with pytest.raises(UpError):
        check_postgres_url(url, "KEL_DATABASE_URL", driver)
