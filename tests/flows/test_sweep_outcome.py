"""How a sweep or follow-up flow run ends when e-mails fail (flows.outcome, issue 9 points
3 and 6): Completed named "Mit Fehlern" with the counts, a WARNING with the counts, and
every completed sweep recorded (`models.tables.SweepRun`)."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from sqlmodel import select

from flows.commands import carry_out_follow_ups
from flows.outcome import WITH_ERRORS
from flows.simulation import sweep_at
from models.commands import ReferralEvent
from models.tables import SweepRun
from notifications import SmtpSink, smtp_url
from notifications.smtp_sink import _free_port
from tests.factories import PROVIDER, World, at, start_referral

START = date(2026, 3, 2)  # a Monday
REMINDERS = at(START + timedelta(days=11), 6)  # 13.3.: the provider reminder is due


@pytest.fixture
def smtp_down(flow_env: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The flows' SMTP server is a port where nothing listens."""
    port = _free_port("127.0.0.1")
    monkeypatch.setenv("KEL_SMTP_URL", smtp_url("127.0.0.1", port, "kel@jobcenter.example"))
    return flow_env


def sweep_runs(kel: World) -> list[SweepRun]:
    with kel.session() as s:
        return list(s.exec(select(SweepRun)))


def test_a_sweep_whose_mails_failed_ends_completed_with_errors_and_warns_with_counts(
    smtp_down: World, caplog: pytest.LogCaptureFixture
) -> None:
    kel = smtp_down
    kel.start("Z-1", START)

    with caplog.at_level(logging.WARNING):
        state = sweep_at(REMINDERS, return_state=True)

    assert state.is_completed() and state.name == WITH_ERRORS == "Mit Fehlern"
    assert state.message == "E-Mails gesendet: 0, fehlgeschlagen: 1, aufgegeben: 0"
    assert state.result() == {"timers": 1, "sent": 0, "failed": 1, "given_up": 0}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "Benachrichtigungen gesendet: 0, fehlgeschlagen: 1, aufgegeben: 0" in warnings
    [run] = sweep_runs(kel)
    assert (run.started_at, run.fired, run.sent, run.errors) == (REMINDERS, 1, 0, 1)
    assert run.finished_at >= run.started_at


def test_a_sweep_without_failures_ends_plain_completed_and_is_recorded(
    flow_env: World, smtp: SmtpSink
) -> None:
    kel = flow_env
    kel.start("Z-1", START)

    state = sweep_at(REMINDERS, return_state=True)

    assert state.is_completed() and state.name == "Completed"
    assert smtp.wait_for(1)
    [run] = sweep_runs(kel)
    assert (run.fired, run.sent, run.errors) == (1, 1, 0)


def test_a_follow_up_run_whose_mail_failed_ends_completed_with_errors(smtp_down: World) -> None:
    kel = smtp_down
    kel.execute("start_referral", "Z-1", START, start_referral())
    declined = ReferralEvent(event="provider_declined")  # tells the caseworker (e-mail)
    command = kel.execute("event", "Z-1", START + timedelta(days=1), declined, actor=PROVIDER)
    assert command.id is not None

    state = carry_out_follow_ups(command.id, return_state=True)

    assert state.is_completed() and state.name == WITH_ERRORS
    assert state.result() == 0
