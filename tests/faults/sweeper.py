"""A deadline sweep in a process of its own, for the fault tests to kill or run twice.

    python -m tests.faults.sweeper <now, ISO 8601> [--wait-for FILE] [--batch N]

Does what the deployed flow's tasks do (`flows.sweep.run_sweep`: `tasks.steps.fire_timers`,
then `send_notifications`) with the same functions and `Settings()` from the environment
(``KEL_DATABASE_URL``, ``KEL_SMTP_URL``), at the given `now` instead of the system clock
and without a Prefect server (a flow run's bookkeeping is not what is under test; its
process dying is). Prints ``ready``, ``fired N``, ``sent N`` as it goes. With
``--wait-for`` it waits (after its imports) until FILE exists, so two sweepers start
together.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from functools import partial
from pathlib import Path

from models.db import session
from models.process import load_registry
from models.settings import Settings
from tasks.delivery import deliver_notifications
from tasks.steps import notifier_for
from tasks.sweep import fire_due_timers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("now", type=datetime.fromisoformat)
    parser.add_argument("--wait-for", type=Path, default=None)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args(argv)
    settings = Settings()
    factory = partial(session, settings.database_url)
    registry = load_registry(settings.process_dir)
    print("ready", flush=True)
    while args.wait_for is not None and not args.wait_for.exists():
        time.sleep(0.01)
    swept = fire_due_timers(factory, registry, settings, args.now, batch=args.batch)
    print(f"fired {swept.fired}", flush=True)
    notifier = notifier_for(settings)
    if notifier is not None:
        delivered = deliver_notifications(factory, notifier, settings, args.now, batch=args.batch)
        print(f"sent {delivered.sent}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
