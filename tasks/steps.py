"""The Prefect tasks: one I/O step each, safe to repeat, parameters are IDs and dates.

Flows build `Settings` once and read the clock once, then call these in order.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import partial

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from models.db import session
from models.process import load_registry
from models.settings import Settings
from models.tables import Command
from notifications import AppriseNotifier, Notifier
from tasks.commands import Applied, apply_commands, pending_commands
from tasks.delivery import Delivered, deliver_notifications
from tasks.sweep import Swept, fire_due_timers

#: I/O steps are idempotent, so a passing database or network fault is retried.
RETRIES = 2


@task(name="Befehle anwenden", cache_policy=NO_CACHE, retries=RETRIES, retry_delay_seconds=1)
def apply_pending(
    settings: Settings, now: datetime, up_to: date | None = None, ids: list[int] | None = None
) -> Applied:
    """Apply pending inbox commands (all, those occurred by `up_to`, or just `ids`)."""
    factory = partial(session, settings.database_url)
    with factory() as s:
        wanted = pending_commands(s, up_to)
    if ids is not None:
        wanted = [i for i in wanted if i in set(ids)]
    result = apply_commands(factory, wanted, load_registry(settings.process_dir), settings, now)
    if result.applied or result.rejected:
        get_run_logger().info(
            "Befehle angewendet: %d, abgelehnt: %d", result.applied, result.rejected
        )
    return result


@task(name="Fällige Timer auslösen", cache_policy=NO_CACHE, retries=RETRIES, retry_delay_seconds=1)
def fire_timers(settings: Settings, now: datetime) -> Swept:
    """Fire every due timer once (deadline sweep)."""
    result = fire_due_timers(
        partial(session, settings.database_url),
        load_registry(settings.process_dir),
        settings,
        now,
    )
    if result.fired:
        get_run_logger().info(
            "Timer ausgelöst: %d (wirksam %d, übersprungen %d)",
            result.fired,
            result.acted,
            result.skipped,
        )
    return result


def notifier_for(settings: Settings) -> Notifier | None:
    """The e-mail notifier of `settings`, or None when no SMTP server is configured."""
    if settings.smtp_url is None:
        return None
    return AppriseNotifier(settings.smtp_url.get_secret_value(), settings.mail_from)


@task(
    name="Benachrichtigungen senden", cache_policy=NO_CACHE, retries=RETRIES, retry_delay_seconds=1
)
def send_notifications(
    settings: Settings, now: datetime, referral_ids: list[int] | None = None
) -> Delivered:
    """Send pending and failed notifications (all, or those of `referral_ids`); without
    SMTP they stay pending."""
    notifier = notifier_for(settings)
    if notifier is None:
        get_run_logger().warning("Kein SMTP-Server konfiguriert (KEL_SMTP_URL): nichts gesendet")
        return Delivered()
    result = deliver_notifications(
        partial(session, settings.database_url),
        notifier,
        settings,
        now,
        referral_ids=referral_ids,
    )
    if result.sent or result.failed:
        get_run_logger().info(
            "Benachrichtigungen gesendet: %d, fehlgeschlagen: %d, aufgegeben: %d",
            result.sent,
            result.failed,
            result.given_up,
        )
    return result


@task(name="Fall des Befehls laden", cache_policy=NO_CACHE, retries=RETRIES, retry_delay_seconds=1)
def load_command_cases(settings: Settings, command_id: int) -> list[int]:
    """The referral ids command `command_id` changed (empty for an intake or unknown id)."""
    with session(settings.database_url) as s:
        command = s.get(Command, command_id)
        return [command.referral_id] if command and command.referral_id else []


@task(name="Lauf mit Fällen verschlagworten", cache_policy=NO_CACHE)
def tag_run_with_cases(referral_ids: list[int]) -> None:
    """Add a ``fall-<id>`` tag per referral to the current flow run, so a coordinator
    finds a case's runs in the Prefect UI."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or not referral_ids:
        return
    run = context.flow_run
    tags = sorted(set(run.tags) | {case_tag(i) for i in referral_ids})
    with get_client(sync_client=True) as client:
        client.update_flow_run(run.id, tags=tags)


def case_tag(referral_id: int) -> str:
    """The Prefect tag of a case's flow runs."""
    return f"fall-{referral_id}"
