"""The Prefect tasks: one I/O step each, safe to repeat, parameters are IDs and dates.

Task names are ASCII ("Faellige", "pruefung"): the run graph of the Prefect UI draws only
ASCII characters (`models.run_names`).

Flows build `Settings` once and read the clock once, then call these in order.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import partial

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlmodel import col, select

from models.clock import SystemClock
from models.db import session
from models.process import load_registry
from models.settings import Settings
from models.tables import Referral
from notifications import Notifier, SmtpNotifier
from tasks.commands import Applied, apply_commands, pending_commands
from tasks.delivery import Delivered, deliver_notifications
from tasks.sweep import Swept, fire_due_timers
from tasks.watch import record_sweep_run

#: I/O steps are idempotent, so a passing database or network fault is retried.
RETRIES = 2


@task(
    name="Befehle anwenden",
    task_run_name="Befehle anwenden",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=1,
)
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


@task(
    name="Faellige Timer ausloesen",
    task_run_name="Faellige Timer ausloesen",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=1,
)
def fire_timers(settings: Settings, now: datetime) -> Swept:
    """Fire every due timer once (deadline sweep); cases that failed are logged (WARNING)."""
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
    if result.failed:  # rolled back alone; their timers fire at the next sweep
        get_run_logger().warning(
            "Fälle mit Fehler, nicht ausgelöst: %d (nächste Fristenprüfung)", result.failed
        )
    return result


def notifier_for(settings: Settings) -> Notifier | None:
    """The e-mail notifier of `settings` (SMTP, stable Message-ID, one connection per
    batch: `notifications.smtp`), or None when no SMTP server is configured."""
    if settings.smtp_url is None:
        return None
    return SmtpNotifier.from_url(settings.smtp_url.get_secret_value(), settings.mail_from)


@task(
    name="Benachrichtigungen senden",
    task_run_name="Benachrichtigungen senden",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=1,
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
        lease_clock=SystemClock().now,  # claims on the wall clock (tasks.delivery)
    )
    log_delivered(result)
    return result


def log_delivered(result: Delivered) -> None:
    """Log the counts of a delivery: INFO when all went out, WARNING when any failed or
    was given up (so it shows even with ``PREFECT_LOGGING_LEVEL=WARNING``)."""
    if not (result.sent or result.problems):
        return
    level = logging.WARNING if result.problems else logging.INFO
    get_run_logger().log(
        level,
        "Benachrichtigungen gesendet: %d, fehlgeschlagen: %d, aufgegeben: %d",
        result.sent,
        result.failed,
        result.given_up,
    )


@task(
    name="Fristenpruefung verbuchen",
    task_run_name="Fristenpruefung verbuchen",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=1,
)
def record_sweep(
    settings: Settings,
    started_at: datetime,
    finished_at: datetime,
    fired: int,
    delivered: Delivered,
) -> None:
    """Record a completed deadline sweep (`tasks.watch`: health check, dashboard)."""
    with session(settings.database_url) as s:
        record_sweep_run(s, started_at, finished_at, fired, delivered.sent, delivered.problems)


@task(
    name="Aktenzeichen der Faelle laden",
    task_run_name="Aktenzeichen der Faelle laden",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=1,
)
def load_case_references(settings: Settings, referral_ids: list[int]) -> list[str]:
    """The Aktenzeichen of the referrals `referral_ids` (sorted; unknown ids are left out)."""
    if not referral_ids:
        return []
    with session(settings.database_url) as s:
        found = s.exec(select(Referral.reference).where(col(Referral.id).in_(referral_ids)))
        return sorted(found)
