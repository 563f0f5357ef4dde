"""`make up`'s automations on a real Prefect server (the session's test server): created once,
updated in place by a second run, the alert's action pointing at the saved mail block."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

from cli.automations import ALERT_BLOCK_NAME, ALERT_NAME, ZOMBIE_NAME, ensure_automations


async def _server_state() -> tuple[int, int, EventTrigger, SendNotification, str | None]:
    async with get_client() as client:
        alerts = await client.read_automations_by_name(ALERT_NAME)
        zombies = await client.read_automations_by_name(ZOMBIE_NAME)
        (action,) = alerts[0].actions
        assert isinstance(action, SendNotification)
        block = await client.read_block_document(action.block_document_id)
        trigger = alerts[0].trigger
        assert isinstance(trigger, EventTrigger)
        return len(alerts), len(zombies), trigger, action, block.name


def test_make_up_creates_the_sweep_alert_once_and_updates_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KEL_SMTP_URL", "mailto://127.0.0.1:2525/?smtp=127.0.0.1&mode=insecure")
    monkeypatch.setenv("KEL_ADMIN_EMAIL", "admin@jc.example")
    first = asyncio.run(ensure_automations())
    assert f"angelegt: {ALERT_NAME}" in first or f"aktualisiert: {ALERT_NAME}" in first
    monkeypatch.setenv("KEL_SWEEP_STALE_AFTER", "PT3H")
    assert f"aktualisiert: {ALERT_NAME}" in asyncio.run(ensure_automations())
    alerts, zombies, trigger, action, block_name = asyncio.run(_server_state())
    assert (alerts, zombies) == (1, 1)
    assert trigger.posture == Posture.Proactive and trigger.within == timedelta(hours=3)
    assert block_name == ALERT_BLOCK_NAME and "seit 3 Stunden" in action.body
