"""What follows a state change: the deployment ``folgen-ausfuehren``.

A state change is decided and committed in the API request (DESIGN §4.2); its e-mails
are outbox rows. This flow sends them for the case of one command, right after the
request. It changes no state; if it never runs (Prefect down), the deadline sweep sends
the outbox later. Parameter: the command id only (Sozialdatenschutz). In the Prefect UI
the run is named for the command's step, tagged with the case and updates the case's card
(issue 10, point 2).
"""

from __future__ import annotations

from prefect import State, flow
from prefect.runtime import flow_run

from flows.outcome import outcome, rejected
from models.clock import SystemClock
from models.db import session
from models.process import load_registry
from models.settings import Settings
from tasks.case_card import command_step
from tasks.prefect_view import load_command_step, publish_case_cards, tag_run_with_cases
from tasks.steps import send_notifications


def follow_up_name() -> str:
    """The run's name, set by Prefect when the run starts (``flow_run_name``): the case's
    Aktenzeichen and the title of the command's step (`tasks.case_card.command_step`),
    e.g. "Z-2026-0001 · Erstgespräch wahrgenommen (Gutschein eingelöst)"; the API names
    the run the same way when it creates it (`api.trigger`). "Befehl 12" when the
    database cannot be read (the run itself then fails in its first task and says why)."""
    command_id = int(flow_run.parameters["command_id"])
    try:
        settings = Settings()
        with session(settings.database_url) as s:
            return command_step(s, command_id, load_registry(settings.process_dir)).run_name
    except Exception:  # a name must never keep a run from starting
        return f"Befehl {command_id}"


@flow(name="folgen-ausfuehren", flow_run_name=follow_up_name, log_prints=False)
def carry_out_follow_ups(command_id: int) -> int | State[int]:
    """Send the pending notifications of the case command `command_id` changed, tag the run
    ``fall-<Aktenzeichen>`` and update the case's card (`tasks.prefect_view`).

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
