"""Dashboard: Übersicht and Fall pages, the escalation forms and the CSV exports.

Three open Schuldnerberatung cases started on 2.3.2026 (two at SB-CARITAS, one at
SB-DIAKONIE; sites Aachen and Eschweiler) and one closed case; AC-CAR-1 has sent its
first feedback. The deadline sweep of 25.3. has made five overdue deadlines, each
escalated. Users log in through the dashboard's login form; the clock is fake, flows run
in process.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.dashboard.web import COOKIE
from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from models.clock import FakeClock
from models.commands import FeedbackIn, ReportContent
from models.settings import Settings
from models.tables import AuditEvent, Escalation, Provider, Referral, User
from tasks.sweep import fire_due_timers
from tests.conftest import ModuleDb
from tests.dashboard.forms import form_token, page_token, sign_in
from tests.factories import World, at, provider, world

JWT_SECRET = "9b1e4c7a2d5f8e0b3a6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a"
PASSWORD = "Dashboard-2026!"
STARTED = date(2026, 3, 2)
SWEPT = date(2026, 3, 25)  # first appointment and first feedback (due 16.3.) escalate on 24.3.
USERS: dict[str, tuple[str, str | None, str | None]] = {
    "koordination": ("coordinator", None, None),
    "ifk.eschweiler": ("caseworker", "Eschweiler", None),
    "traeger.caritas": ("provider", None, "SB-CARITAS"),
}

SESSIONS: dict[str, str] = {}
Login = Callable[[str], TestClient]


@pytest.fixture(scope="module")
def template(module_db: ModuleDb) -> ModuleDb:
    """The cases and accounts, built once; each test works on a copy."""
    url = module_db.url
    w = world(url)
    w.add(provider("SB-CARITAS"), provider("SB-DIAKONIE"))
    cases = {
        "AC-CAR-1": ("Aachen", "SB-CARITAS"),
        "AC-DIA-1": ("Aachen", "SB-DIAKONIE"),
        "ES-CAR-1": ("Eschweiler", "SB-CARITAS"),
        "AC-CAR-2": ("Aachen", "SB-CARITAS"),
    }
    for number, (reference, (site, code)) in enumerate(cases.items()):
        w.start(reference, STARTED, customer_number=f"K{number}", site=site, provider_code=code)
    w.event("AC-CAR-2", date(2026, 3, 3), "voucher_returned_invalid")
    w.event(
        "AC-CAR-1",
        date(2026, 3, 5),
        "first_feedback",
        feedback=FeedbackIn(
            appointment_kept=True, content=ReportContent(ausgangssituation="Zwölf Gläubiger")
        ),
    )
    fire_due_timers(w.session, w.registry, w.settings, at(SWEPT))
    with w.session() as s:
        codes = {p.code: p.id for p in s.exec(select(Provider))}
        for username, (role, user_site, provider_code) in USERS.items():
            s.add(
                User(
                    username=username,
                    role=role,
                    site=user_site,
                    provider_id=codes[provider_code] if provider_code else None,
                    password_hash=hash_password(PASSWORD),
                    created_at=at(STARTED),
                )
            )
    sign_in_once(url)
    return module_db


def sign_in_once(url: str) -> None:
    """Each user logs in through the login form once, into the template: every copy holds
    the sessions, so the kept cookies are valid in each test (Argon2 is slow on purpose)."""
    settings = Settings(database_url=url, jwt_secret=JWT_SECRET)
    app = create_app(settings, clock=FakeClock(at(SWEPT, 10)), trigger=InProcess())
    with TestClient(app) as browser:
        for username in USERS:
            answer = sign_in(browser, username, PASSWORD)
            assert answer.status_code == 303, answer.text
            SESSIONS[username] = answer.cookies[COOKIE]
            browser.cookies.clear()


@pytest.fixture
def kel(template: ModuleDb) -> Iterator[World]:
    with template.copy() as url:
        yield world(url)


@pytest.fixture
def client(kel: World) -> Iterator[TestClient]:
    settings = Settings(database_url=kel.url, jwt_secret=JWT_SECRET)
    app = create_app(settings, clock=FakeClock(at(SWEPT, 10)), trigger=InProcess())
    with TestClient(app) as anonymous:
        yield anonymous


@pytest.fixture
def login(client: TestClient) -> Login:
    """`login(username)`: the client with the cookie of the user's login through the
    dashboard's login form (made once, in the template: `sign_in_once`)."""

    def sign_in(username: str) -> TestClient:
        client.cookies.clear()
        client.cookies.set(COOKIE, SESSIONS[username])
        return client

    return sign_in


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))


def escalation_ids(kel: World, reference: str) -> list[int]:
    with kel.session() as s:
        return [
            e.id or 0
            for e in s.exec(
                select(Escalation)
                .join(Referral)
                .where(Referral.reference == reference)
                .order_by(Escalation.id)  # type: ignore[arg-type]
            )
        ]


