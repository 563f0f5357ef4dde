"""The background task of the follow-ups (`flows.commands.carry_out`) with several commands
at once (a burst the API coalesced): one run named "Folgen von N Befehlen", every e-mail of
the commands' cases sent once, a repeat sends nothing; with the SMTP server down it ends
"Mit Fehlern" and the e-mails stay for the sweep. Parameters and names carry ids, counts
and Aktenzeichen only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect import State
from prefect.testing.utilities import prefect_test_harness
from sqlmodel import select

from flows.commands import batch_name, carry_out, task_run_name
from flows.outcome import WITH_ERRORS
from models.commands import ReferralEvent
from models.tables import Notification
from notifications import SmtpSink, smtp_url
from notifications.smtp_sink import _free_port
from tests.factories import PROVIDER, World, start_referral

START = date(2026, 3, 2)  # a Monday
SENDER = "kel@jobcenter.example"


@pytest.fixture(scope="module", autouse=True)
def prefect_server() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def burst(kel: World, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Three cases started and declined by the provider: the ids of the six commands."""
    monkeypatch.setenv("KEL_DATABASE_URL", kel.url)
    monkeypatch.delenv("KEL_PROCESS_DIR", raising=False)
    ids = []
    for n in (1, 2, 3):
        for kind, on, payload, actor in (
            ("start_referral", START, start_referral(customer_number=f"K{n}"), None),
            (
                "event",
                START + timedelta(days=1),
                ReferralEvent(event="provider_declined"),
                PROVIDER,
            ),
        ):
            extra: dict[str, Any] = {"actor": actor} if actor else {}
            command = kel.execute(kind, f"Z-{n}", on, payload, **extra)
            assert command.id is not None
            ids.append(command.id)
    return ids


def statuses(kel: World) -> list[str]:
    with kel.session() as s:
        return sorted(n.status for n in s.exec(select(Notification)))


def test_a_bursts_commands_share_one_run_and_each_mail_goes_once(
    kel: World, burst: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SmtpSink(tmp_path / "mail") as sink:
        monkeypatch.setenv("KEL_SMTP_URL", smtp_url(sink.host, sink.port, SENDER))
        pending = len(statuses(kel))

        state: State[Any] = carry_out(burst, return_state=True)
        again: State[Any] = carry_out(burst, return_state=True)

        assert state.is_completed() and state.result() == pending == 3  # one per decline
        assert again.is_completed() and again.result() == 0  # found them sent
        assert len(sink.messages) == pending
    assert set(statuses(kel)) == {"sent"}
    assert task_run_name({"command_ids": burst}) == batch_name(6) == "Folgen von 6 Befehlen"


def test_with_smtp_down_a_batch_ends_with_errors_and_leaves_the_mails(
    kel: World, burst: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port("127.0.0.1")  # nothing listens
    monkeypatch.setenv("KEL_SMTP_URL", smtp_url("127.0.0.1", port, SENDER))

    state: State[Any] = carry_out(burst, return_state=True)

    assert state.is_completed() and state.name == WITH_ERRORS
    assert state.message is not None and "gesendet: 0" in state.message
    assert set(statuses(kel)) == {"failed"}  # the next sweep tries them again


def test_a_single_command_runs_alone_and_is_named_for_its_step(
    kel: World, burst: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    declined = burst[1]  # Z-1's decline: one e-mail to the caseworker
    with SmtpSink(tmp_path / "mail") as sink:
        monkeypatch.setenv("KEL_SMTP_URL", smtp_url(sink.host, sink.port, SENDER))

        state: State[Any] = carry_out([declined], return_state=True)

        assert state.is_completed() and state.result() == 1 and len(sink.messages) == 1
    assert statuses(kel) == ["pending", "pending", "sent"]  # the other cases wait for theirs
    step = "Z-1 · Träger hat abgelehnt oder keine Kapazität – Neuzuweisung erforderlich"
    assert task_run_name({"command_ids": [declined]}) == step
