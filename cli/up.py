"""``make up`` / ``kel up``: kel-flow on one machine, on loopback, PostgreSQL throughout.

`up` builds a fixed release of the code (`cli.release`), makes sure the signing key exists
(``$KEL_DATA_DIR/kel-secret``, mode 0600, unless ``KEL_JWT_SECRET`` is set), writes the
configuration to ``<run dir>/config.json`` and starts the supervisor (`cli.supervise`) as
a background process running the release (``python -m cli.up <config>``). Its plan:

1. databases: the kel-flow database and the Prefect server's (created when missing, the
   first migrated with Alembic);
2. together: the Prefect server on PostgreSQL (``PREFECT_API_DATABASE_CONNECTION_URL``)
   and the API (uvicorn, `API_PROCESSES` processes, one shared ``KEL_JWT_SECRET``);
3. the work pool, ``prefect deploy --all`` from the release and the automations
   (`cli.automations`: zombie runs, overdue sweep alert); the Prefect server vacuums its
   run history (`vacuum_env`);
4. `WORKERS` workers of the process pool (`cli.worker`: stop on SIGTERM) for the sweep and
   the retention, and the task worker of the follow-ups (`cli.task_worker`: e-mails after
   a state change, without a new process per change).

`up` returns when all of it answers. ``kel down`` stops it (`cli.supervise.stop`),
``kel status`` shows it and the last deadline sweep (`last_sweep_lines`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.engine import make_url

from cli.supervise import Job, RunDir, Service, Step, Supervisor, configure_logging

HOST = "127.0.0.1"
WORK_POOL = "kel-prozesse"
SWEEP_DEPLOYMENT = "fristen-pruefen"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/kel_flow"
DEFAULT_PREFECT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/kel_prefect"
WORKERS = 2
API_PROCESSES = 2
UP_TIMEOUT = 420.0  # seconds: a first start migrates the Prefect database


class UpError(RuntimeError):
    """`up` cannot start (wrong database URL, start-up failed); German message."""


@dataclass(frozen=True)
class UpConfig:
    """Everything the supervisor needs; stored as ``<run dir>/config.json`` (mode 0600)."""

    data_dir: Path
    run_dir: Path
    database_url: str
    prefect_database_url: str | None = None  # None: Prefect's SQLite file (`kel serve`)
    release: Path | None = None  # set by `up`; None: the working tree (`kel serve`)
    prefect_home: Path | None = None  # None: <data_dir>/prefect
    api_port: int = 8000
    prefect_port: int = 4200
    workers: int = WORKERS
    api_processes: int = API_PROCESSES
    secret_file: Path | None = None  # None: KEL_JWT_SECRET comes from the environment

    @property
    def code(self) -> Path:
        """The directory the parts run from: the release, or the working tree (dev)."""
        from cli.release import PROJECT_DIR

        return self.release or PROJECT_DIR

    @property
    def prefect_api(self) -> str:
        return f"http://{HOST}:{self.prefect_port}/api"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    def to_json(self) -> str:
        return json.dumps(
            {k: str(v) if isinstance(v, Path) else v for k, v in vars(self).items()}, indent=2
        )

    @classmethod
    def from_json(cls, text: str) -> UpConfig:
        raw: dict[str, Any] = json.loads(text)
        for key in ("data_dir", "run_dir", "release", "prefect_home", "secret_file"):
            if raw.get(key) is not None:
                raw[key] = Path(raw[key])
        return cls(**raw)


def check_postgres_url(url: str, what: str, driver: str) -> str:
    """`url` when it names a PostgreSQL database with `driver`; else `UpError`."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        raise UpError(f"{what} muss eine PostgreSQL-Datenbank nennen: {parsed!r}")
    if parsed.get_driver_name() != driver:
        raise UpError(f"{what} braucht den Treiber {driver}: postgresql+{driver}://…")
    return url


