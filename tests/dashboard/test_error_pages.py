"""What the dashboard answers when FastAPI refuses a request before a page runs: an
unknown path, a wrong method, a tampered form field, an unknown BPMN download. A signed-in
user gets the German HTML page (with the audit of a 404 like any other), everyone else the
login; the API keeps its problem documents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from models.tables import AuditEvent
from tests.dashboard.test_worklists import Dashboard, inbox_form, seed, serve
from tests.factories import world


@pytest.fixture
def small(db_url: str) -> Iterator[Dashboard]:
    w = world(db_url)
    seed(w, 2)
    yield from serve(w)


def test_an_unknown_dashboard_path_is_the_german_page_for_a_signed_in_user(
    small: Dashboard,
) -> None:
    client = small.login("koordination")
    answer = client.get("/dashboard/gibt-es-nicht")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>Seite nicht gefunden</h1>" in answer.text
    assert 'href="/dashboard/faelle"' in answer.text  # the navigation is there
    with small.world.session() as s:
        denied = s.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert any(e.actor == "koordination" for e in denied)


def test_an_unknown_dashboard_path_sends_a_stranger_to_the_login(small: Dashboard) -> None:
    small.client.cookies.clear()
    answer = small.client.get("/dashboard/gibt-es-nicht", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/anmelden?next=/dashboard/gibt-es-nicht"


def test_a_tampered_bulk_selection_is_a_german_page_naming_the_field(small: Dashboard) -> None:
    client = small.login("koordination")
    page = client.get("/dashboard/eskalationen").text
    form = {**inbox_form(page), "aktion": "quittieren", "eskalation": ["1", "x<script>"]}
    answer = client.post("/dashboard/eskalationen/auswahl", data=form)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>Ungültige Angaben</h1>" in answer.text
    assert "eskalation" in answer.text
    assert "<script>" not in answer.text


def test_a_wrong_method_on_a_dashboard_page_is_a_german_page(small: Dashboard) -> None:
    client = small.login("koordination")
    answer = client.delete("/dashboard/faelle")
    assert answer.status_code == 405
    assert "<h1>Aktion nicht möglich</h1>" in answer.text


def test_an_unknown_bpmn_download_is_the_german_404_page(small: Dashboard) -> None:
    client = small.login("koordination")
    answer = client.get("/dashboard/prozess/gibt-es-nicht.bpmn")
    assert answer.status_code == 404
    assert "<h1>Seite nicht gefunden</h1>" in answer.text


def test_the_api_keeps_its_problem_documents(small: Dashboard) -> None:
    small.client.cookies.clear()
    answer = small.client.get("/api/v1/gibt-es-nicht")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    invalid = small.client.post("/api/v1/auth/token", data={})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
