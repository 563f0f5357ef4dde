"""A small process supervisor: each service its own process group, restarted on its own.

`Supervisor.run` goes through a plan of steps in order: a `Service` is started (services
in a row start together, and the next job waits until they answer, `Service.ready`), a
`Job` is run once and must succeed. Then it
watches the services: one that exits is logged, the rest of its process group is killed
(a ``prefect server start`` leaves its uvicorn child holding the port), and it is started
again after a backoff (1, 2, 4 … 30 s; back to 1 s after a minute of running) while the
others go on. SIGTERM or SIGINT to the supervisor stops every service (SIGTERM to its
group, SIGKILL after `Service.stop_timeout`) and removes the PID files.

Files in the run directory (`RunDir`): ``supervisor.pid`` and ``pids/<service>.pid`` (one
PID per line, as usual), ``state.json`` (status, PIDs with their start times, ports,
restarts; mode 0600) and ``logs/<service>.log`` (stdout and stderr, appended) plus
``logs/supervisor.log``. `stop` ends what the files name, checking each PID's start time
first, so a PID the system has given to another process since is never signalled; it
never looks for processes by name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import IO, Any

log = logging.getLogger("kel.supervise")

START_TIMEOUT = 240.0  # seconds a service may take to answer at start-up
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0  # a service that ran this long starts again after 1 s


@dataclass(frozen=True)
class Service:
    """A long-running process. `ready` answers whether it serves (polled at start-up)."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    port: int | None = None
    ready: Callable[[], bool] | None = None
    stop_timeout: float = 30.0


@dataclass(frozen=True)
class Job:
    """A step run once, in order (e.g. a migration or a deployment); raises on failure."""

    name: str
    run: Callable[[], None]


Step = Service | Job


class SetupFailed(RuntimeError):
    """A job failed, or a service died or did not answer at start-up."""


# --- processes and their identity ---------------------------------------------------


