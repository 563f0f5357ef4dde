"""The deadline sweep deployment: runs on a cron schedule (Europe/Berlin)."""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from models.clock import SystemClock, local_date
from models.settings import Settings
from tasks.steps import apply_pending, fire_timers, send_notifications, tag_run_with_cases


@flow(name="fristen-pruefen")
def deadline_sweep(as_of: datetime | None = None) -> dict[str, int]:
    """Catch up on the inbox, fire every due timer once, send what is queued.

    `as_of` (aware datetime) replaces the clock in tests and simulations. Returns counts:
    commands applied, timers fired, notifications sent and failed.
    """
    settings = Settings()
    now = as_of or SystemClock().now()
    applied = apply_pending(settings, now, up_to=local_date(now))
    swept = fire_timers(settings, now)
    delivered = send_notifications(settings, now)
    tag_run_with_cases(sorted(applied.referral_ids | swept.referral_ids))
    return {
        "commands": applied.applied,
        "timers": swept.fired,
        "sent": delivered.sent,
        "failed": delivered.failed,
    }
