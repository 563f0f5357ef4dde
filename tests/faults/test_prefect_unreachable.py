"""The API hands follow-ups to Prefect's task worker without ever waiting for Prefect
(`api.trigger.Background`): a request commits and answers while the hand-over hangs or
fails; commands that queue up meanwhile share one task run; a failed hand-over is
logged (counts only) and leaves the e-mail in the outbox for the sweep."""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_CLIENT_MAX_RETRIES,
    PREFECT_RESULTS_LOCAL_STORAGE_PATH,
    temporary_settings,
)
from sqlmodel import select

from api.service import Submission, submit
from api.trigger import Background, Pending, delay_follow_ups
from models.commands import ReferralEvent
from models.db import session, write_session
from models.tables import Notification, User
from tests.factories import World, at, start_referral

START = date(2026, 3, 2)
REF = "Z-2026-0001"
DEAD = "http://127.0.0.1:18399/api"  # nothing listens there (this suite's port range)


class Recorder:
    """A hand-over that records its calls; with `gate`, it hangs until the gate opens."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[list[int], list[str], str | None]] = []
        self.gate, self.called = gate, threading.Event()

    def __call__(self, ids: list[int], references: list[str], name: str | None) -> None:
        if self.gate is not None:
            assert self.gate.wait(30)
        self.calls.append((ids, references, name))
        self.called.set()


def decline(kel: World, trigger: Background) -> int:
    """Submit a provider's decline on the API's path with `trigger`; the command id."""
    kel.execute("start_referral", REF, START, start_referral())
    kel.add(
        User(
            username="ifk",
            role="caseworker",
            site="Aachen",
            password_hash="-",
            created_at=at(START),
        )
    )
    with write_session(kel.url) as s:
        user = s.exec(select(User)).one()
        accepted = submit(
            s,
            Submission(
                "event", REF, START + timedelta(days=1), ReferralEvent(event="provider_declined")
            ),
            user=user,
            now=at(START + timedelta(days=1), 10),
            registry=kel.registry,
            settings=kel.settings,
            trigger=trigger,
        )
    return accepted.command_id


def test_the_request_commits_and_returns_while_the_hand_over_hangs(kel: World) -> None:
    gate = threading.Event()
    recorder = Recorder(gate)
    trigger = Background(recorder, linger=0)

    command_id = decline(kel, trigger)  # returns although the hand-over has not happened

    assert recorder.calls == []
    with session(kel.url) as s:
        assert {n.status for n in s.exec(select(Notification))} == {"pending"}
    gate.set()
    assert recorder.called.wait(30)
    step = f"{REF} · Träger hat abgelehnt oder keine Kapazität – Neuzuweisung erforderlich"
    assert recorder.calls == [([command_id], [REF], step)]


def test_commands_queued_meanwhile_share_one_run() -> None:
    recorder = Recorder()
    trigger = Background(recorder, linger=0, max_batch=3)
    for n, ref in enumerate(["Z-3", "Z-1", "Z-1", "Z-2", "Z-4"], start=1):
        trigger.queue.put(Pending(n, (ref,), f"{ref} · Schritt"))

    first, second = trigger.take(), trigger.take()
    trigger.hand_over(first)
    trigger.hand_over(second)

    assert [p.command_id for p in first] == [1, 2, 3] and [p.command_id for p in second] == [4, 5]
    assert recorder.calls == [
        ([1, 2, 3], ["Z-1", "Z-3"], None),  # named by `delay_follow_ups`: "Folgen von 3 …"
        ([4, 5], ["Z-2", "Z-4"], None),
    ]


def test_a_single_command_keeps_its_steps_name() -> None:
    recorder = Recorder()
    trigger = Background(recorder, linger=0)
    trigger.queue.put(Pending(7, ("Z-7",), "Z-7 · Erstgespräch terminiert"))

    trigger.hand_over(trigger.take())

    assert recorder.calls == [([7], ["Z-7"], "Z-7 · Erstgespräch terminiert")]


def test_a_failed_hand_over_is_logged_with_counts_only(caplog: pytest.LogCaptureFixture) -> None:
    def down(ids: list[int], references: list[str], name: str | None) -> None:
        raise httpx.ConnectError("Verbindung abgelehnt")

    trigger = Background(down, linger=0)
    with caplog.at_level(logging.WARNING, logger="kel.api"):
        handed = trigger.hand_over([Pending(1, ("Z-9",), "Z-9 · Schritt")])

    assert handed is False
    [record] = caplog.records
    assert "1 Befehl(en)" in record.getMessage() and "ConnectError" in record.getMessage()
    assert "Z-9" not in record.getMessage()


def test_a_full_queue_drops_the_command_for_the_sweep(caplog: pytest.LogCaptureFixture) -> None:
    trigger = Background(Recorder(threading.Event()), linger=0, capacity=1)
    trigger.queue.put(Pending(1, (), None))  # no thread takes it: the queue stays full

    with caplog.at_level(logging.WARNING, logger="kel.api"):
        assert trigger.start(2, ["Z-2"]) is None

    assert "Warteschlange voll" in caplog.text and trigger.queue.qsize() == 1


def test_delay_raises_when_the_prefect_server_is_unreachable(tmp_path: Path) -> None:
    """What the thread of `Background` meets when Prefect is down (and logs, see above)."""
    with (
        temporary_settings(
            {
                PREFECT_API_URL: DEAD,
                PREFECT_CLIENT_MAX_RETRIES: 0,
                PREFECT_RESULTS_LOCAL_STORAGE_PATH: tmp_path,
            }
        ),
        pytest.raises(httpx.ConnectError),
    ):
        delay_follow_ups([1], ["Z-1"], "Z-1 · Schritt")
