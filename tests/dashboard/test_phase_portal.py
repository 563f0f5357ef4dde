"""Leistungsabschnitte in the dashboard (issue 10, point 6; seed 002 §4.1): the provider
reports a phase on the case through its form (one path, CSRF, provider scope), the case
page shows the current phase and since when, and the Kennzahlen page (and its CSV) shows
"LA n seit mehr als 90 Tagen nicht abgeschlossen" with the share in %.

Today is Tuesday 10.3.2026 (fake clock). AC-RUN (Schuldnerberatung at SB-CARITAS, begun
20.2.2026) is in counselling since 24.2.2026, AC-1 has a Gutschein only, AC-SUCHT is a
Suchtberatung in counselling (no phases), DIA-1 belongs to SB-DIAKONIE. Every test runs on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import httpx
import pytest
from sqlmodel import col, select

from api.dashboard.web import COOKIE
from api.main import create_app
from api.security import start_session
from api.trigger import InProcess
from models.clock import FakeClock
from models.commands import ReferralEvent
from models.settings import Settings
from models.tables import AuditEvent, Provider, Referral, ReferralPhase, User
from models.urls import case_path, phase_form_path
from tests.dashboard.forms import FormClient
from tests.factories import PROVIDER, World, at, provider, world

TODAY = date(2026, 3, 10)
JWT_SECRET = "0b7e2c9a4f1d8e3b6a5c0d9f2e7b4a1c8d3f6e0b9a2c5d8f1e4b7a0c3d6f9e2b"
USERS = {
    "traeger.caritas": ("provider", None, "SB-CARITAS"),
    "traeger.diakonie": ("provider", None, "SB-DIAKONIE"),
    "ifk.aachen": ("caseworker", "Aachen", None),
    "koordination": ("coordinator", None, None),
}
Login = Callable[[str], FormClient]


@pytest.fixture
def kel(db_url: str) -> World:
    w = world(db_url)
    w.add(
        provider("SB-CARITAS", ("schulden", "sucht"), name="Caritas Schuldnerberatung"),
        provider("SB-DIAKONIE", name="Diakonie Schuldnerberatung"),
    )
    w.start("AC-RUN", date(2026, 2, 20), customer_number="K1")
    w.start("AC-1", date(2026, 3, 2), customer_number="K2")
    w.start("DIA-1", date(2026, 3, 2), customer_number="K3", provider_code="SB-DIAKONIE")
    w.start("AC-SUCHT", date(2026, 3, 2), customer_number="K4", service_type="sucht")
    for reference, booked, kept in (
        ("AC-RUN", date(2026, 2, 21), date(2026, 2, 24)),
        ("AC-SUCHT", date(2026, 3, 3), date(2026, 3, 4)),
    ):
        w.event(reference, booked, "appointment_booked", appointment_on=kept)
        assert w.event(reference, kept, "appointment_kept").applied == 1
    with w.session() as s:
        ids = {p.code: p.id for p in s.exec(select(Provider))}
        for username, (role, site, code) in USERS.items():
            s.add(
                User(
                    username=username,
                    role=role,
                    site=site,
                    provider_id=ids[code] if code else None,
                    password_hash="-",  # sessions are opened directly
                    created_at=at(date(2026, 2, 1)),
                )
            )
    return w


@pytest.fixture
def login(kel: World) -> Iterator[Login]:
    clock = FakeClock(at(TODAY, 10))
    settings = Settings(database_url=kel.url, jwt_secret=JWT_SECRET)
    app = create_app(settings, clock=clock, trigger=InProcess())
    clients: list[FormClient] = []

    def make(username: str) -> FormClient:
        with kel.session() as s:
            user = s.exec(select(User).where(User.username == username)).one()
            token = start_session(s, user, app.state.settings, clock.now())
        client = FormClient(app)
        client.cookies.set(COOKIE, token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def phases(kel: World, reference: str) -> list[tuple[str, date, date | None]]:
    with kel.session() as s:
        rows = s.exec(
            select(ReferralPhase)
            .join(Referral, col(Referral.id) == col(ReferralPhase.referral_id))
            .where(Referral.reference == reference)
            .order_by(col(ReferralPhase.begun_on))
        )
        return [(r.phase, r.begun_on, r.completed_on) for r in rows]


def send(client: httpx.Client, reference: str, key: str, **values: str) -> httpx.Response:
    data = {"form_key": f"test-phase-{reference}-{key}", **values}
    return client.post(phase_form_path(reference), data=data, follow_redirects=False)


def test_the_provider_reports_a_phase_and_the_case_page_shows_it(kel: World, login: Login) -> None:
    caritas = login("traeger.caritas")
    case = caritas.get(case_path("AC-RUN"))
    assert "kein offener Leistungsabschnitt" in case.text
    assert phase_form_path("AC-RUN") in case.text
    form = caritas.get(phase_form_path("AC-RUN"))
    assert form.status_code == 200
    assert 'value="LA1:begun"' in form.text and "LA1:completed" not in form.text

    sent = send(caritas, "AC-RUN", "1", schritt="LA1:begun", am="2026-03-02")
    assert sent.status_code == 303
    assert sent.headers["location"].startswith(case_path("AC-RUN") + "?hinweis=")
    assert phases(kel, "AC-RUN") == [("LA1", date(2026, 3, 2), None)]
    shown = caritas.get(sent.headers["location"])
    assert "Der Leistungsabschnitt ist gemeldet." in shown.text
    assert "<strong>Leistungsabschnitt 1 (LA 1)</strong> seit 02.03.2026" in shown.text

    form = caritas.get(phase_form_path("AC-RUN"))  # now only: complete LA 1
    assert 'value="LA1:completed"' in form.text and "LA2:begun" not in form.text
    assert send(caritas, "AC-RUN", "2", schritt="LA1:completed", am="2026-03-09").status_code == 303
    assert phases(kel, "AC-RUN") == [("LA1", date(2026, 3, 2), date(2026, 3, 9))]
    coordinator = login("koordination").get(case_path("AC-RUN"))
    assert "kein offener Leistungsabschnitt" in coordinator.text
    assert "09.03.2026" in coordinator.text
    assert phase_form_path("AC-RUN") not in coordinator.text  # providers report
    history = coordinator.text.split('id="verlauf"', 1)[1]
    assert "LA1 begonnen" in history and "LA1 abgeschlossen" in history


def test_the_form_is_in_the_providers_scope_only(kel: World, login: Login) -> None:
    diakonie = login("traeger.diakonie")
    assert diakonie.get(phase_form_path("AC-RUN")).status_code == 404
    assert send(diakonie, "AC-RUN", "x", schritt="LA1:begun", am="2026-03-02").status_code == 404
    assert login("ifk.aachen").get(phase_form_path("AC-RUN")).status_code == 403
    caritas = login("traeger.caritas")
    assert caritas.get(phase_form_path("AC-SUCHT")).status_code == 404  # no phases there
    assert "Leistungsabschnitt" not in caritas.get(case_path("AC-SUCHT")).text
    assert phases(kel, "AC-RUN") == []


def test_a_form_without_csrf_token_is_refused(kel: World, login: Login) -> None:
    caritas = login("traeger.caritas")
    answer = send(caritas, "AC-RUN", "c", schritt="LA1:begun", am="2026-03-02", csrf_token="x")
    assert answer.status_code == 403
    assert phases(kel, "AC-RUN") == []


def test_refusals_answer_in_german_and_write_nothing(kel: World, login: Login) -> None:
    caritas = login("traeger.caritas")
    before = caritas.get(phase_form_path("AC-1"))
    assert before.status_code == 409
    assert "Im Zustand „Gutschein ausgegeben“ ist keine Meldung" in before.text
    not_begun = send(caritas, "AC-RUN", "n", schritt="LA2:completed", am="2026-03-02")
    assert not_begun.status_code == 422
    assert "Leistungsabschnitt 2 (LA 2) ist nicht begonnen" in not_begun.text
    future = send(caritas, "AC-RUN", "f", schritt="LA1:begun", am="2026-03-11")
    assert future.status_code == 422
    assert "Der Tag muss zwischen dem 20.02.2026 und dem 10.03.2026 liegen." in future.text
    assert phases(kel, "AC-RUN") == []


def test_the_kennzahlen_show_the_phases_open_more_than_90_days(kel: World, login: Login) -> None:
    """AC-RUN in LA 1 since 24.2.2026: on the Stichtag 24.5.2026 (89 days) not counted as
    stale, on 25.5. (90 days) neither, on 26.5. (91 days) it is: 1 of 1 = 100,0 %."""
    payload = ReferralEvent.model_validate(
        {"event": "phase_reported", "phase": "LA1", "phase_step": "begun"}
    )
    kel.execute("event", "AC-RUN", date(2026, 2, 24), payload, PROVIDER)
    coordinator = login("koordination")

    def row(bis: str, label: str) -> list[str]:
        page = coordinator.get(f"/dashboard/kennzahlen?von=2026-01-01&bis={bis}")
        assert page.status_code == 200
        table = page.text.split('id="kennzahlen-abschnitte-schulden"', 1)[1].split("</table>")[0]
        line = table.split(f'<th scope="row">{label}</th>', 1)[1].split("</tr>", 1)[0]
        return [c.split(">", 1)[1] for c in line.split("</td>") if ">" in c]

    stale = "Leistungsabschnitt 1 (LA 1) seit mehr als 90 Tagen nicht abgeschlossen"
    assert row("2026-05-24", stale) == ["0", "0", "0"]  # Caritas, Diakonie, Gesamt
    assert row("2026-05-25", stale) == ["0", "0", "0"]
    assert row("2026-05-26", stale) == ["1", "0", "1"]
    opened = "Fälle, bei denen Leistungsabschnitt 1 (LA 1) nicht abgeschlossen ist"
    assert row("2026-05-26", opened) == ["1", "0", "1"]
    page = coordinator.get("/dashboard/kennzahlen?von=2026-01-01&bis=2026-05-26").text
    table = page.split('id="kennzahlen-abschnitte-schulden"', 1)[1].split("</table>")[0]
    assert "100,0\u00a0%" in table and "–" in table  # Diakonie: no open case, no share

    csv = coordinator.get("/dashboard/kennzahlen/leistungsabschnitte.csv?bis=2026-05-26")
    assert csv.status_code == 200
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("Leistungsart;Kennzahl;")
    assert f"Schuldnerberatung;{stale};1;0;1" in lines
    assert "Schuldnerberatung;Anteil (%);100,0 %;;100,0 %" in lines
    with kel.session() as s:
        reads = s.exec(select(AuditEvent).where(AuditEvent.action == "report_read")).all()
    assert any(r.detail.get("report") == "leistungsabschnitte" for r in reads)


def test_a_provider_sees_small_phase_cells_suppressed(kel: World, login: Login) -> None:
    payload = ReferralEvent.model_validate(
        {"event": "phase_reported", "phase": "LA1", "phase_step": "begun"}
    )
    kel.execute("event", "AC-RUN", date(2026, 2, 24), payload, PROVIDER)
    page = login("traeger.caritas").get("/dashboard/kennzahlen?von=2026-01-01&bis=2026-05-26")
    table = page.text.split('id="kennzahlen-abschnitte-schulden"', 1)[1].split("</table>")[0]
    assert "&lt; 3" in table and "100,0" not in table
    assert "Diakonie" not in table  # only the own cases
