"""Kennzahlen per Leistungsart (issue 10, point 6): the Kennzahlen page filters by
Leistungsart and, unfiltered, shows the totals per Leistungsart; the CSV follows the filter.

The world on 4 May 2026, site Aachen: three Schuldnerberatung referrals at SB-CARITAS (two
with the first appointment kept) and one Suchtberatung at SUCHT-CARITAS (kept).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from models.clock import FakeClock
from models.figures.states import registry_states
from models.kennzahlen import CaseFacts, per_service_type
from models.process import load_registry
from models.settings import Settings
from models.tables import AuditEvent, Site, User
from tests.dashboard.forms import FormClient, sign_in
from tests.factories import World, at, provider, world

JWT_SECRET = "0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a9b1e4c7a2d5f8e0b3a6c9d2e5f8a1b4c7d"
PASSWORD = "Kennzahlen-2026!"
TODAY = date(2026, 5, 4)
PAGE = "/dashboard/kennzahlen?von=2026-01-01&bis=2026-05-04"


def kept(w: World, reference: str, start: date, **kw: str) -> None:
    w.start(reference, start, **kw)
    w.event(reference, date(2026, 3, 3), "appointment_booked", appointment_on=date(2026, 3, 6))
    w.event(reference, date(2026, 3, 6), "appointment_kept")


@pytest.fixture
def kel(db_url: str) -> World:
    w = world(db_url)
    w.add(
        Site(code="Aachen", name="Aachen-Mitte", jobcenter="Jobcenter StädteRegion Aachen"),
        provider("SB-CARITAS", ("schulden",), sites=["Aachen"]),
        provider("SUCHT-CARITAS", ("sucht",), sites=["Aachen"]),
    )
    kept(w, "D-1", date(2026, 3, 2), customer_number="K1")
    kept(w, "D-2", date(2026, 3, 2), customer_number="K2")
    w.start("D-3", date(2026, 4, 1), customer_number="K3")
    kept(w, "S-1", date(2026, 3, 2), customer_number="K4", service_type="sucht",
         provider_code="SUCHT-CARITAS")  # fmt: skip
    w.add(
        User(
            username="koordination",
            role="coordinator",
            password_hash=hash_password(PASSWORD),
            created_at=at(TODAY),
        )
    )
    return w


@pytest.fixture
def app(kel: World) -> FastAPI:
    settings = Settings(database_url=kel.url, jwt_secret=JWT_SECRET)
    return create_app(settings, clock=FakeClock(at(TODAY, 10)), trigger=InProcess())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with FormClient(app) as signed_in:
        assert sign_in(signed_in, "koordination", PASSWORD).status_code == 303
        yield signed_in


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


def table(html: str, table_id: str) -> str:
    start = html.index(f'<table id="{table_id}"')
    return html[start : html.index("</table>", start)]


def test_unfiltered_the_page_shows_the_totals_per_leistungsart(client: TestClient) -> None:
    html = client.get(PAGE).text

    assert 'id="leistungsart"' in html and "Alle Leistungsarten" in html
    per_service = table(html, "kennzahlen-leistungsart")
    assert '<th scope="col">Leistungsart</th>' in per_service
    assert '<th scope="row">Schuldnerberatung</th>' in per_service
    assert '<th scope="row">Suchtberatung</th>' in per_service
    assert "Kinderbetreuung" not in per_service  # no case of it


def test_filtered_by_leistungsart_only_its_cases_count(client: TestClient) -> None:
    answer = client.get(f"{PAGE}&leistungsart=sucht")

    assert answer.status_code == 200
    html = answer.text
    assert "Suchtberatung, alle Standorte" in html
    assert "1 Fall in Ihrer Sicht" in html
    assert 'value="sucht" selected' in html
    assert 'id="kennzahlen-leistungsart"' not in html
    main = table(html, "kennzahlen-tabelle")
    assert "SUCHT-CARITAS" in main and "SB-CARITAS" not in main


def test_the_csv_follows_the_leistungsart_and_the_read_is_audited(
    client: TestClient, kel: World
) -> None:
    answer = client.get(f"{PAGE}&leistungsart=schulden&format=csv")

    assert "_schulden.csv" in answer.headers["content-disposition"]
    rows = csv_rows(answer.content)
    names = [r[0] for r in rows[1:]]
    assert names == ["Träger SB-CARITAS", "Gesamt"]
    assert rows[-1][rows[0].index("Gutscheine ausgegeben")] == "3"
    with kel.session() as s:
        [entry] = s.exec(select(AuditEvent).where(AuditEvent.action == "report_read")).all()
    assert entry.detail["parameters"]["leistungsart"] == "schulden"


def test_an_unknown_leistungsart_is_a_german_400(client: TestClient) -> None:
    answer = client.get(f"{PAGE}&leistungsart=raumfahrt")

    assert answer.status_code == 400
    assert "Diese Leistungsart gibt es nicht." in answer.text


def test_per_service_type_totals_each_leistungsart_in_the_order_of_the_titles() -> None:
    def case(rid: int, service_type: str, age_group: str) -> CaseFacts:
        day = date(2026, 2, 2)
        return CaseFacts(rid, "Träger", service_type, "Aachen", age_group, "voucher_issued",
                         day, day, None, None, None)  # fmt: skip

    cases = [case(1, "sucht", "u25"), case(2, "schulden", "u25"), case(3, "schulden", "50+")]
    titles = {"schulden": "Schuldnerberatung", "pflege": "Pflege", "sucht": "Suchtberatung"}

    states = registry_states(load_registry())
    rows = per_service_type(cases, date(2026, 1, 1), date(2026, 6, 30), titles, states)

    assert [(r.provider, r.share_u25) for r in rows] == [
        ("Schuldnerberatung", 0.5),
        ("Suchtberatung", 1.0),
    ]