def start_ticks(pid: int) -> int | None:
    """The start time of process `pid` in clock ticks since boot (``/proc/<pid>/stat``,
    field 22); None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])


def is_same_process(pid: int, ticks: int | None) -> bool:
    """Whether `pid` still is the process started at `ticks` (and is not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rpartition(")")[2].split()
    return fields[0] != "Z" and (ticks is None or int(fields[19]) == ticks)


def signal_group(pgid: int, signum: int) -> None:
    """Send `signum` to process group `pgid`; nothing when it has no process left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_gone(check: Callable[[], bool], timeout: float) -> bool:
    """Poll `check` (something is still alive) until false or `timeout`; True when gone."""
    deadline = time.monotonic() + timeout
    while check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


# --- the run directory -----------------------------------------------------------------


@dataclass(frozen=True)
class RunDir:
    """Where a supervisor keeps its PID files, state and logs."""

    path: Path

    @property
    def pids(self) -> Path:
        return self.path / "pids"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def supervisor_pid(self) -> Path:
        return self.path / "supervisor.pid"

    def create(self) -> None:
        for directory in (self.path, self.pids, self.logs):
            directory.mkdir(parents=True, exist_ok=True)
        self.path.chmod(0o700)

    def read_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return state

    def write_state(self, state: Mapping[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(state, out, indent=2)
        tmp.replace(self.state_file)

    def write_pid(self, path: Path, pid: int) -> None:
        path.write_text(f"{pid}\n")

    def pid_files(self) -> Iterator[Path]:
        yield from sorted(self.pids.glob("*.pid"))

    def supervisor(self) -> tuple[int, int | None] | None:
        """PID and start ticks of the supervisor, when its PID file names a live one."""
        state = self.read_state().get("supervisor", {})
        try:
            pid = int(self.supervisor_pid.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        ticks = state.get("start") if state.get("pid") == pid else None
        return (pid, ticks) if is_same_process(pid, ticks) else None


# --- the supervisor --------------------------------------------------------------------


@dataclass
class Running:
    """A started service: its process, restarts and when it may start again."""

    service: Service
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    failures: int = 0
    restart_at: float | None = None
    ticks: int | None = None


@dataclass
class Supervisor:
    """Runs a plan of steps and keeps its services alive until told to stop."""

    run_dir: RunDir
    info: dict[str, Any] = field(default_factory=dict)  # shown by `status` (URLs, release)
    running: dict[str, Running] = field(default_factory=dict)
    stopping: bool = False
    status: str = "starte"
    message: str = ""

    # state and files

    def save(self) -> None:
        me = os.getpid()
        self.run_dir.write_state(
            {
                "status": self.status,
                "message": self.message,
                "info": self.info,
                "supervisor": {"pid": me, "start": start_ticks(me)},
                "services": {
                    name: {
                        "pid": r.process.pid if r.process else None,
                        "start": r.ticks,
                        "port": r.service.port,
                        "restarts": r.restarts,
                        "stop_timeout": r.service.stop_timeout,
                    }
                    for name, r in self.running.items()
                },
                "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )

    def _pid_file(self, name: str) -> Path:
        return self.run_dir.pids / f"{name}.pid"

    # signals

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("Signal %s: beende alle Dienste", signal.Signals(signum).name)
        self.stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    # starting

    def start(self, r: Running) -> None:
        service = r.service
        out: IO[bytes] = (self.run_dir.logs / f"{service.name}.log").open("ab")
        with out:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            out.write(f"\n--- {stamp} kel-flow: starte {service.name} ---\n".encode())
            out.flush()
            r.process = subprocess.Popen(
                list(service.argv),
                env=dict(service.env),
                cwd=service.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stopped and killed as a whole
            )
        r.started = time.monotonic()
        r.restart_at = None
        r.ticks = start_ticks(r.process.pid)
        self.run_dir.write_pid(self._pid_file(service.name), r.process.pid)
        log.info("%s gestartet (PID %s)", service.name, r.process.pid)
        self.save()

    def _wait_ready(self, r: Running) -> None:
        check = r.service.ready
        deadline = time.monotonic() + START_TIMEOUT
        while check is not None and not self.stopping:
            assert r.process is not None
            if r.process.poll() is not None:
                raise SetupFailed(
                    f"{r.service.name} ist beim Start beendet (Code {r.process.returncode}); "
                    f"siehe {self.run_dir.logs / (r.service.name + '.log')}"
                )
            if _safe(check):
                return
            if time.monotonic() > deadline:
                raise SetupFailed(f"{r.service.name} antwortet nach {START_TIMEOUT:.0f} s nicht")
            time.sleep(0.5)

    def run_plan(self, steps: Sequence[Step]) -> None:
        """Start the services and run the jobs of `steps` in order. Services in a row start
        together; a job waits until they all answer (and so does the end of the plan)."""
        starting: list[Running] = []
        for step in steps:
            if self.stopping:
                return
            if isinstance(step, Job):
                for r in starting:
                    self._wait_ready(r)
                starting = []
                self.status, self.message = "starte", step.name
                self.save()
                log.info("Schritt: %s", step.name)
                try:
                    step.run()
                except Exception as exc:
                    raise SetupFailed(f"{step.name}: {exc}") from exc
            else:
                r = self.running[step.name] = Running(step)
                self.start(r)
                starting.append(r)
        for r in starting:
            self._wait_ready(r)

    # watching

    def _reap(self, r: Running, now: float) -> None:
        assert r.process is not None
        code = r.process.returncode
        signal_group(r.process.pid, signal.SIGKILL)  # what is left of its group
        ran = now - r.started
        r.failures = 0 if ran >= STABLE_AFTER else r.failures + 1
        delay = min(BACKOFF_MAX, 2.0 ** max(0, r.failures - 1))
        r.restart_at = now + delay
        log.warning(
            "%s (PID %s) beendet mit Code %s nach %.0f s; Neustart in %.0f s",
            r.service.name,
            r.process.pid,
            code,
            ran,
            delay,
        )

    def watch_once(self) -> None:
        """One round: reap services that exited, start those whose backoff is over."""
        now = time.monotonic()
        for r in self.running.values():
            if r.process is None:
                continue
            if r.restart_at is None and r.process.poll() is not None:
                self._reap(r, now)
            elif r.restart_at is not None and now >= r.restart_at and not self.stopping:
                r.restarts += 1
                self.start(r)

    def watch(self, interval: float = 0.5, on_ready: Callable[[], None] | None = None) -> None:
        self.status, self.message = "läuft", ""
        self.save()
        if on_ready is not None and not self.stopping:
            on_ready()
        while not self.stopping:
            self.watch_once()
            time.sleep(interval)

    # stopping

    def stop_all(self) -> None:
        """SIGTERM to every service's group (last started first), SIGKILL after its
        `stop_timeout`; removes the PID files."""
        self.status = "stoppt"
        self.save()
        live = [r for r in reversed(self.running.values()) if r.process is not None]
        for r in live:
            assert r.process is not None
            if r.process.poll() is None:
                log.info("stoppe %s (PID %s)", r.service.name, r.process.pid)
            signal_group(r.process.pid, signal.SIGTERM)
        for r in live:
            assert r.process is not None
            pgid = r.process.pid
            try:
                r.process.wait(r.service.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s reagiert nicht auf SIGTERM: SIGKILL", r.service.name)
            if not wait_gone(partial(group_alive, pgid), 2.0):
                signal_group(pgid, signal.SIGKILL)
            r.process.wait()
            self._pid_file(r.service.name).unlink(missing_ok=True)
        self.status = "gestoppt"
        self.save()

    def run(self, steps: Sequence[Step], on_ready: Callable[[], None] | None = None) -> int:
        """Run the plan, call `on_ready`, watch until SIGTERM/SIGINT, stop everything.
        Exit code: 0, or 1 when the start-up failed (the reason in ``state.json`` and the
        log)."""
        self.run_dir.create()
        self.install_signal_handlers()
        self.run_dir.write_pid(self.run_dir.supervisor_pid, os.getpid())
        self.save()
        code = 0
        try:
            self.run_plan(steps)
            self.watch(on_ready=on_ready)
        except SetupFailed as exc:
            log.error("Start fehlgeschlagen: %s", exc)
            self.message, code = str(exc), 1
        finally:
            failed_message = self.message
            self.stop_all()
            if code:
                self.status, self.message = "fehlgeschlagen", failed_message
                self.save()
            self.run_dir.supervisor_pid.unlink(missing_ok=True)
        return code


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:
        return False


# --- stopping from outside (`kel down`) ------------------------------------------------


@dataclass(frozen=True)
class Stopped:
    """What `stop` found and did, per name: "gestoppt", "nicht gelaufen", "SIGKILL"."""

    results: dict[str, str]


def stop(run_dir: RunDir, timeout: float = 40.0) -> Stopped:
    """Stop what the supervisor of `run_dir` started: SIGTERM to the supervisor (it stops
    its services); whatever a PID file still names afterwards (the supervisor was killed,
    or did not finish in `timeout` s) gets SIGTERM to its group and SIGKILL after its stop
    timeout. Only PIDs whose start time matches ``state.json`` are signalled."""
    results: dict[str, str] = {}
    state = run_dir.read_state()
    supervisor = run_dir.supervisor()
    if supervisor is not None:
        pid, ticks = supervisor
        os.kill(pid, signal.SIGTERM)
        gone = wait_gone(lambda: is_same_process(pid, ticks), timeout)
        if not gone:
            os.kill(pid, signal.SIGKILL)
        results["supervisor"] = "gestoppt" if gone else "SIGKILL"
    run_dir.supervisor_pid.unlink(missing_ok=True)
    services = state.get("services", {})
    for pid_file in run_dir.pid_files() if run_dir.pids.is_dir() else ():
        name = pid_file.stem
        results[name] = _stop_left_over(pid_file, services.get(name, {}))
        pid_file.unlink(missing_ok=True)
    return Stopped(results)


def _stop_left_over(pid_file: Path, recorded: Mapping[str, Any]) -> str:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return "nicht gelaufen"
    if recorded.get("pid") != pid or not is_same_process(pid, recorded.get("start")):
        return "nicht gelaufen"
    signal_group(pid, signal.SIGTERM)
    if wait_gone(partial(group_alive, pid), float(recorded.get("stop_timeout", 30.0))):
        return "gestoppt"
    signal_group(pid, signal.SIGKILL)
    return "SIGKILL"


# --- status ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    alive: bool
    port: int | None
    restarts: int


def service_status(run_dir: RunDir) -> list[ServiceStatus]:
    """Every service of ``state.json`` with whether its recorded PID is still that process."""
    services = run_dir.read_state().get("services", {})
    rows = []
    for name, s in services.items():
        pid = s.get("pid")
        alive = pid is not None and is_same_process(pid, s.get("start"))
        rows.append(ServiceStatus(name, pid, alive, s.get("port"), int(s.get("restarts", 0))))
    return rows


def configure_logging(run_dir: RunDir) -> None:
    """Supervisor log lines with time stamps to ``logs/supervisor.log``."""
    run_dir.create()
    handler = logging.FileHandler(run_dir.logs / "supervisor.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
