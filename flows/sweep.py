"""The deadline sweep deployment: runs on a cron schedule (Europe/Berlin).

The deployed flow takes no parameter, above all no clock: anyone who may start a run in
the Prefect UI must not be able to fire a timer early (DESIGN §3, §4.2). Tests and
simulations call `run_sweep` with their own clock instead.
"""

from __future__ import annotations

from datetime import datetime

from prefect import State, flow

from flows.outcome import outcome
from models.clock import SystemClock, local_date
from models.run_names import sweep_run_name
from models.settings import Settings
from tasks.delivery import Delivered, RunClock
from tasks.prefect_view import publish_case_cards, rename_run, tag_run_with_cases
from tasks.steps import fire_timers, load_case_references, record_sweep, send_notifications


def run_sweep(settings: Settings, now: datetime) -> dict[str, int]:
    """One deadline sweep at `now` (aware datetime): fire every timer due by `now` once,
    on the locked path of every state change, then send every e-mail still pending
    (the outbox, also of API events whose follow-up flow did not run).

    The entry point for tests and simulations with a fake clock; the deployed flow calls
    it with the system clock. Returns counts: timers fired, notifications sent, failed
    and given up. A completed sweep is recorded (`models.tables.SweepRun`: health check,
    dashboard). In the Prefect UI the run is renamed "Fristprüfung 25.11.2026 · 14 Timer",
    tagged with the cases it changed and their cards are updated (`tasks.prefect_view`).
    """
    clock = RunClock(now)
    swept = fire_timers(settings, now)
    rename_run(sweep_run_name(local_date(now), swept.fired))
    delivered = send_notifications(settings, now)
    record_sweep(settings, now, clock(), swept.fired, delivered)
    touched = sorted(swept.referral_ids)
    tag_run_with_cases(load_case_references(settings, touched))
    publish_case_cards(settings, touched, now)
    return {
        "timers": swept.fired,
        "sent": delivered.sent,
        "failed": delivered.failed,
        "given_up": delivered.given_up,
    }


def finish_sweep(counts: dict[str, int]) -> dict[str, int] | State[dict[str, int]]:
    """The end of a sweep flow run: `counts`, or Completed "Mit Fehlern" when e-mails
    failed or were given up (`flows.outcome`)."""
    return outcome(counts, Delivered(counts["sent"], counts["failed"], counts["given_up"]))


def sweep_name() -> str:
    """The run's name when it starts: "Fristprüfung 25.11.2026" (system clock's day)."""
    return sweep_run_name(local_date(SystemClock().now()))


@flow(name="fristen-pruefen", flow_run_name=sweep_name)
def deadline_sweep() -> dict[str, int] | State[dict[str, int]]:
    """Fire every due timer once and send what is queued, as of the system clock.
    Returns the counts of `run_sweep` (ends "Mit Fehlern" when e-mails failed)."""
    return finish_sweep(run_sweep(Settings(), SystemClock().now()))
