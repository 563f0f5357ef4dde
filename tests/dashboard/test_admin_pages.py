"""Dashboard: the Verwaltung pages (Träger, Standorte, Benutzerkonten), admins only.

A database with the Standort Aachen, the Träger SB-CARITAS and four accounts (admin,
koordination, ifk.aachen, traeger.caritas), each signed in once through the login form;
forms are sent as a browser sends them, with the page's CSRF token and form key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import SQLModel, col, select

from api.dashboard.web import COOKIE
from api.main import create_app
from api.security import verify_password
from api.trigger import InProcess
from models.clock import FakeClock
from models.db import session
from models.process import load_registry
from models.settings import Settings
from models.tables import AuditEvent, Provider, Site, User
from tasks import administration as admin
from tasks.repository import Actor
from tests.conftest import ModuleDb
from tests.dashboard.forms import sign_in
from tests.factories import at

JWT_SECRET = "9b1e4c7a2d5f8e0b3a6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a"
STRONG = "Tonne Lampe Wiesel Kompass"
TODAY = date(2026, 3, 2)
BASE = "/dashboard/verwaltung"
USERS = {
    "admin": admin.UserInput("admin", "admin"),
    "koordination": admin.UserInput("koordination", "coordinator"),
    "ifk.aachen": admin.UserInput("ifk.aachen", "caseworker", "Aachen"),
    "traeger.caritas": admin.UserInput("traeger.caritas", "provider", provider="SB-CARITAS"),
}
SESSIONS: dict[str, str] = {}
_FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" '
                   r'name="csrf_token" value="([^"]+)">\s*<input type="hidden" '
                   r'name="form_key" value="([^"]+)">')  # fmt: skip
Login = Callable[[str], TestClient]


def _settings(url: str) -> Settings:
    return Settings(database_url=url, jwt_secret=JWT_SECRET)


@pytest.fixture(scope="module")
def template(module_db: ModuleDb) -> ModuleDb:
    url = module_db.url
    with session(url) as s:
        ctx = admin.Context(s, load_registry(), Actor("setup", "admin"), at(TODAY))
        admin.add_site(ctx, admin.SiteInput("Aachen", "Geschäftsstelle Aachen", "NW"))
        admin.add_provider(
            ctx,
            admin.ProviderInput("SB-CARITAS", "Caritas", "sb@caritas.example", ["schulden"]),
        )
        for data in USERS.values():
            admin.add_user(ctx, data, STRONG)
    app = create_app(_settings(url), clock=FakeClock(at(TODAY, 10)), trigger=InProcess())
    with TestClient(app) as browser:
        for username in USERS:
            answer = sign_in(browser, username, STRONG)
            assert answer.status_code == 303, answer.text
            SESSIONS[username] = answer.cookies[COOKIE]
            browser.cookies.clear()
    return module_db


@pytest.fixture
def url(template: ModuleDb) -> Iterator[str]:
    with template.copy() as copied:
        yield copied


@pytest.fixture
def client(url: str) -> Iterator[TestClient]:
    app = create_app(_settings(url), clock=FakeClock(at(TODAY, 10)), trigger=InProcess())
    with TestClient(app) as anonymous:
        yield anonymous


@pytest.fixture
def login(client: TestClient) -> Login:
    def signed_in(username: str) -> TestClient:
        client.cookies.clear()
        client.cookies.set(COOKIE, SESSIONS[username])
        return client

    return signed_in


def rows(url: str, model: type[SQLModel]) -> list[Any]:
    with session(url) as s:
        return list(s.exec(select(model).order_by(col(model.id))))  # type: ignore[attr-defined]


def send(client: TestClient, page: str, action: str, **data: Any) -> httpx.Response:
    """Open `page`, take the form posting to `action` (its CSRF token and form key), fill
    in `data` and send it; the answer is not followed."""
    html = client.get(page).text
    for target, token, key in _FORM.findall(html):
        if target == action:
            fields = {"csrf_token": token, "form_key": key, **data}
            answer: httpx.Response = client.post(action, data=fields, follow_redirects=False)
            return answer
    raise AssertionError(f"no form for {action} on {page}")


def note(html: str) -> str:
    found = re.search(r'<p class="meldung" role="status" aria-live="polite">([^<]*)</p>', html)
    assert found is not None
    return found[1]


def signed_out(client: TestClient) -> bool:
    """Whether the client's session cookie no longer opens a page (login required)."""
    answer = client.get("/dashboard/", follow_redirects=False)
    return answer.status_code == 303 and "/dashboard/anmelden" in answer.headers["location"]


