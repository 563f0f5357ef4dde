"""``GET /api/v1/health`` (api.routes.health, issue 9 point 6): the database, the last
completed deadline sweep and the outbox backlog; 503 when the sweep is overdue or the
database is unreachable. The clock is fake; sweeps are recorded as `run_sweep` does."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from api.trigger import InProcess
from models.clock import FakeClock
from models.settings import Settings
from tasks.sweep import fire_due_timers
from tasks.watch import record_sweep_run
from tests.api.conftest import JWT_SECRET
from tests.factories import World, at

STARTED = date(2026, 3, 2)
SWEEP = at(STARTED, 14) + timedelta(minutes=5)
KEYS = {"status", "database", "sweep", "outbox"}


def health(app: FastAPI) -> tuple[int, dict[str, Any]]:
    with TestClient(app) as anonymous:  # no login needed
        answer = anonymous.get("/api/v1/health")
    return answer.status_code, answer.json()


def swept(kel: World, finished: datetime) -> None:
    with kel.session() as s:
        record_sweep_run(s, finished - timedelta(seconds=3), finished, fired=2, sent=1, errors=0)


def test_a_fresh_installation_is_healthy_and_shows_that_no_sweep_has_run_yet(
    app: FastAPI,
) -> None:
    status, body = health(app)

    assert status == 200
    assert body == {
        "status": "ok",
        "database": "ok",
        "sweep": {
            "last_completed_at": None,
            "age_seconds": None,
            "stale_after_seconds": 7200,
            "overdue": False,
        },
        "outbox": {"pending": 0, "failed": 0, "oldest_pending_age_seconds": None},
    }


def test_the_sweep_is_overdue_two_hours_after_its_last_completed_run(
    app: FastAPI, kel: World, clock: FakeClock
) -> None:
    swept(kel, SWEEP)
    clock.set(SWEEP + timedelta(hours=2))

    on_time = health(app)
    clock.advance(timedelta(seconds=1))
    late = health(app)

    assert on_time[0] == 200 and on_time[1]["sweep"]["overdue"] is False
    assert late[0] == 503
    assert set(late[1]) == KEYS
    assert late[1]["status"] == "error" and late[1]["database"] == "ok"
    assert late[1]["sweep"] == {
        "last_completed_at": "2026-03-02T13:05:00Z",  # 14:05 in Berlin
        "age_seconds": 7201,
        "stale_after_seconds": 7200,
        "overdue": True,
    }


def test_a_new_sweep_makes_it_healthy_again(app: FastAPI, kel: World, clock: FakeClock) -> None:
    swept(kel, SWEEP)
    clock.set(SWEEP + timedelta(hours=3))
    assert health(app)[0] == 503

    swept(kel, clock.now())

    assert health(app)[0] == 200


def test_the_allowed_age_is_a_setting(
    kel: World, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEL_SWEEP_STALE_AFTER", "PT30M")
    settings = Settings(database_url=kel.url, jwt_secret=JWT_SECRET)
    assert settings.sweep_stale_after == timedelta(minutes=30)
    app = create_app(settings, clock=clock, trigger=InProcess())
    swept(kel, SWEEP)

    clock.set(SWEEP + timedelta(minutes=31))

    status, body = health(app)
    assert (status, body["sweep"]["stale_after_seconds"]) == (503, 1800)


def test_before_any_sweep_it_is_overdue_once_a_timer_waits_longer_than_allowed(
    app: FastAPI, kel: World, clock: FakeClock
) -> None:
    kel.start("REF-1", STARTED)
    first_timer = at(date(2026, 3, 13), 0)  # the provider reminder
    clock.set(first_timer + timedelta(hours=1))
    assert health(app)[0] == 200

    clock.set(first_timer + timedelta(hours=2, minutes=1))

    status, body = health(app)
    assert status == 503
    assert body["sweep"]["last_completed_at"] is None and body["sweep"]["overdue"] is True


def test_the_outbox_backlog_counts_unsent_notifications_and_the_oldest_ones_age(
    app: FastAPI, kel: World, clock: FakeClock
) -> None:
    kel.start("REF-1", STARTED)
    queued_at = at(date(2026, 3, 13), 6)
    fire_due_timers(kel.session, kel.registry, kel.settings, queued_at)  # no SMTP: pending
    swept(kel, queued_at)
    clock.set(queued_at + timedelta(minutes=90))

    status, body = health(app)

    assert status == 200
    assert body["outbox"] == {"pending": 1, "failed": 0, "oldest_pending_age_seconds": 5400}
    assert "@" not in str(body) and "REF-1" not in str(body)  # no address, no Aktenzeichen


def test_an_unreachable_database_answers_503_with_the_same_fields(
    tmp_path: Path, clock: FakeClock
) -> None:
    missing = tmp_path / "gibt-es-nicht" / "kel.db"  # its directory does not exist
    settings = Settings(database_url=f"sqlite:///{missing}", jwt_secret=JWT_SECRET)
    app = create_app(settings, clock=clock, trigger=InProcess())

    status, body = health(app)

    assert status == 503
    assert body == {"status": "error", "database": "unreachable", "sweep": None, "outbox": None}
