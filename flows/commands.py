"""What follows a state change: the deployment ``folgen-ausfuehren``.

A state change is decided and committed in the API request (DESIGN §4.2); its e-mails
are outbox rows. This flow sends them for the case of one command, right after the
request. It changes no state; if it never runs (Prefect down), the deadline sweep sends
the outbox later. Parameter: the command id only (Sozialdatenschutz).
"""

from __future__ import annotations

from prefect import flow

from models.clock import SystemClock
from models.settings import Settings
from tasks.steps import load_command_cases, send_notifications, tag_run_with_cases


@flow(name="folgen-ausfuehren", flow_run_name="folgen-befehl-{command_id}", log_prints=False)
def carry_out_follow_ups(command_id: int) -> int:
    """Send the pending notifications of the case(s) command `command_id` changed.

    Returns the number of e-mails sent. Idempotent: a repeat finds them sent.
    """
    settings = Settings()
    now = SystemClock().now()
    referral_ids = load_command_cases(settings, command_id)
    delivered = send_notifications(settings, now, referral_ids=referral_ids)
    tag_run_with_cases(referral_ids)
    return delivered.sent
