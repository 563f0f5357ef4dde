"""Replaying days: the deadline sweep and the inbox, day by day, on a simulated clock.

Used by the demo (``kel demo``) and for catch-up tests. Each simulated day runs the same
tasks as the deployed flows, in the order a real day has them: the morning sweep fires
the timers due by 06:00 (Europe/Berlin), then the day's reports are applied, then what
was queued is sent.

These flows take their clock as a parameter, so they are never deployed (``prefect.yaml``
holds none of them, tests/flows/test_deployments.py checks that no deployed flow takes a
date or time): a run started in the Prefect UI cannot fire a timer early.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from prefect import flow

from flows.sweep import run_sweep
from models.clock import start_of_day
from models.settings import Settings
from tasks.steps import apply_pending, fire_timers, send_notifications, tag_run_with_cases

MORNING_SWEEP = timedelta(hours=6)
EVENING = timedelta(hours=18)


@flow(name="tage-simulieren", flow_run_name="simulation-{start}-{days}-tage")
def simulate_days(start: date, days: int) -> dict[str, int]:
    """Run `days` simulated days from `start` (local dates). Returns totals: commands
    applied and rejected, timers fired, notifications sent and failed."""
    settings = Settings()
    totals = dict.fromkeys(("commands", "rejected", "timers", "sent", "failed"), 0)
    touched: set[int] = set()
    for offset in range(days):
        day = start + timedelta(days=offset)
        swept = fire_timers(settings, start_of_day(day) + MORNING_SWEEP)
        applied = apply_pending(settings, start_of_day(day) + EVENING, up_to=day)
        delivered = send_notifications(settings, start_of_day(day) + EVENING)
        touched |= swept.referral_ids | applied.referral_ids
        totals["commands"] += applied.applied
        totals["rejected"] += applied.rejected
        totals["timers"] += swept.fired
        totals["sent"] += delivered.sent
        totals["failed"] += delivered.failed
    tag_run_with_cases(sorted(touched))
    return totals


@flow(name="fristen-pruefen-simuliert", flow_run_name="simulation-sweep-{now}")
def sweep_at(now: datetime) -> dict[str, int]:
    """The deadline sweep of the deployment ``fristen-pruefen`` as of a simulated `now`
    (aware datetime). Returns the counts of `flows.sweep.run_sweep`."""
    return run_sweep(Settings(), now)
