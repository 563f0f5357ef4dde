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

from prefect import State, flow
from prefect.runtime import flow_run

from flows.sweep import finish_sweep, run_sweep
from models.clock import local_date, start_of_day
from models.run_names import simulation_run_name, sweep_run_name
from models.settings import Settings
from tasks.prefect_view import tag_run_with_cases
from tasks.steps import apply_pending, fire_timers, load_case_references, send_notifications

MORNING_SWEEP = timedelta(hours=6)
EVENING = timedelta(hours=18)


def simulation_name() -> str:
    """The run's name: "Simulation ab 02.03.2026 · 14 Tage" (`models.run_names`)."""
    parameters = flow_run.parameters
    start = parameters["start"]
    day = start if isinstance(start, date) else date.fromisoformat(str(start))
    return simulation_run_name(day, int(parameters["days"]))


def simulated_sweep_name() -> str:
    """The run's name at its start: "Fristprüfung 13.03.2026" for the simulated `now`;
    renamed with the count of timers when they are fired (`flows.sweep.run_sweep`)."""
    now = flow_run.parameters["now"]
    moment = now if isinstance(now, datetime) else datetime.fromisoformat(str(now))
    return sweep_run_name(local_date(moment))


@flow(name="tage-simulieren", flow_run_name=simulation_name)
def simulate_days(start: date, days: int, coordinator_seed: int | None = None) -> dict[str, int]:
    """Run `days` simulated days from `start` (local dates). Returns totals: commands
    applied and rejected, timers fired, notifications sent and failed. With
    `coordinator_seed`, the demo's Koordination works the escalation inbox between the
    morning sweep and the evening (`demo.coordinator.work_escalations`)."""
    settings = Settings()
    totals = dict.fromkeys(("commands", "rejected", "timers", "sent", "failed"), 0)
    touched: set[int] = set()
    for offset in range(days):
        day = start + timedelta(days=offset)
        swept = fire_timers(settings, start_of_day(day) + MORNING_SWEEP)
        if coordinator_seed is not None:
            from demo.coordinator import work_escalations

            work_escalations(settings, day, coordinator_seed)
        applied = apply_pending(settings, start_of_day(day) + EVENING, up_to=day)
        delivered = send_notifications(settings, start_of_day(day) + EVENING)
        touched |= swept.referral_ids | applied.referral_ids
        totals["commands"] += applied.applied
        totals["rejected"] += applied.rejected
        totals["timers"] += swept.fired
        totals["sent"] += delivered.sent
        totals["failed"] += delivered.failed
    tag_run_with_cases(load_case_references(settings, sorted(touched)))
    return totals


@flow(name="fristen-pruefen-simuliert", flow_run_name=simulated_sweep_name)
def sweep_at(now: datetime) -> dict[str, int] | State[dict[str, int]]:
    """The deadline sweep of the deployment ``fristen-pruefen`` as of a simulated `now`
    (aware datetime). Returns the counts of `flows.sweep.run_sweep`."""
    return finish_sweep(run_sweep(Settings(), now))
