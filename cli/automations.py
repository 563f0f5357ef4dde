"""Prefect automations that `make up` keeps on the server (``python -m cli.automations``).

**Zombie flow runs.** A flow run whose process dies with its worker (SIGKILL, power cut,
OOM) reports nothing more and would stay "Running" for ever, holding the deployment's
concurrency slot (the deadline sweep has a limit of 1) until the slot's lease of 300 s
ends, and still showing as running after that. Every flow run of a deployment sends a
heartbeat event every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds (30, Prefect's
minimum; ``prefect.yaml`` sets it for the work pool, `cli.up` for the workers).

The automation below (Prefect's documented "detect zombie flows" pattern, a proactive
trigger of the open-source server) fires when a run has become Running or sent a heartbeat
and then sent neither another heartbeat nor a final state within `ZOMBIE_WITHIN_SECONDS`;
it sets the run to Crashed, and leaving Running releases the run's concurrency slot
(``ReleaseFlowConcurrencySlots``). Prefect's documented pattern starts the timer at the
first heartbeat only: a process killed between Running and its first heartbeat stayed
Running (checked here). The server evaluates proactive triggers every 5 s: a dead run is
Crashed at most ``45 + 5`` s after its last sign of life, i.e. within a minute of its
death. A run whose heartbeat is late by more than 15 s is marked Crashed although alive
and loses its slot: the price of the one-minute bound (the flows are idempotent; the next
run does what is left).

A run whose process dies while still Pending holds its slot until the slot's first lease
ends: ``prefect.yaml`` sets ``grace_period_seconds: 60`` (Prefect's default: 300 s).

**Overdue deadline sweep** (issue 9 point 6). A second proactive trigger expects a
``prefect.flow-run.Completed`` event of a run of the deployment ``fristen-pruefen`` within
``KEL_SWEEP_STALE_AFTER`` (default 2 h, the same bound as ``GET /api/v1/health``); when none
comes, the server's SendNotification action mails the admin address (``KEL_ADMIN_EMAIL``)
through ``KEL_SMTP_URL``, again every further 2 h while it stays overdue. The mail is sent
by the Prefect server itself, so it goes out when workers or the API are down.
Prefect 3.8.8 has no SMTP notification block; its ``SlackWebhook`` block hands any URL that
is not a Slack webhook to Apprise unchanged (``SlackWebhook.block_initialization``), so the
block ``kel-admin-alarm`` is a ``SlackWebhook`` holding an Apprise ``mailto://`` URL
(`alert_mail_url`; tested against a real SMTP server). Without ``KEL_SMTP_URL`` or
``KEL_ADMIN_EMAIL`` the alert is not created (the log says so).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

if TYPE_CHECKING:
    from prefect.blocks.notifications import SlackWebhook

    from models.settings import Settings

ZOMBIE_NAME = "kel-flow: abgestürzte Läufe als Crashed markieren"
ZOMBIE_WITHIN_SECONDS = 45
HEARTBEAT_SECONDS = 30

ZOMBIE_AUTOMATION: dict[str, Any] = {
    "name": ZOMBIE_NAME,
    "description": (
        "Ein Flow-Lauf, dessen Prozess keine Lebenszeichen (Heartbeats) mehr sendet, wird "
        f"nach {ZOMBIE_WITHIN_SECONDS} s als Crashed markiert; das gibt seinen "
        "Concurrency-Slot frei (cli/automations.py)."
    ),
    "enabled": True,
    "trigger": {
        "type": "event",
        "posture": "Proactive",
        # Running too: a process killed before its first heartbeat is caught as well
        "after": ["prefect.flow-run.heartbeat", "prefect.flow-run.Running"],
        "expect": [
            "prefect.flow-run.heartbeat",
            "prefect.flow-run.Completed",
            "prefect.flow-run.Failed",
            "prefect.flow-run.Cancelled",
            "prefect.flow-run.Crashed",
        ],
        "match": {"prefect.resource.id": ["prefect.flow-run.*"]},
        "for_each": ["prefect.resource.id"],
        "threshold": 1,
        "within": ZOMBIE_WITHIN_SECONDS,
    },
    "actions": [
        {
            "type": "change-flow-run-state",
            "state": "CRASHED",
            "message": f"Keine Heartbeats seit {ZOMBIE_WITHIN_SECONDS} s: Prozess verloren.",
        }
    ],
}

AUTOMATIONS = (ZOMBIE_AUTOMATION,)

SWEEP_DEPLOYMENT = "fristen-pruefen"
ALERT_NAME = "kel-flow: Fristenprüfung überfällig melden"
ALERT_BLOCK_NAME = "kel-admin-alarm"
ALERT_SUBJECT = "kel-flow: Fristenprüfung überfällig"


def sweep_alert_automation(block_document_id: UUID, within: timedelta) -> dict[str, Any]:
    """The automation that mails the admin when no run of ``fristen-pruefen`` completed
    within `within` (proactive trigger; the block `block_document_id` sends the mail).
    The text names no person and no case (only the deployment and the bound)."""
    hours = within.total_seconds() / 3600
    bound = f"{hours:g} Stunde" if hours == 1 else f"{hours:g} Stunden"
    return {
        "name": ALERT_NAME,
        "description": (
            f"E-Mail an die Administration, wenn {SWEEP_DEPLOYMENT} {bound} lang keinen "
            "Lauf abgeschlossen hat (cli/automations.py)."
        ),
        "enabled": True,
        "trigger": {
            "type": "event",
            "posture": "Proactive",
            "expect": ["prefect.flow-run.Completed"],
            "match": {"prefect.resource.id": ["prefect.flow-run.*"]},
            "match_related": {
                "prefect.resource.role": "deployment",
                "prefect.resource.name": [SWEEP_DEPLOYMENT],
            },
            "for_each": [],
            "threshold": 1,
            "within": within.total_seconds(),
        },
        "actions": [
            {
                "type": "send-notification",
                "block_document_id": str(block_document_id),
                "subject": ALERT_SUBJECT,
                "body": (
                    f"Die Fristenprüfung ({SWEEP_DEPLOYMENT}) hat seit {bound} keinen Lauf "
                    "abgeschlossen. Erinnerungen und Eskalationen von Fristen bleiben aus, "
                    "bis sie wieder läuft.\n\nBitte prüfen: läuft der Prefect-Worker "
                    "(`kel status`), ist der letzte Lauf in der Prefect-UI fehlgeschlagen, "
                    "antwortet GET /api/v1/health?"
                ),
            }
        ],
    }


def alert_mail_url(smtp_url: str, admin_email: str, sender: str) -> str:
    """The Apprise ``mailto://`` URL `smtp_url` (``KEL_SMTP_URL``) sending to `admin_email`
    only, from `sender` unless the URL names a sender (``from=``)."""
    parts = urlsplit(smtp_url)
    query = dict(parse_qsl(parts.query))
    query["to"] = admin_email
    query.setdefault("from", sender)
    return urlunsplit(parts._replace(query=urlencode(query)))


def alert_block(settings: Settings) -> SlackWebhook | None:
    """The notification block of the alert (see the module docstring), or None when
    ``KEL_SMTP_URL`` or ``KEL_ADMIN_EMAIL`` is not set."""
    from prefect.blocks.notifications import SlackWebhook
    from pydantic import SecretStr

    if settings.smtp_url is None or not settings.admin_email:
        return None
    url = alert_mail_url(
        settings.smtp_url.get_secret_value(), settings.admin_email, settings.mail_from
    )
    return SlackWebhook(url=SecretStr(url), notify_type="warning")


async def automation_specs(settings: Settings) -> list[dict[str, Any]]:
    """`AUTOMATIONS`, plus the sweep alert when its block could be saved (``kel-admin-alarm``,
    overwritten with the current settings)."""
    block = alert_block(settings)
    if block is None:
        return list(AUTOMATIONS)
    block_id = await block.asave(ALERT_BLOCK_NAME, overwrite=True)
    return [*AUTOMATIONS, sweep_alert_automation(block_id, settings.sweep_stale_after)]


async def ensure_automations() -> list[str]:
    """Create each automation (`automation_specs`) on the server of ``PREFECT_API_URL``, or
    update the one of the same name; returns what was done per automation (for the log)."""
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore

    from models.settings import Settings

    specs = await automation_specs(Settings())
    done = []
    if len(specs) == len(AUTOMATIONS):
        done.append(f"übersprungen: {ALERT_NAME} (KEL_SMTP_URL oder KEL_ADMIN_EMAIL fehlt)")
    async with get_client() as client:
        for spec in specs:
            automation = AutomationCore.model_validate(spec)
            existing = await client.read_automations_by_name(automation.name)
            if existing:
                await client.update_automation(existing[0].id, automation)
                for duplicate in existing[1:]:
                    await client.delete_automation(duplicate.id)
                done.append(f"aktualisiert: {automation.name}")
            else:
                await client.create_automation(automation)
                done.append(f"angelegt: {automation.name}")
    return done


def main() -> int:
    for line in asyncio.run(ensure_automations()):
        print(f"Automation {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