NEW_PROVIDER = {
    "code": "SB-DIAKONIE",
    "name": "Diakonie Schuldnerberatung",
    "email": "sb@diakonie.example",
    "services": ["schulden"],
    "sites": ["Aachen"],
    "capacity": "15",
    "address": "Musterweg 3\r\n52249 Eschweiler",
    "phone": "02403 98765",
    "hint": "telefonisch Mo–Fr 8–13 Uhr",
}


# --- who may --------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["koordination", "ifk.aachen", "traeger.caritas"])
@pytest.mark.parametrize("path", ["", "/traeger", "/standorte", "/benutzer", "/benutzer/admin"])
def test_only_admins_see_the_verwaltung(login: Login, username: str, path: str) -> None:
    answer = login(username).get(BASE + path)

    assert answer.status_code == 403
    assert "<h1>Keine Berechtigung</h1>" in answer.text
    assert 'href="/dashboard/verwaltung"' not in answer.text  # no link in the navigation


def test_another_role_cannot_create_a_provider_even_with_a_valid_token(
    login: Login, url: str
) -> None:
    client = login("koordination")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard").text)
    assert token is not None
    data = {"csrf_token": token[1], "form_key": "k" * 16, **NEW_PROVIDER}

    answer = client.post(f"{BASE}/traeger", data=data, follow_redirects=False)

    assert answer.status_code == 403
    assert [p.code for p in rows(url, Provider)] == ["SB-CARITAS"]


def test_without_a_login_the_verwaltung_leads_to_the_login(client: TestClient) -> None:
    answer = client.get(f"{BASE}/benutzer", follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/anmelden?next=/dashboard/verwaltung/benutzer"


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
    login: Login, url: str
) -> None:
    client = login("admin")

    answer = client.post(
        f"{BASE}/traeger", data={"form_key": "k" * 16, **NEW_PROVIDER}, follow_redirects=False
    )

    assert answer.status_code == 403
    assert "Formular abgelaufen" in answer.text
    assert [p.code for p in rows(url, Provider)] == ["SB-CARITAS"]


# --- Träger ---------------------------------------------------------------------------------


def test_the_overview_links_to_the_three_lists_with_their_counts(login: Login) -> None:
    html = login("admin").get(BASE).text

    assert "<h1>Verwaltung</h1>" in html
    for path in ("standorte", "traeger", "benutzer"):
        assert f'href="/dashboard/verwaltung/{path}"' in html
    assert "4 aktiv, 4 insgesamt." in html  # accounts
    assert 'aria-current="page">Verwaltung</a>' in html


def test_an_admin_creates_a_provider_with_the_form_and_it_is_audited(
    login: Login, url: str
) -> None:
    client = login("admin")

    answer = send(client, f"{BASE}/traeger", f"{BASE}/traeger", **NEW_PROVIDER)

    assert answer.status_code == 303
    assert answer.headers["location"] == f"{BASE}/traeger?hinweis=traeger-angelegt"
    listing = client.get(answer.headers["location"]).text
    assert note(listing) == "Der Träger wurde angelegt."
    assert '<th scope="row">SB-DIAKONIE</th>' in listing
    created = rows(url, Provider)[-1]
    assert (created.code, created.sites, created.monthly_capacity, created.address) == (
        "SB-DIAKONIE",
        ["Aachen"],
        15,
        "Musterweg 3\n52249 Eschweiler",
    )
    entry = rows(url, AuditEvent)[-1]
    assert (entry.actor, entry.action, entry.detail["provider"]) == (
        "admin",
        "provider_created",
        "SB-DIAKONIE",
    )
    assert "diakonie.example" not in repr(entry.detail)


def test_a_refused_provider_form_shows_each_german_error_next_to_its_field(
    login: Login, url: str
) -> None:
    bad = {
        **NEW_PROVIDER,
        "code": "SB-CARITAS",
        "email": "sb(at)diakonie",
        "services": ["schulden", "schuldnerberatung"],
        "capacity": "-2",
    }
    before = (rows(url, Provider), len(rows(url, AuditEvent)))

    answer = send(login("admin"), f"{BASE}/traeger", f"{BASE}/traeger", **bad)

    html = answer.text
    assert answer.status_code == 422
    assert "Bitte prüfen – es wurde nichts gespeichert:" in html
    for field, message in {
        "code": "Es gibt bereits einen Träger mit dem Kürzel „SB-CARITAS“.",
        "email": "„sb(at)diakonie“ ist keine gültige E-Mail-Adresse.",
        "services": "Unbekannte Leistungsart „schuldnerberatung“",
        "capacity": "Die Kapazität muss eine ganze Zahl von 0 bis 100000 sein (nicht „-2“).",
    }.items():
        assert re.search(f'<p class="fehler" id="fehler-{field}">{re.escape(message)}', html)
        assert re.search(f'id="feld-{field}"[^>]*aria-describedby="[^"]*fehler-{field}"', html)
    assert 'id="feld-email" name="email" type="email" value="sb(at)diakonie"' in html
    assert 'aria-invalid="true"' in html
    assert (rows(url, Provider), len(rows(url, AuditEvent))) == before