# --- the plan --------------------------------------------------------------------------


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def base_env(config: UpConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment every part shares: the caller's (``KEL_SMTP_URL`` …) without the
    signing key and the Prefect database URL, plus where everything is."""
    hidden = {
        "KEL_JWT_SECRET",
        "PREFECT_API_DATABASE_CONNECTION_URL",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL",
    }
    env = {k: v for k, v in environ.items() if k not in hidden}
    env.update(
        PREFECT_HOME=str(config.prefect_home or config.data_dir / "prefect"),
        PREFECT_API_URL=config.prefect_api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        KEL_DATABASE_URL=config.database_url,
        KEL_DATA_DIR=str(config.data_dir),
        PYTHONPATH=str(config.code),
        PWD=str(config.code),  # prefect.yaml's {{ $PWD }}: the release
    )
    return env


def _http_ok(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


def _http_answers(url: str) -> bool:
    httpx.get(url, timeout=2)  # any answer: the process serves (health may say 503)
    return True


def _run_logged(argv: list[str], env: Mapping[str, str], cwd: Path, log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(argv, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])} … endete mit Code {done.returncode}; siehe {log}")


def prepare_databases(config: UpConfig) -> None:
    """Create the PostgreSQL databases when missing and migrate kel-flow's (Prefect
    migrates its own at start)."""
    from models.db import engine, migrate

    for url in (config.database_url, config.prefect_database_url):
        if url and make_url(url).get_backend_name() == "postgresql":
            ensure_database(url)
    migrate(config.database_url)
    engine(config.database_url).dispose()


def ensure_database(url: str) -> bool:
    """Create the database `url` names on its server (connecting to ``postgres``) when it
    does not exist; True when it was created."""
    import psycopg
    from psycopg import sql

    parsed = make_url(url)
    params = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
    }
    conninfo = psycopg.conninfo.make_conninfo(
        dbname="postgres", **{k: str(v) for k, v in params.items() if v is not None}
    )
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if found:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(parsed.database))))
    return True


def deploy(config: UpConfig, env: Mapping[str, str]) -> None:
    """Create the work pool (when missing), deploy ``prefect.yaml`` from the release and,
    meanwhile, the automations (`cli.automations`)."""
    log = config.run_dir / "logs" / "deploy.log"
    prefect = _bin("prefect")
    with (config.run_dir / "logs" / "automations.log").open("ab") as out:
        automations = subprocess.Popen(
            [sys.executable, "-m", "cli.automations"],
            env=dict(env),
            cwd=config.code,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    with log.open("ab") as out:  # an existing pool answers an error: fine
        subprocess.run(
            [prefect, "work-pool", "create", WORK_POOL, "--type", "process"],
            env=dict(env),
            cwd=config.code,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _run_logged([prefect, "--no-prompt", "deploy", "--all"], env, config.code, log)
    if automations.wait(120):
        raise RuntimeError(f"Automationen nicht angelegt; siehe {log.parent}/automations.log")


def plan(config: UpConfig, environ: Mapping[str, str]) -> list[Step]:
    """The steps of `up`, in order (see the module docstring); the Prefect server and the
    API start together (the API needs no Prefect to start)."""
    env = base_env(config, environ)
    return [
        Job("Datenbanken anlegen und migrieren", lambda: prepare_databases(config)),
        prefect_server(config, env),
        api(config, {**env, "KEL_JWT_SECRET": environ.get("KEL_JWT_SECRET") or _secret(config)}),
        Job("Deployments (prefect.yaml) und Automationen", lambda: deploy(config, env)),
        *workers(config, env),
        task_worker(config, env),
    ]


def prefect_server(config: UpConfig, env: Mapping[str, str]) -> Service:
    argv = [_bin("prefect"), "server", "start", "--host", HOST, "--port", f"{config.prefect_port}"]
    return Service(
        "prefect-server",
        argv,
        {
            **env,
            **_prefect_database(config),
            **vacuum_env(env),
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        },
        config.code,
        port=config.prefect_port,
        ready=lambda: _http_ok(f"{config.prefect_api}/health"),
    )


def api(config: UpConfig, env: Mapping[str, str]) -> Service:
    argv = [sys.executable, "-m", "cli.api_server", "--host", HOST, "--port", f"{config.api_port}"]
    argv += ["--workers", f"{config.api_processes}"]  # uvicorn, TCP_NODELAY, no access log
    return Service(
        "api",
        argv,
        env,
        config.code,
        port=config.api_port,
        ready=lambda: _http_answers(f"{config.api_url}/api/v1/health"),
    )


def workers(config: UpConfig, env: Mapping[str, str]) -> list[Service]:
    """`UpConfig.workers` workers (`cli.worker`) at INFO, so the flow runs' task logs reach
    the Prefect UI, with heartbeats every 30 s (`cli.automations`)."""
    worker_env = {
        **env,
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        "PREFECT_WORKER_QUERY_SECONDS": "5",
    }
    worker = [sys.executable, "-m", "cli.worker", "--pool", WORK_POOL, "--name"]
    host = socket.gethostname()
    return [
        Service(
            f"worker-{i}", [*worker, f"{host}-worker-{i}"], worker_env, config.code, stop_timeout=30
        )
        for i in range(1, config.workers + 1)
    ]


def task_worker(config: UpConfig, env: Mapping[str, str]) -> Service:
    """The task worker of the follow-ups (`cli.task_worker`): the API hands each committed
    command's e-mails to it (``.delay()``, `api.trigger`); at INFO, so its logs reach the
    Prefect UI. It shares ``PREFECT_HOME`` with the API (the task runs' parameters)."""
    argv = [sys.executable, "-m", "cli.task_worker", "--grace", "20"]
    env = {**env, "PREFECT_LOGGING_LEVEL": "INFO"}
    return Service("task-worker", argv, env, config.code, stop_timeout=30)


def vacuum_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The Prefect server's own vacuum service (``prefect.server.services.db_vacuum``) for
    flow runs too, not only events: it deletes flow runs finished more than
    ``KEL_PREFECT_RETENTION_DAYS`` (default 90, `Settings.prefect_retention_days`) days ago
    with their logs and artifacts, hourly; kel-flow's database is the record."""
    from models.settings import Settings

    field = Settings.model_fields["prefect_retention_days"]
    raw = environ.get("KEL_PREFECT_RETENTION_DAYS", "").strip()
    days = int(raw) if raw.isdigit() else -1 if raw else int(field.default)
    if days < 1:
        raise UpError(f"KEL_PREFECT_RETENTION_DAYS muss eine ganze Zahl ≥ 1 sein: {raw!r}")
    return {
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(days * 86400),
    }


def _prefect_database(config: UpConfig) -> dict[str, str]:
    url = config.prefect_database_url
    return {"PREFECT_API_DATABASE_CONNECTION_URL": url} if url else {}


def _secret(config: UpConfig) -> str:
    from cli.serve import ensure_secret

    if config.secret_file is None:
        raise UpError("Weder KEL_JWT_SECRET noch eine Schlüsseldatei")
    return ensure_secret(config.secret_file)


def info(config: UpConfig) -> dict[str, str]:
    """What `status` shows besides the services."""
    return {
        "api": f"{config.api_url}/docs",
        "dashboard": f"{config.api_url}/dashboard",
        "prefect_ui": f"http://{HOST}:{config.prefect_port}",
        "prefect_api": config.prefect_api,
        "release": str(config.code),
        "database": make_url(config.database_url).render_as_string(hide_password=True),
        "logs": str(config.run_dir / "logs"),
    }


def supervise(config: UpConfig, on_ready: Callable[[], None] | None = None) -> int:
    """Run the plan of `config` in this process until SIGTERM/SIGINT (`Supervisor.run`);
    `on_ready` is called once everything answers. ``kel serve`` calls it directly."""
    run_dir = RunDir(config.run_dir)
    configure_logging(run_dir)
    supervisor = Supervisor(run_dir, info=info(config))
    return supervisor.run(plan(config, os.environ), on_ready=on_ready)


# --- the commands ----------------------------------------------------------------------


def up(config: UpConfig, foreground: bool = False, timeout: float = UP_TIMEOUT) -> str:
    """Start the supervisor of `config` (nothing when it runs already) and wait until every
    part answers; returns a German one-line result. Raises `UpError` when the start fails.
    With `foreground`, this process becomes the supervisor (for a systemd unit)."""
    from cli.release import build_release
    from cli.serve import ensure_secret

    run_dir = RunDir(config.run_dir)
    running = run_dir.supervisor()
    if running is not None:
        return f"kel-flow läuft bereits (Supervisor PID {running[0]})."
    release = build_release(config.data_dir / "releases")
    config = dataclasses.replace(config, release=release)
    if config.secret_file is not None:
        ensure_secret(config.secret_file)
    run_dir.create()
    config_file = config.run_dir / "config.json"
    fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(config.to_json())
    run_dir.state_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "cli.up", str(config_file)]
    env = {**os.environ, "PYTHONPATH": str(release)}
    if foreground:
        os.chdir(release)
        os.execve(sys.executable, argv, env)
    with (run_dir.logs / "supervisor.log").open("ab") as out:
        daemon = subprocess.Popen(
            argv,
            env=env,
            cwd=release,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return _wait_started(run_dir, daemon, timeout)


def _wait_started(run_dir: RunDir, daemon: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = run_dir.read_state()
        if state.get("status") == "läuft":
            return f"kel-flow läuft (Supervisor PID {daemon.pid})."
        if daemon.poll() is not None:
            reason = state.get("message") or f"Supervisor endete mit Code {daemon.returncode}"
            raise UpError(f"Start fehlgeschlagen: {reason} (Protokolle: {run_dir.logs})")
        time.sleep(0.5)
    raise UpError(f"kel-flow ist nach {timeout:.0f} s nicht bereit (Protokolle: {run_dir.logs})")


def last_sweep_lines(database_url: str, prefect_api: str) -> list[str]:
    """The last completed deadline sweep from our database (`SweepRun`) and the last
    finished run of ``fristen-pruefen`` in Prefect (it may have crashed or failed)."""
    lines = [_sweep_from_database(database_url), _sweep_from_prefect(prefect_api)]
    return [line for line in lines if line]


def _berlin(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo("Europe/Berlin")).strftime("%d.%m.%Y %H:%M:%S")


def _sweep_from_database(database_url: str) -> str:
    from sqlmodel import col, select

    from models.db import session
    from models.tables import SweepRun

    try:
        with session(database_url) as s:
            last = s.exec(select(SweepRun).order_by(col(SweepRun.finished_at).desc())).first()
    except Exception as exc:  # the database may be down: say so, do not fail the status
        return f"Letzte Fristenprüfung: Datenbank nicht lesbar ({type(exc).__name__})"
    if last is None:
        return "Letzte Fristenprüfung: noch keine"
    return (
        f"Letzte Fristenprüfung: {_berlin(last.finished_at)} (Europe/Berlin), "
        f"{last.fired} Timer, {last.sent} E-Mails, {last.errors} Fehler"
    )


def _sweep_from_prefect(prefect_api: str) -> str:
    body = {
        "deployments": {"name": {"any_": [SWEEP_DEPLOYMENT]}},
        "flow_runs": {"state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED"]}}},
        "sort": "END_TIME_DESC",
        "limit": 1,
    }
    try:
        runs = httpx.post(f"{prefect_api}/flow_runs/filter", json=body, timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return "Letzter Lauf in Prefect: Prefect-Server nicht erreichbar"
    if not runs:
        return "Letzter Lauf in Prefect: noch keiner"
    run = runs[0]
    ended = run.get("end_time")
    when = _berlin(datetime.fromisoformat(ended)) if ended else "–"
    return f"Letzter Lauf in Prefect: {run['state']['name']} am {when} ({run['name']})"


if __name__ == "__main__":
    sys.exit(supervise(UpConfig.from_json(Path(sys.argv[1]).read_text())))
