"""``kel serve``: a Prefect server, a worker and the API on loopback (embedded SQLite).

`Stack` starts the three processes, deploys ``prefect.yaml`` to the server and stops
everything again on exit; the end-to-end tests use the same class. Without
``KEL_JWT_SECRET`` in the environment, a secret is generated once into a file readable
only by its owner (`ensure_secret`; ``kel serve`` uses ``.kel-secret``) and given to the
API process only.
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from models.passwords import secret_problem

WORK_POOL = "kel-prozesse"
PROJECT_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SecretFileError(RuntimeError):
    """The secret file exists but others may read it, or it holds an unfit secret."""


def ensure_secret(path: Path) -> str:
    """The signing key in `path`; generated (``secrets.token_hex(32)``, like
    ``openssl rand -hex 32``) and written with mode 0600 when the file does not exist.

    Raises `SecretFileError` when the file is readable or writable by group or others, or
    holds an unfit key.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as out:
        secret = secrets.token_hex(32)
        out.write(secret + "\n")
    return secret


def _read_secret(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretFileError(
            f"{path} ist für andere lesbar (Modus {mode:o}); bitte `chmod 600 {path}` "
            "und den Schlüssel erneuern, wenn er geteilt wurde."
        )
    secret = path.read_text().strip()
    problem = secret_problem(secret)
    if problem:
        raise SecretFileError(f"{path}: {problem}")
    return secret


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a real process until `check` is true; raise `TimeoutError` naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} ist nach {timeout:.0f} s nicht bereit")


@dataclass
class Stack(AbstractContextManager["Stack"]):
    """Prefect server + process worker + API, all on 127.0.0.1, sharing one environment."""

    database_url: str
    prefect_home: Path
    prefect_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    secret_file: Path | None = None  # default: <prefect_home>/kel-secret
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: ExitStack = field(default_factory=ExitStack)

    @property
    def prefect_api(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PREFECT_HOME": str(self.prefect_home),
            "PREFECT_API_URL": self.prefect_api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "KEL_DATABASE_URL": self.database_url,
            # commands wait in the work pool until the worker polls: poll often
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            **self.extra_env,
        }

    @property
    def api_env(self) -> dict[str, str]:
        """`env` plus ``KEL_JWT_SECRET`` (from the environment, else from `secret_file`)."""
        env = self.env
        if not env.get("KEL_JWT_SECRET"):
            env["KEL_JWT_SECRET"] = ensure_secret(
                self.secret_file or self.prefect_home / "kel-secret"
            )
        return env

    def bin(self, name: str) -> str:
        """Path of a console script of this virtualenv."""
        return str(Path(sys.executable).parent / name)

    def _spawn(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_dir:
            out = self.logs.enter_context((self.log_dir / f"{name}.log").open("ab"))
        process = subprocess.Popen(
            args, env=env or self.env, cwd=PROJECT_DIR, stdout=out, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def _run(self, *args: str) -> None:
        subprocess.run(args, env=self.env, cwd=PROJECT_DIR, check=True, capture_output=True)

    def start_prefect(self) -> None:
        self._spawn(
            "prefect-server",
            self.bin("prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.prefect_port),
        )
        wait_until(
            lambda: httpx.get(f"{self.prefect_api}/health").status_code == 200,
            120,
            "Prefect-Server",
        )

    def deploy(self) -> None:
        """Create the work pool and deploy every flow of ``prefect.yaml``."""
        subprocess.run(
            [self.bin("prefect"), "work-pool", "create", WORK_POOL, "--type", "process"],
            env=self.env,
            cwd=PROJECT_DIR,
            capture_output=True,  # exists already: fine
        )
        subprocess.run(  # prefect.yaml's {{ $PWD }}: this project directory
            [self.bin("prefect"), "--no-prompt", "deploy", "--all"],
            env={**self.env, "PWD": str(PROJECT_DIR)},
            cwd=PROJECT_DIR,
            check=True,
            capture_output=True,
        )

    def start_worker(self) -> None:
        """A process worker that stops on SIGTERM (`cli.worker`); INFO, so the flow runs'
        task logs reach the Prefect UI."""
        env = {**self.env, "PREFECT_LOGGING_LEVEL": "INFO"}
        worker = (sys.executable, "-m", "cli.worker", "--pool", WORK_POOL, "--grace", "5")
        self._spawn("worker", *worker, env=env)

    def start_task_worker(self) -> None:
        """The task worker of the follow-ups (`cli.task_worker`), at INFO."""
        env = {**self.env, "PREFECT_LOGGING_LEVEL": "INFO"}
        self._spawn("task-worker", sys.executable, "-m", "cli.task_worker", "--grace", "5", env=env)

    def start_api(self) -> None:
        self._run(self.bin("kel"), "db", "upgrade")
        self._spawn(
            "api",
            self.bin("uvicorn"),
            "api.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.api_port),
            "--no-access-log",  # an access log line names the case (path); CPU per request
            env=self.api_env,
        )
        wait_until(  # any answer: the API serves (health says 503 while the sweep is overdue)
            lambda: httpx.get(f"{self.api_url}/api/v1/health").status_code in (200, 503), 60, "API"
        )

    def start(self) -> Stack:
        self.prefect_home.mkdir(parents=True, exist_ok=True)
        self.start_prefect()
        self.deploy()
        self.start_worker()
        self.start_task_worker()
        self.start_api()
        return self

    def stop_prefect(self) -> None:
        """Stop the Prefect server only (to test the outbox)."""
        server = self.processes.pop(0)
        server.terminate()
        server.wait(30)

    def restart_prefect(self) -> None:
        """Start the Prefect server again on the same port and home."""
        self.start_prefect()
        self.processes.insert(0, self.processes.pop())

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()
        self.logs.close()