def test_the_edit_form_saves_changes_and_the_status_button_deactivates(
    login: Login, url: str
) -> None:
    client = login("admin")
    page = f"{BASE}/traeger/SB-CARITAS"
    form = {"name": "Caritas Aachen", "email": "sb@caritas.example", "services": ["schulden"],
            "capacity": "22"}  # fmt: skip

    saved = send(client, page, page, **form)
    deactivated = send(client, page, f"{page}/status", aktiv="false")

    assert saved.headers["location"] == f"{BASE}/traeger?hinweis=traeger-gespeichert"
    assert deactivated.headers["location"] == f"{BASE}/traeger?hinweis=traeger-deaktiviert"
    [caritas] = rows(url, Provider)
    assert (caritas.name, caritas.monthly_capacity, caritas.active) == ("Caritas Aachen", 22, False)
    assert [e.detail.get("fields") for e in rows(url, AuditEvent)[-2:]] == [
        ["monthly_capacity", "name"],
        ["active"],
    ]
    listing = client.get(f"{BASE}/traeger").text
    assert '>Aktivieren<span class="sr-only"> SB-CARITAS</span>' in listing


def test_a_form_sent_twice_takes_effect_once(login: Login, url: str) -> None:
    client = login("admin")
    html = client.get(f"{BASE}/traeger").text
    [(token, key)] = [(t, k) for a, t, k in _FORM.findall(html) if a == f"{BASE}/traeger"]
    data = {"csrf_token": token, "form_key": key, **NEW_PROVIDER}

    first = client.post(f"{BASE}/traeger", data=data, follow_redirects=False)
    again = client.post(f"{BASE}/traeger", data=data, follow_redirects=False)

    assert first.headers["location"].endswith("hinweis=traeger-angelegt")
    assert again.headers["location"].endswith("hinweis=bereits-gesendet")
    assert [p.code for p in rows(url, Provider)] == ["SB-CARITAS", "SB-DIAKONIE"]


def test_an_unknown_provider_answers_the_404_page(login: Login) -> None:
    assert login("admin").get(f"{BASE}/traeger/GIBT-ES-NICHT").status_code == 404


# --- Standorte ------------------------------------------------------------------------------


def test_an_admin_creates_a_site_and_an_unknown_land_is_refused(login: Login, url: str) -> None:
    client = login("admin")
    page = f"{BASE}/standorte"

    refused = send(client, page, page, code="Eschweiler", name="GS Eschweiler", land="XY")
    created = send(client, page, page, code="Eschweiler", name="GS Eschweiler", land="NW",
                   jobcenter="Jobcenter StädteRegion Aachen")  # fmt: skip

    assert refused.status_code == 422
    assert 'id="fehler-land">Unbekanntes Bundesland „XY“' in refused.text
    assert created.headers["location"] == f"{page}?hinweis=standort-angelegt"
    assert [(s.code, s.land) for s in rows(url, Site)] == [("Aachen", "NW"), ("Eschweiler", "NW")]
    assert "Nordrhein-Westfalen" in client.get(page).text


# --- Benutzerkonten -------------------------------------------------------------------------


def test_a_new_account_gets_a_generated_password_shown_once(
    login: Login, url: str, client: TestClient
) -> None:
    admin_client = login("admin")
    page = f"{BASE}/benutzer"
    html = admin_client.get(page).text
    [(token, key)] = [(t, k) for a, t, k in _FORM.findall(html) if a == page]
    data = {"csrf_token": token, "form_key": key, "username": "ifk.neu", "role": "caseworker",
            "site": "Aachen", "email": "ifk.neu@jobcenter.example"}  # fmt: skip

    first = admin_client.post(page, data=data, follow_redirects=False)
    again = admin_client.post(page, data=data, follow_redirects=False)

    assert first.status_code == 200
    shown = re.search(r'<code id="neues-passwort">([^<]+)</code>', first.text)
    assert shown is not None
    assert "nur jetzt" in first.text
    assert again.status_code == 200 and shown[1] not in again.text
    assert "nur einmal angezeigt" in again.text
    [account] = [u for u in rows(url, User) if u.username == "ifk.neu"]
    assert verify_password(shown[1], account.password_hash)
    client.cookies.clear()
    assert sign_in(client, "ifk.neu", shown[1]).status_code == 303
    assert shown[1] not in repr([e.detail for e in rows(url, AuditEvent)])


