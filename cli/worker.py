"""A Prefect process worker that stops on SIGTERM (``kel worker``).

``prefect worker start`` 3.8.8 turns SIGTERM into a SIGINT to itself, and that SIGINT only
cancels a task the worker survives: it goes on polling and starting new flow runs until a
second SIGTERM kills it outright (checked here). This entry point runs Prefect's own
`ProcessWorker` and stops it on SIGTERM or SIGINT:

1. it takes no new flow run from the pool at once;
2. it waits up to ``--grace`` seconds (default 20) for the flow runs it has started to end
   (their processes report their states themselves);
3. then it stops and exits with 0. A run still going then is ended by Prefect with the
   worker and left "Running"; the heartbeat automation (`cli.automations`) marks it Crashed
   within a minute and so frees its concurrency slot. A second signal stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from cli.early_stop import EarlyStop


async def run_worker(
    pool: str, name: str | None, limit: int | None, grace: float, early: EarlyStop
) -> None:
    """Poll `pool` until SIGTERM or SIGINT (also one `early` noted while starting), then
    drain (at most `grace` seconds) and return."""
    from cli.process_worker import StoppableWorker  # Prefect: after `early` is in place

    if early.requested:  # stopped while starting: nothing to drain
        print("Worker beendet (Signal beim Start).", flush=True)
        return
    worker = StoppableWorker(work_pool_name=pool, name=name, limit=limit)
    task = asyncio.ensure_future(worker.start())
    signalled = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signalled, task)
    if early.requested:
        signalled.set()
    waiter = asyncio.ensure_future(signalled.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        worker.draining = True
        print(f"Worker {worker.name!r}: Signal, nimmt keine Läufe mehr an.", flush=True)
        deadline = loop.time() + grace
        while worker.in_flight and loop.time() < deadline and not task.done():
            await asyncio.sleep(0.2)
        task.cancel()
    waiter.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print(f"Worker {worker.name!r} beendet.", flush=True)


def _on_signal(signalled: asyncio.Event, task: asyncio.Future[None]) -> None:
    """First signal: drain; second: stop at once."""
    if signalled.is_set():
        task.cancel()
    signalled.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kel worker", description=__doc__)
    parser.add_argument("--pool", required=True, help="Work pool (process)")
    parser.add_argument("--name", default=None, help="Name des Workers in Prefect")
    parser.add_argument("--limit", type=int, default=None, help="Höchstens so viele Läufe")
    parser.add_argument(
        "--grace", type=float, default=20.0, help="Sekunden, die laufende Läufe nach SIGTERM haben"
    )
    early = EarlyStop()
    args = parser.parse_args(argv)
    asyncio.run(run_worker(args.pool, args.name, args.limit, args.grace, early))
    return 0


if __name__ == "__main__":
    sys.exit(main())
