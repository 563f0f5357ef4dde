"""Flows that apply what caseworkers and providers report (inbox commands)."""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from models.clock import SystemClock
from models.settings import Settings
from tasks.steps import apply_pending, send_notifications, tag_run_with_cases


@flow(name="befehl-anwenden", flow_run_name="befehl-{command_id}", log_prints=False)
def process_command(command_id: int, as_of: datetime | None = None) -> int:
    """Apply one recorded command (intake, referral start or event), then notify.

    Parameter: the inbox id only (Sozialdatenschutz). Returns the number applied (0 if
    it was already applied or is rejected). Idempotent: a repeat finds it applied.
    """
    settings = Settings()
    now = as_of or SystemClock().now()
    applied = apply_pending(settings, now, ids=[command_id])
    send_notifications(settings, now)
    tag_run_with_cases(sorted(applied.referral_ids))
    return applied.applied


@flow(name="posteingang-abarbeiten")
def process_inbox(as_of: datetime | None = None) -> int:
    """Apply every pending command in arrival order (outbox drain after downtime)."""
    settings = Settings()
    now = as_of or SystemClock().now()
    applied = apply_pending(settings, now)
    send_notifications(settings, now)
    tag_run_with_cases(sorted(applied.referral_ids))
    return applied.applied
