"""The deadline sweep deployment: runs on a cron schedule (Europe/Berlin).

The deployed flow takes no parameter, above all no clock: anyone who may start a run in
the Prefect UI must not be able to fire a timer early (DESIGN §3, §4.2). Tests and
simulations call `run_sweep` with their own clock instead.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from models.clock import SystemClock
from models.settings import Settings
from tasks.steps import fire_timers, send_notifications, tag_run_with_cases


def run_sweep(settings: Settings, now: datetime) -> dict[str, int]:
    """One deadline sweep at `now` (aware datetime): fire every timer due by `now` once,
    on the locked path of every state change, then send every e-mail still pending
    (the outbox, also of API events whose follow-up flow did not run).

    The entry point for tests and simulations with a fake clock; the deployed flow calls
    it with the system clock. Returns counts: commands applied, timers fired,
    notifications sent and failed.
    """
    swept = fire_timers(settings, now)
    delivered = send_notifications(settings, now)
    tag_run_with_cases(sorted(swept.referral_ids))
    return {
        "timers": swept.fired,
        "sent": delivered.sent,
        "failed": delivered.failed,
    }


@flow(name="fristen-pruefen")
def deadline_sweep() -> dict[str, int]:
    """Fire every due timer once and send what is queued, as of the system clock.
    Returns the counts of `run_sweep`."""
    return run_sweep(Settings(), SystemClock().now())