def test_the_account_pages_never_show_password_hashes(login: Login) -> None:
    client = login("admin")
    for path in ("/benutzer", "/benutzer/ifk.aachen"):
        html = client.get(BASE + path).text
        assert "argon2" not in html and "password_hash" not in html


def test_a_caseworker_without_a_site_is_refused_next_to_the_site_field(
    login: Login, url: str
) -> None:
    page = f"{BASE}/benutzer"

    answer = send(login("admin"), page, page, username="ifk.neu", role="caseworker",
                  password=STRONG)  # fmt: skip

    assert answer.status_code == 422
    assert 'id="fehler-site">Integrationsfachkräfte brauchen einen Standort.' in answer.text
    assert 'aria-describedby="hinweis-site fehler-site" aria-invalid="true"' in answer.text
    assert STRONG not in answer.text  # a typed password is never sent back
    assert "ifk.neu" not in [u.username for u in rows(url, User)]


def test_a_role_change_and_a_deactivation_take_effect_at_once(
    login: Login, url: str, client: TestClient
) -> None:
    page = f"{BASE}/benutzer/ifk.aachen"
    assert not signed_out(login("ifk.aachen"))
    changed = send(login("admin"), page, page, role="coordinator", site="", provider="", email="")
    deactivated = send(login("admin"), page, f"{page}/status", aktiv="false")

    assert changed.headers["location"] == f"{BASE}/benutzer?hinweis=benutzer-gespeichert"
    assert deactivated.headers["location"] == f"{BASE}/benutzer?hinweis=benutzer-deaktiviert"
    [ifk] = [u for u in rows(url, User) if u.username == "ifk.aachen"]
    assert (ifk.role, ifk.site, ifk.active) == ("coordinator", None, False)
    assert signed_out(login("ifk.aachen"))
    assert [e.action for e in rows(url, AuditEvent)[-2:]] == ["user_updated", "user_deactivated"]


def test_an_admin_cannot_deactivate_their_own_account(login: Login, url: str) -> None:
    client = login("admin")
    html = client.get(f"{BASE}/benutzer/koordination").text
    [(token, _)] = [(t, k) for a, t, k in _FORM.findall(html) if a.endswith("/status")]
    data = {"csrf_token": token, "form_key": "eigenes-konto-1", "aktiv": "false"}

    answer = client.post(f"{BASE}/benutzer/admin/status", data=data, follow_redirects=False)

    assert answer.status_code == 409
    assert 'id="fehler-status">Das eigene Konto kann man nicht deaktivieren.' in answer.text
    assert all(u.active for u in rows(url, User))


def test_a_password_reset_checks_the_strength_and_ends_the_sessions(
    login: Login, url: str, client: TestClient
) -> None:
    page = f"{BASE}/benutzer/koordination"
    assert not signed_out(login("koordination"))
    weak = send(login("admin"), page, f"{page}/passwort", password="koordination1")
    strong = send(login("admin"), page, f"{page}/passwort", password="Kaktus Ofenrohr Zebra 9")

    assert weak.status_code == 422
    assert 'id="fehler-password">Das Passwort ist zu leicht zu erraten' in weak.text
    assert strong.headers["location"] == f"{page}?hinweis=passwort-gesetzt"
    [account] = [u for u in rows(url, User) if u.username == "koordination"]
    assert verify_password("Kaktus Ofenrohr Zebra 9", account.password_hash)
    assert signed_out(login("koordination"))
    entry = rows(url, AuditEvent)[-1]
    assert (entry.action, entry.detail) == (
        "user_password_reset",
        {"account": "koordination", "generated": False, "sessions_revoked": 1},
    )


def test_a_generated_password_reset_is_shown_once(login: Login, url: str) -> None:
    page = f"{BASE}/benutzer/traeger.caritas"

    answer = send(login("admin"), page, f"{page}/passwort", password="")

    shown = re.search(r'<code id="neues-passwort">([^<]+)</code>', answer.text)
    assert answer.status_code == 200 and shown is not None
    [account] = [u for u in rows(url, User) if u.username == "traeger.caritas"]
    assert verify_password(shown[1], account.password_hash)
