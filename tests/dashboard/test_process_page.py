"""Prozess page: the diagram of a Leistungsart with the counts of the user's own view.

Data of `tests.dashboard.test_overview_pages`: three open Schulden cases in "Gutschein
ausgegeben" (AC-CAR-1 at SB-CARITAS and AC-DIA-1 at SB-DIAKONIE in Aachen, ES-CAR-1 at
SB-CARITAS in Eschweiler) and one closed; on 25.3. every open case has its Erstgespräch
overdue, and the two without a Rückmeldung also their 1. Rückmeldung.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.dashboard import test_overview_pages as overview
from tests.dashboard.test_overview_pages import Login

# the accounts, cases and login fixtures of the overview tests
template, kel, client, login = overview.template, overview.kel, overview.client, overview.login


def badge(html: str, title: str) -> int:
    """The open-case count of the state `title` in the figures table."""
    row = re.search(
        rf'<th scope="row">{re.escape(title)}</th>\s*<td><a href="[^"]*">(\d+)</a>', html
    )
    assert row, title
    return int(row.group(1))


def test_a_coordinator_sees_every_case_per_state_and_the_overdue_deadlines(login: Login) -> None:
    answer = login("koordination").get("/dashboard/prozess?leistungsart=schulden")
    assert answer.status_code == 200
    html = answer.text
    assert "<svg" in html and 'aria-labelledby="prozess-svg-titel"' in html
    assert badge(html, "Gutschein ausgegeben") == 3
    assert badge(html, "Abgeschlossen") == 1
    assert "Erstgespräch: 3" in html and "1. Rückmeldung: 2" in html
    assert "/dashboard/faelle?leistungsart=schulden&amp;zustand=voucher_issued" in html
    assert "überfällige Fristen" in html  # the red badges' titles


def test_counts_stay_in_the_users_scope(login: Login) -> None:
    eschweiler = login("ifk.eschweiler").get("/dashboard/prozess?leistungsart=schulden").text
    assert badge(eschweiler, "Gutschein ausgegeben") == 1
    caritas = login("traeger.caritas").get("/dashboard/prozess?leistungsart=schulden").text
    assert badge(caritas, "Gutschein ausgegeben") == 2


def test_an_unknown_leistungsart_is_not_found(login: Login) -> None:
    answer = login("koordination").get("/dashboard/prozess?leistungsart=%3Cscript%3E")
    assert answer.status_code == 404
    assert "<script>" not in answer.text


def test_the_bpmn_file_downloads(login: Login) -> None:
    answer = login("koordination").get("/dashboard/prozess/schulden.bpmn")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    assert "<bpmn:definitions" in answer.text and "P14D" in answer.text


def test_the_page_needs_a_login(client: TestClient) -> None:
    answer = client.get("/dashboard/prozess", follow_redirects=False)
    assert answer.status_code == 303
