"""Every case link in an e-mail leads to that case's dashboard page (one URL helper).

A reminder to a provider links to the form of its Frist instead, through a signed link
(`models.form_links`): tested in tests/dashboard/test_provider_portal.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from fastapi.testclient import TestClient

from api.dashboard.web import COOKIE
from models.clock import FakeClock
from models.db import session
from models.urls import case_path, case_url
from notifications import RecordingNotifier
from tasks.delivery import deliver_notifications
from tests.api.conftest import ApiClient
from tests.factories import World

APP_URL = "http://testserver"


def test_the_case_url_is_built_from_the_reference_and_escapes_it() -> None:
    assert case_path("Z-2026-0001") == "/dashboard/faelle/Z-2026-0001"
    assert case_path("A B#1") == "/dashboard/faelle/A%20B%231"
    assert case_url("https://kel.example/", "Z-1") == "https://kel.example/dashboard/faelle/Z-1"
    assert case_url("", "Z-1") == ""


def test_a_link_in_a_sent_email_opens_the_case_page(
    kel: World,
    clock: FakeClock,
    escalated_case: str,
    client_for: Callable[[str], ApiClient],
    app: object,
) -> None:
    notifier = RecordingNotifier()
    settings = kel.settings.model_copy(update={"app_url": APP_URL})
    delivered = deliver_notifications(partial(session, kel.url), notifier, settings, clock.now())
    assert delivered.sent >= 1
    links = {
        link for message in notifier.sent for link in re.findall(r"https?://\S+", message.text)
    }
    assert links == {f"{APP_URL}/dashboard/faelle/{escalated_case}"}

    coordinator = client_for("koordination")
    token = coordinator.headers["Authorization"].removeprefix("Bearer ")
    with TestClient(app) as browser:  # type: ignore[arg-type]
        browser.cookies.set(COOKIE, token)
        page = browser.get(links.pop().removeprefix(APP_URL))
    assert page.status_code == 200
    assert escalated_case in page.text


def test_a_link_without_a_session_leads_through_the_login(escalated_case: str, app: object) -> None:
    with TestClient(app) as browser:  # type: ignore[arg-type]
        page = browser.get(case_path(escalated_case), follow_redirects=False)
    assert page.status_code in (302, 303, 307)
    assert "/dashboard/anmelden" in page.headers["location"]
