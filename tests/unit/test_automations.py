"""The automations `make up` keeps on the Prefect server (cli/automations.py): the alert of an
overdue deadline sweep, its mail block, and the vacuum of Prefect's run history (cli/up.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from cli.automations import (
    ALERT_NAME,
    ZOMBIE_AUTOMATION,
    alert_block,
    alert_mail_url,
    automation_specs,
    sweep_alert_automation,
)
from cli.up import UpError, vacuum_env
from models.settings import Settings
from notifications import SmtpSink, smtp_url

SMTP = "mailto://mail.example:25/?smtp=mail.example&mode=insecure&from=kel%40jc.example"


def settings(tmp_path: Path, **values: Any) -> Settings:
    """Settings with `values` over the environment's (an explicit None wins too)."""
    return Settings(data_dir=tmp_path, _env_file=None, **values)


def test_the_alert_expects_a_completed_sweep_run_within_two_hours() -> None:
    block_id = uuid4()
    automation = AutomationCore.model_validate(sweep_alert_automation(block_id, timedelta(hours=2)))
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.posture == Posture.Proactive
    assert trigger.within == timedelta(seconds=7200)
    assert trigger.expect == {"prefect.flow-run.Completed"}
    assert trigger.after == set() and trigger.for_each == set() and trigger.threshold == 1
    related = trigger.match_related
    assert isinstance(related, ResourceSpecification)
    assert related.root == {
        "prefect.resource.role": "deployment",
        "prefect.resource.name": ["fristen-pruefen"],
    }
    (action,) = automation.actions
    assert isinstance(action, SendNotification)
    assert action.block_document_id == block_id
    assert "seit 2 Stunden" in action.body and "Fristenprüfung" in action.subject


def test_the_alert_bound_follows_the_stale_setting() -> None:
    spec = sweep_alert_automation(uuid4(), timedelta(hours=3))
    automation = AutomationCore.model_validate(spec)
    assert isinstance(automation.trigger, EventTrigger)
    assert automation.trigger.within == timedelta(hours=3)
    assert "seit 3 Stunden" in spec["actions"][0]["body"]


def test_the_alert_mail_goes_to_the_admin_only() -> None:
    url = alert_mail_url(SMTP + "&to=someone%40else.example", "admin@jc.example", "x@y.example")
    assert "to=admin%40jc.example" in url and "someone" not in url
    assert "from=kel%40jc.example" in url  # the URL's own sender wins
    assert "from=x%40y.example" in alert_mail_url("mailto://h:25/", "a@b.example", "x@y.example")


def test_without_smtp_url_or_admin_address_there_is_no_alert(tmp_path: Path) -> None:
    assert alert_block(settings(tmp_path, smtp_url=SMTP, admin_email=None)) is None
    assert alert_block(settings(tmp_path, smtp_url=None, admin_email="admin@jc.example")) is None
    specs = asyncio.run(automation_specs(settings(tmp_path, smtp_url=None, admin_email=None)))
    assert [s["name"] for s in specs] == [ZOMBIE_AUTOMATION["name"]]
    assert ALERT_NAME not in {s["name"] for s in specs}


def test_the_alert_block_mails_the_admin_through_a_real_smtp_server(tmp_path: Path) -> None:
    with SmtpSink() as sink:
        url = smtp_url(sink.host, sink.port, "kel-flow@jc.example")
        block = alert_block(settings(tmp_path, smtp_url=url, admin_email="admin@jc.example"))
        assert block is not None
        block.notify("Die Fristenprüfung hat seit 2 Stunden …", "kel-flow: Fristenprüfung")
        (mail,) = sink.wait_for(1)
    assert mail["To"] == "admin@jc.example"
    assert "Fristenprüfung" in str(mail["Subject"])


def test_make_up_turns_on_prefects_flow_run_vacuum_after_90_days_by_default() -> None:
    env = vacuum_env({})
    assert set(env["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"].split(",")) == {
        "events",
        "flow_runs",
    }
    assert env["PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD"] == str(90 * 86400)
    assert vacuum_env({"KEL_PREFECT_RETENTION_DAYS": "30"})[
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD"
    ] == str(30 * 86400)


@pytest.mark.parametrize("bad", ["0", "-5", "neunzig"])
def test_a_wrong_retention_stops_make_up(bad: str) -> None:
    with pytest.raises(UpError, match="KEL_PREFECT_RETENTION_DAYS"):
        vacuum_env({"KEL_PREFECT_RETENTION_DAYS": bad})


def test_prefect_reads_the_vacuum_settings_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import Settings as PrefectSettings

    for key, value in vacuum_env({"KEL_PREFECT_RETENTION_DAYS": "45"}).items():
        monkeypatch.setenv(key, value)
    vacuum = PrefectSettings().server.services.db_vacuum
    assert "flow_runs" in vacuum.enabled_vacuum_types
    assert vacuum.retention_period == timedelta(days=45)