def test_overview_shows_open_cases_overdue_deadlines_and_inbox_to_the_coordinator(
    login: Login,
) -> None:
    client = login("koordination")
    page = client.get("/dashboard")
    html = page.text
    assert page.status_code == 200
    assert "<h1>Übersicht</h1>" in html
    for heading in ("Offene Fälle", "Überfällige Fristen", "Eskalationen"):
        assert f">{heading}</h2>" in html
    assert "Insgesamt <strong>3</strong> offene Fälle" in html
    assert "5 offene Fristen sind überschritten" in html
    assert '<a href="/dashboard/faelle?ueberfaellig=1">3 Fällen</a>' in html
    assert "5 offene oder quittierte Eskalationen" in html
    assert '<a href="/dashboard/eskalationen?status=open">5 offen</a>' in html
    assert 'href="/dashboard/faelle?zustand=voucher_issued"' in html  # counts link to lists
    # the inbox moved to its own page (tests/dashboard/test_worklists.py)
    inbox = client.get("/dashboard/eskalationen").text
    assert 'href="/dashboard/faelle/AC-DIA-1"' in inbox
    assert "AC-CAR-2" not in inbox  # closed: no open deadline, no escalation
    assert inbox.count(">Quittieren</button>") == 5
    assert '<label for="zuweisen-' in inbox


def test_count_tables_export_as_csv_with_semicolons(login: Login) -> None:
    client = login("koordination")

    def table(name: str) -> list[list[str]]:
        answer = client.get("/dashboard/", params={"format": "csv", "table": name})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        return parse_csv(answer.content)

    assert table("state") == [
        ["Zustand", "Bezeichnung", "Offene Fälle"],
        ["voucher_issued", "Gutschein ausgegeben", "3"],
    ]
    assert table("provider")[1:] == [
        ["SB-CARITAS", "Träger SB-CARITAS", "2"],
        ["SB-DIAKONIE", "Träger SB-DIAKONIE", "1"],
    ]
    assert table("site")[1:] == [["Aachen", "Aachen", "2"], ["Eschweiler", "Eschweiler", "1"]]
    assert table("service")[1:] == [["schulden", "Schuldnerberatung", "3"]]
    overdue = table("overdue")
    assert overdue[0] == ["Aktenzeichen", "Frist", "Fällig am", "Tage überfällig", "Träger"]
    assert len(overdue) == 1 + 5
    assert ["AC-DIA-1", "Erstgespräch", "16.03.2026", "9", "SB-DIAKONIE"] in overdue
    assert len(table("escalations")) == 1 + 5


def test_a_provider_sees_only_its_own_cases(login: Login) -> None:
    client = login("traeger.caritas")
    html = client.get("/dashboard").text
    assert "Insgesamt <strong>2</strong> offene Fälle" in html
    assert "SB-DIAKONIE" not in html
    assert '<form method="post" action="/dashboard/eskalationen' not in html
    cases = client.get("/dashboard/faelle").text
    assert "AC-CAR-1" in cases and "ES-CAR-1" in cases
    assert "AC-DIA-1" not in cases
    providers = parse_csv(client.get("/dashboard/?format=csv&table=provider").content)
    assert providers[1:] == [["SB-CARITAS", "Träger SB-CARITAS", "2"]]


def test_a_provider_gets_404_for_another_providers_case(login: Login) -> None:
    client = login("traeger.caritas")
    answer = client.get("/dashboard/faelle/AC-DIA-1")
    assert answer.status_code == 404
    assert "<h1>Fall nicht gefunden</h1>" in answer.text
    assert "Zuständigkeitsbereich" in answer.text
    assert client.get("/dashboard/faelle/GIBT-ES-NICHT").status_code == 404


def test_a_caseworker_sees_the_cases_of_their_site(login: Login) -> None:
    client = login("ifk.eschweiler")
    assert "Insgesamt <strong>1</strong> offener Fall" in client.get("/dashboard").text
    assert client.get("/dashboard/faelle/ES-CAR-1").status_code == 200
    assert client.get("/dashboard/faelle/AC-CAR-1").status_code == 404


def test_acknowledging_an_escalation_through_the_form_is_audited_once(
    login: Login, kel: World
) -> None:
    client = login("koordination")
    first = escalation_ids(kel, "AC-CAR-1")[0]
    overview = client.get("/dashboard/eskalationen").text
    key = re.search(
        rf'action="/dashboard/eskalationen/{first}/quittieren"[^>]*>\s*'
        r'<input type="hidden" name="form_key" value="([^"]+)"',
        overview,
    )
    assert key is not None
    form = {"form_key": key[1], "csrf_token": form_token(overview)}
    url = f"/dashboard/eskalationen/{first}/quittieren"
    answer = client.post(url, data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        f"/dashboard/eskalationen?hinweis=quittiert&nr={first}#eskalation-{first}"
    )
    again = client.post(url, data=form, follow_redirects=False)
    assert again.status_code == 303  # the same form sent twice: no second effect
    with kel.session() as s:
        escalation = s.get(Escalation, first)
        assert escalation is not None and escalation.state == "acknowledged"
        audits = s.exec(
            select(AuditEvent).where(AuditEvent.action == "escalation_acknowledge")
        ).all()
    assert [(a.actor, a.role, a.detail) for a in audits] == [
        ("koordination", "coordinator", {"escalation_id": first})
    ]
    page = client.get(answer.headers["location"]).text
    assert f"Die Eskalation Nr. {first} wurde quittiert." in page
    assert page.count(">Quittieren</button>") == 4


