"""A served dashboard with seeded cases, and Debian's Chromium driven by Playwright.

Playwright's own browser download does not work here; the tests use ``/usr/bin/chromium``
(installed by ``.ci/run``). Screenshots of the main pages go to ``out/screenshots/``.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import uvicorn

from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from cli.serve import free_port, wait_until
from models.clock import FakeClock
from models.db import migrate
from models.tables import Provider, User
from tasks.sweep import fire_due_timers
from tests.factories import World, at, provider, world

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
PASSWORD = "browser-test-passwort"
TODAY = date(2026, 5, 4)


def seed(w: World) -> None:
    """Three Schulden cases at two providers and sites; one stuck, so it escalates."""
    w.add(
        provider("SB-CARITAS", ("schulden",), name="Caritas Schuldnerberatung"),
        provider("SB-DIAKONIE", ("schulden",), name="Diakonie Schuldnerberatung"),
    )
    start = TODAY - timedelta(days=40)
    w.start("Z-STUCK", start, provider_code="SB-CARITAS", customer_number="K1")
    w.start("Z-OK", start, provider_code="SB-CARITAS", customer_number="K2")
    w.event(
        "Z-OK",
        start + timedelta(days=3),
        "appointment_booked",
        appointment_on=start + timedelta(days=10),
    )
    w.event("Z-OK", start + timedelta(days=10), "appointment_kept")
    w.start("Z-OTHER", start, provider_code="SB-DIAKONIE", customer_number="K3", site="Eschweiler")
    fire_due_timers(w.session, w.registry, w.settings, at(TODAY, 6))
    now = at(TODAY)
    w.add(
        User(
            username="koordination",
            role="coordinator",
            created_at=now,
            password_hash=hash_password(PASSWORD),
        ),
        User(
            username="caritas",
            role="provider",
            provider_id=1,
            created_at=now,
            password_hash=hash_password(PASSWORD),
        ),
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'kel.db'}"
    migrate(url)
    w = world(url)
    seed(w)
    app = create_app(
        w.settings.model_copy(update={"jwt_secret": None, "dev_mode": True}),
        clock=FakeClock(at(TODAY, 10)),
        trigger=InProcess(),
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "Dashboard-Server")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


__all__ = ["PASSWORD", "SCREENSHOTS", "Provider"]
