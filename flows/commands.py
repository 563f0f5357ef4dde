"""What follows a state change: the background task ``Folgen ausfuehren`` and its flow.

A state change is decided and committed in the API request (DESIGN §4.2); its e-mails
are outbox rows (`models.tables.Notification`). The API hands the ids of its committed
commands to the task `carry_out` with ``.delay()`` from a thread of its own
(`api.trigger.Background`), and the long-running task worker (`cli.task_worker`,
``kel task-worker``) runs it in its own process: no new Python process per state change,
so an e-mail follows its event in about a second (issue 9, point 3).

In the Prefect UI a run is a task run named for the command's step (`step_name`, e.g.
"Z-2026-0001 · Erstgespräch terminiert"), or "Folgen von 12 Befehlen" for the commands of
a burst that queued up in the API meanwhile (`api.trigger` coalesces them), tagged
``fall-<Aktenzeichen>`` per case (up to `tasks.prefect_view.MAX_CASE_TAGS`) by the API; it
updates each case's card (issue 10, point 2). One run, one delivery: under a burst the
Prefect server is not the bottleneck. (Prefect 3.8.8 keeps the log lines of a task run
without a flow run in the task worker's log; its final state carries the counts when
e-mails failed.) The flow `carry_out_follow_ups` does the same for one command as a flow
run with a task per step; it is no longer deployed (direct calls: tests, a manual re-run).

Neither changes state; if they never run (Prefect or the task worker down), the deadline
sweep sends the outbox later. E-mails are claimed (`tasks.delivery`), so a sweep or
another run working on the same rows sends each at most once. Parameters: command ids
only; logs: counts and Aktenzeichen (Sozialdatenschutz).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import State, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.outcome import outcome, rejected
from models.clock import SystemClock
from models.db import session
from models.german import anzahl
from models.process import load_registry
from models.settings import Settings
from tasks.case_card import CommandStep, command_step
from tasks.delivery import Delivered
from tasks.prefect_view import load_command_step, publish_case_cards, tag_run_with_cases
from tasks.steps import RETRIES, send_notifications

#: The name of the background task (ASCII: `models.run_names`); its runs are named by
#: `task_run_name`.
TASK_NAME = "Folgen ausfuehren"


def follow_up_name() -> str:
    """The run's name, set by Prefect when the run starts (``flow_run_name``): the case's
    Aktenzeichen and the title of the command's step (`step_name`)."""
    return step_name(int(flow_run.parameters["command_id"]))


def step_name(command_id: int) -> str:
    """The name of the runs of command `command_id`: the case's Aktenzeichen and the title
    of its step (`tasks.case_card.command_step`), e.g. "Z-2026-0001 · Erstgespräch
    wahrgenommen (Gutschein eingelöst)"; the API names the task run of `carry_out` the
    same way (`api.trigger`). "Befehl 12" when the database cannot be read (the run then
    fails in its first task and says why)."""
    try:
        settings = Settings()
        with session(settings.database_url) as s:
            return command_step(s, command_id, load_registry(settings.process_dir)).run_name
    except Exception:  # a name must never keep a run from starting
        return f"Befehl {command_id}"


@flow(name="folgen-ausfuehren", flow_run_name=follow_up_name, log_prints=False)
def carry_out_follow_ups(command_id: int) -> int | State[int]:
    """Send the pending notifications of the case command `command_id` changed, tag the run
    ``fall-<Aktenzeichen>`` and update the case's card (`tasks.prefect_view`). No
    deployment: `carry_out` runs it in the task worker's process.

    Returns the number of e-mails sent (ends "Mit Fehlern" when any failed, and
    "Abgelehnt" with the reason when the process refused the command: `flows.outcome`).
    Idempotent: a repeat finds them sent.
    """
    settings = Settings()
    now = SystemClock().now()
    step = load_command_step(settings, command_id)
    tag_run_with_cases([step.reference] if step.reference else [])
    if step.rejected:
        publish_case_cards(settings, [step.case_id] if step.case_id else [], now)
        return rejected(0, step.rejected)
    delivered = send_notifications(settings, now, referral_ids=list(step.referral_ids))
    publish_case_cards(settings, step.referral_ids, now)
    return outcome(delivered.sent, delivered)


# --- the background task of the task worker ---------------------------------------------


def batch_name(count: int) -> str:
    """The name of a run carrying out `count` (> 1) commands: "Folgen von 12 Befehlen"."""
    return f"Folgen von {anzahl(count, 'Befehl', 'Befehlen')}"


def task_run_name(parameters: dict[str, Any]) -> str:
    """The name of a run of `carry_out` with `parameters` ``{"command_ids": [...]}``: the
    step of a single command (`step_name`), else `batch_name`."""
    ids = [int(i) for i in parameters.get("command_ids") or []]
    return step_name(ids[0]) if len(ids) == 1 else batch_name(len(ids))


@task(
    name=TASK_NAME,
    task_run_name=task_run_name,  # type: ignore[arg-type]  # Prefect's Protocol is a class
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=1,
)
def carry_out(command_ids: list[int]) -> int | State[int]:
    """Carry out what follows the committed commands `command_ids` (see the module): the
    e-mails of the cases they changed, in one delivery, and the cases' cards
    (`carry_out_steps`). Returns the number of e-mails sent, or the run's final state
    (Completed "Mit Fehlern", "Abgelehnt"). Idempotent: a repeat finds the e-mails sent."""
    settings = Settings()
    registry = load_registry(settings.process_dir)
    with session(settings.database_url) as s:
        steps = [command_step(s, command_id, registry) for command_id in command_ids]
    return carry_out_steps(settings, SystemClock().now(), steps)


def carry_out_steps(
    settings: Settings, now: datetime, steps: list[CommandStep]
) -> int | State[int]:
    """Send the pending e-mails of the referrals `steps` (of one command or several)
    changed, in one delivery, and update the cards of their cases as of `now` (aware).
    Returns the number of e-mails sent, or a Completed state named "Mit Fehlern" when any
    failed, "Abgelehnt" when every command was refused (`flows.outcome`). Runs inside a
    Prefect task or flow run."""
    referral_ids = sorted({i for step in steps if not step.rejected for i in step.referral_ids})
    cases = sorted({step.case_id for step in steps if step.case_id} | set(referral_ids))
    get_run_logger().info(
        "Folgen von %s, %s",
        anzahl(len(steps), "Befehl", "Befehlen"),
        anzahl(len({s.reference for s in steps if s.reference}), "Fall", "Fällen"),
    )
    delivered = (
        send_notifications.fn(settings, now, referral_ids=referral_ids)
        if referral_ids
        else Delivered()
    )
    publish_case_cards.fn(settings, cases, now)
    refused = [step.rejected for step in steps if step.rejected]
    if steps and len(refused) == len(steps):
        why = f"{anzahl(len(refused), 'Befehl', 'Befehle')} abgelehnt; nichts zu tun"
        return rejected(0, refused[0] if len(refused) == 1 else why)
    if refused:
        get_run_logger().warning("Abgelehnte Befehle ohne Folgen: %d", len(refused))
    return outcome(delivered.sent, delivered)
