"""The admin sets up a Träger in Debian's Chromium: from the navigation to the Verwaltung,
the Träger list, a refused form (the German error next to the field) and the new Träger in
the list; then the Standorte, the accounts and a generated password. axe-core runs on every
Verwaltung page (0 violations); screenshots go to ``out/screenshots/verwaltung-*.png``.

Own seed (not the shared `served`): the Standorte Aachen and Eschweiler, the Träger
SB-CARITAS and one admin account.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect

from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from cli.serve import free_port, wait_until
from models.clock import FakeClock
from models.db import migrate, session
from models.tables import User
from tasks import administration as admin
from tasks.repository import Actor
from tests.browser.axe import assert_accessible
from tests.browser.conftest import CHROMIUM, PASSWORD, SCREENSHOTS
from tests.browser.test_dashboard_in_chromium import log_in
from tests.factories import at, world

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian-Paket chromium fehlt (.ci/run installiert es)"
)

TODAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def admin_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('verwaltung') / 'kel.db'}"
    migrate(url)
    w = world(url)
    with session(url) as s:
        ctx = admin.Context(s, w.registry, Actor("setup", "admin"), at(TODAY))
        for code, name in (("Aachen", "Aachen-Mitte"), ("Eschweiler", "Eschweiler")):
            admin.add_site(ctx, admin.SiteInput(code, f"Geschäftsstelle {name}", "NW"))
        admin.add_provider(
            ctx,
            admin.ProviderInput(
                "SB-CARITAS", "Caritas Schuldnerberatung", "sb@caritas.example", ["schulden"]
            ),
        )
    w.add(
        User(
            username="admin",
            role="admin",
            created_at=at(TODAY),
            password_hash=hash_password(PASSWORD),
        )
    )
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


def checked(page: Page, name: str) -> None:
    """Screenshot ``verwaltung-<name>.png`` and axe-core on the page as it is now."""
    page.screenshot(path=SCREENSHOTS / f"verwaltung-{name}.png", full_page=True)
    assert_accessible(page)


def test_an_admin_creates_a_provider_through_the_verwaltung(
    admin_site: str, browser: Browser
) -> None:
    page = log_in(browser, admin_site, "admin")
    page.get_by_role("link", name="Verwaltung").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Verwaltung")
    checked(page, "uebersicht")

    page.locator("#inhalt").get_by_role("link", name="Träger", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Träger verwalten")
    checked(page, "traeger")

    form = page.locator("form.verwaltung-formular")
    form.get_by_label("Kürzel").fill("SB-CARITAS")  # taken: refused
    form.get_by_label("Name").fill("Diakonie Schuldnerberatung")
    form.get_by_label("E-Mail-Adresse").fill("sb@diakonie.example")
    form.get_by_label("Schuldnerberatung").check()
    form.get_by_role("button", name="Träger anlegen").click()
    code = page.get_by_label("Kürzel")
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#fehler-code")).to_have_text(
        "Es gibt bereits einen Träger mit dem Kürzel „SB-CARITAS“."
    )
    expect(page.get_by_role("alert")).to_contain_text("es wurde nichts gespeichert")
    checked(page, "traeger-fehler")

    code.fill("SB-DIAKONIE")
    page.get_by_label("Aachen").check()
    page.get_by_label("Kapazität: neue Fälle je Monat").fill("15")
    page.get_by_label("Anschrift").fill("Musterweg 3\n52249 Eschweiler")
    page.get_by_role("button", name="Träger anlegen").click()

    expect(page.get_by_role("status")).to_have_text("Der Träger wurde angelegt.")
    row = page.locator("#tabelle-traeger tr", has=page.get_by_role("rowheader", name="SB-DIAKONIE"))
    expect(row).to_contain_text("Diakonie Schuldnerberatung")
    expect(row).to_contain_text("Aachen")
    page.get_by_role("link", name="Bearbeiten SB-DIAKONIE").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Träger SB-DIAKONIE bearbeiten")
    expect(page.get_by_label("Kapazität: neue Fälle je Monat")).to_have_value("15")
    checked(page, "traeger-bearbeiten")
    page.close()


def test_sites_accounts_and_a_generated_password_pass_axe(
    admin_site: str, browser: Browser
) -> None:
    page = log_in(browser, admin_site, "admin")
    page.goto(admin_site + "/dashboard/verwaltung/standorte")
    expect(page.get_by_role("heading", level=1)).to_have_text("Standorte verwalten")
    checked(page, "standorte")
    page.goto(admin_site + "/dashboard/verwaltung/standorte/Aachen")
    checked(page, "standort-bearbeiten")

    page.goto(admin_site + "/dashboard/verwaltung/benutzer")
    checked(page, "benutzer")
    form = page.locator("form.verwaltung-formular")
    form.get_by_label("Anmeldename").fill("ifk.eschweiler")
    form.get_by_label("Rolle").select_option("caseworker")
    form.get_by_label("Standort").select_option("Eschweiler")
    form.get_by_role("button", name="Konto anlegen").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Neues Passwort für ifk.eschweiler")
    expect(page.locator("#neues-passwort")).to_have_text(re.compile(r"^(\w{4}-){4}\w{4}$"))
    checked(page, "passwort")
    page.get_by_role("link", name="Zum Konto ifk.eschweiler").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Konto ifk.eschweiler")
    checked(page, "benutzer-bearbeiten")
    page.close()
