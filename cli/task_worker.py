"""The task worker of the follow-ups (``kel task-worker``): one long-running process.

It serves the background task `flows.commands.carry_out` (Prefect's `TaskWorker`): the
Prefect server pushes each task run the API created with ``.delay()`` over a WebSocket,
and the worker runs it in a thread of its own process, up to ``--limit`` at once. So a
state change's e-mail goes out without a new Python process (issue 9, point 3).

Stopping: on SIGTERM or SIGINT it takes no new task run and waits up to ``--grace``
seconds (20) for the running ones, then exits 0 (a second signal stops at once). A lost
connection to the Prefect server is tried again (1 … 30 s), the process goes on. A task
run killed with the process stays "Running" in Prefect; its e-mails' claims end with
their lease (`tasks.delivery.LEASE`) and the next sweep sends them. Needs
``PREFECT_API_URL`` and the same ``PREFECT_HOME`` (Prefect keeps the task runs'
parameters under ``$PREFECT_HOME/storage``) or ``PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK``
as the API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import warnings
from typing import TYPE_CHECKING

from cli.early_stop import EarlyStop

if TYPE_CHECKING:
    from prefect.task_worker import TaskWorker

# Prefect 3.8.8 keeps the logs of a background task run without a flow run out of its API
# (they stay in this process's log); it warns once per line. The flow run of a single
# command logs to the API as usual; a batch with failed e-mails ends "Mit Fehlern" with
# the counts in its state's message.
warnings.filterwarnings("ignore", message=r"Logger '.*' attempted to send logs to the API")


async def run_task_worker(limit: int, grace: float, early: EarlyStop) -> None:
    """Serve `carry_out` until SIGTERM or SIGINT, then drain (at most `grace` s) and return.
    A lost connection to the Prefect server (an overloaded server refusing the WebSocket)
    is tried again after 1, 2, 4 … 30 s instead of ending the process. A signal noted by
    `early` while Prefect was being imported stops it before it serves."""
    from prefect.task_worker import TaskWorker  # Prefect: after `early` is in place

    from flows.commands import carry_out

    loop, signalled, pause = asyncio.get_running_loop(), asyncio.Event(), 1.0
    if early.requested:  # stopped while starting: nothing to drain
        signalled.set()
    while not signalled.is_set():
        worker = TaskWorker(carry_out, limit=limit)
        serving = asyncio.ensure_future(worker.astart())
        while not worker.started and not serving.done():  # astart installs Prefect's handler
            await asyncio.sleep(0.05)
        for signum in (signal.SIGTERM, signal.SIGINT):  # ours replaces Prefect's (sys.exit)
            loop.add_signal_handler(signum, _on_signal, signalled, serving)
        if early.requested:  # noted while Prefect's own handler was being installed
            signalled.set()
        print(f"Task-Worker bereit: {carry_out.name!r}, höchstens {limit} zugleich.", flush=True)
        waiter = asyncio.ensure_future(signalled.wait())
        await asyncio.wait({serving, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if signalled.is_set():
            await _drain(worker, serving, grace)
            break
        failure = None if serving.cancelled() else serving.exception()
        print(
            f"Task-Worker: Verbindung zum Prefect-Server verloren ({type(failure).__name__}); "
            f"neuer Versuch in {pause:.0f} s",
            flush=True,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signalled.wait(), pause)
        pause = min(pause * 2, 30.0)
    print("Task-Worker beendet.", flush=True)


async def _drain(worker: TaskWorker, serving: asyncio.Future[None], grace: float) -> None:
    """Take no new run; wait up to `grace` seconds for the running ones, then stop."""
    loop = asyncio.get_running_loop()
    if not serving.done():
        print("Task-Worker: Signal, nimmt keine Läufe mehr an.", flush=True)
        deadline = loop.time() + grace
        while worker.current_tasks and loop.time() < deadline and not serving.done():
            await asyncio.sleep(0.2)
        serving.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await serving


def _on_signal(signalled: asyncio.Event, serving: asyncio.Future[None]) -> None:
    """First signal: drain; second: stop at once."""
    if signalled.is_set():
        serving.cancel()
    signalled.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kel task-worker", description=__doc__)
    parser.add_argument("--limit", type=int, default=10, help="Höchstens so viele Läufe zugleich")
    parser.add_argument(
        "--grace", type=float, default=20.0, help="Sekunden, die laufende Läufe nach SIGTERM haben"
    )
    early = EarlyStop()
    args = parser.parse_args(argv)
    asyncio.run(run_task_worker(args.limit, args.grace, early))
    return 0


if __name__ == "__main__":
    sys.exit(main())