def test_assigning_and_resolving_through_the_forms(login: Login, kel: World) -> None:
    client = login("koordination")
    escalation = escalation_ids(kel, "ES-CAR-1")[0]
    base = f"/dashboard/eskalationen/{escalation}"
    token = page_token(client)
    missing = client.post(
        f"{base}/zuweisen", data={"form_key": "k" * 16, "assigned_to": " ", "csrf_token": token}
    )
    assert "Bitte angeben, wem die Eskalation zugewiesen wird." in missing.text
    client.post(
        f"{base}/zuweisen",
        data={"form_key": "z" * 16, "assigned_to": "Frau Beispiel", "csrf_token": token},
    )
    client.post(f"{base}/erledigen", data={"form_key": "e" * 16, "csrf_token": token})
    late = client.post(f"{base}/quittieren", data={"form_key": "q" * 16, "csrf_token": token})
    assert f"Die Eskalation Nr. {escalation} war bereits erledigt." in late.text
    with kel.session() as s:
        row = s.get(Escalation, escalation)
        assert row is not None
        assert (row.state, row.assigned_to) == ("resolved", "Frau Beispiel")
    assert "4 offene oder quittierte Eskalationen" in client.get("/dashboard").text


def test_an_unknown_escalation_answers_404(login: Login) -> None:
    client = login("koordination")
    token = page_token(client)
    for escalation in (999, 2**63 - 1):
        answer = client.post(
            f"/dashboard/eskalationen/{escalation}/erledigen",
            data={"form_key": "x" * 16, "csrf_token": token},
        )
        assert answer.status_code == 404
    too_big = client.post(
        "/dashboard/eskalationen/99999999999999999999/erledigen", data={"csrf_token": token}
    )
    assert too_big.status_code == 422


def test_only_coordinators_may_act_on_escalations(login: Login, kel: World) -> None:
    escalation = escalation_ids(kel, "AC-CAR-1")[0]
    provider = login("traeger.caritas")
    answer = provider.post(
        f"/dashboard/eskalationen/{escalation}/erledigen",
        data={"form_key": "x" * 16, "csrf_token": page_token(provider)},
    )
    assert answer.status_code == 403
    assert "Keine Berechtigung" in answer.text
    with kel.session() as s:
        row = s.get(Escalation, escalation)
        assert row is not None and row.state == "open"


def test_case_page_shows_facts_deadlines_timeline_notifications_and_prefect_link(
    login: Login,
) -> None:
    answer = login("koordination").get("/dashboard/faelle/AC-DIA-1")
    html = answer.text
    assert answer.status_code == 200
    assert "<h1>Fall AC-DIA-1</h1>" in html
    for heading in ("Eckdaten", "Fristen", "Verlauf", "Benachrichtigungen", "Eskalationen"):
        assert f">{heading}</h2>" in html
    for fact in ("Schuldnerberatung", "Träger SB-DIAKONIE (SB-DIAKONIE)", "Aachen"):
        assert fact in html
    assert "Gutschein ausgegeben" in html
    assert "offen – überfällig seit 9 Tagen" in html
    # the default KEL_PREFECT_UI_URL; tests/dashboard/test_review_fixes.py has the rest
    assert (
        'href="http://127.0.0.1:4200/runs?tab=task-runs&amp;tag=fall-AC-DIA-1&amp;type=span'
        "&amp;seconds=-" in html
    )
    assert "Schritte dieses Falls in Prefect" in html
    assert "ifk.aachen@jobcenter.example" in html  # the coordinator sees recipients


def test_providers_never_see_e_mail_addresses_and_consent_gates_content(login: Login) -> None:
    own = login("traeger.caritas").get("/dashboard/faelle/AC-CAR-1").text
    assert "<td>Frist überschritten</td>" in own  # the notification to the caseworker …
    assert "@" not in own  # … without its address
    assert "Zwölf Gläubiger" in own  # the provider wrote it
    coordinator = login("koordination").get("/dashboard/faelle/AC-CAR-1").text
    assert "Zwölf Gläubiger" not in coordinator  # no Schweigepflichtentbindung
    assert "Inhalt zurückgehalten" in coordinator


def test_pages_redirect_to_the_login_when_not_signed_in(client: TestClient) -> None:
    for url in ("/dashboard/", "/dashboard/faelle/AC-CAR-1"):
        answer = client.get(url, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/dashboard/anmelden?next={url}"
    answer = client.post(
        "/dashboard/eskalationen/1/quittieren", data={"form_key": "x" * 16}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/dashboard/anmelden")
