"""The provider's journey in Debian's Chromium (issue 8, point 3): a Träger receives a
Gutschein, finds it in the Gutschein-Eingang, books the first appointment, reports it
kept and sends a Zwischenbericht with modules from the catalog.

axe-core runs on every page on the way (0 violations, WCAG 2.1 AA); each page is saved
as ``out/screenshots/portal-*.png``. The server has its own seed data (module fixture):
one debt-counselling office, its user, and an earlier Gutschein that is overdue.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect
from pydantic import SecretStr
from sqlmodel import select

from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from cli.serve import free_port, wait_until
from models.clock import FakeClock
from models.db import migrate
from models.tables import Feedback, Referral, User
from tests.browser.axe import assert_accessible
from tests.browser.conftest import CHROMIUM, PASSWORD, SCREENSHOTS
from tests.factories import CASEWORKER, World, at, provider, start_referral, world

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian-Paket chromium fehlt (.ci/run installiert es)"
)

TODAY = date(2026, 5, 4)  # a Monday
SECRET = "7c1e4a9d2f5b8e0c3a6d9f2b5e8a1c4d7f0b3e6a9c2d5f8b1e4a7d0c3f6b9e2a"
CONSENT = {"form": "written", "granted_on": "2026-04-01"}


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """The dashboard on its own database: SB-CARITAS with its user ``caritas`` and one
    Gutschein of 15.4. (first appointment overdue); the server's clock stands at 4.5."""
    url = f"sqlite:///{tmp_path_factory.mktemp('portal') / 'kel.db'}"
    migrate(url)
    w = world(url)
    w.add(provider("SB-CARITAS", name="Caritas Schuldnerberatung", sites=["Aachen"]))
    w.start("Z-ALT", date(2026, 4, 15), customer_number="K-ALT")
    w.add(
        User(
            username="caritas",
            role="provider",
            provider_id=1,
            created_at=at(TODAY),
            password_hash=hash_password(PASSWORD),
        )
    )
    settings = w.settings.model_copy(update={"jwt_secret": SecretStr(SECRET)})
    app = create_app(settings, clock=FakeClock(at(TODAY, 10)), trigger=InProcess())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "Dashboard-Server")
    yield f"http://127.0.0.1:{port}", w
    server.should_exit = True
    thread.join(10)


def checked(page: Page, name: str) -> None:
    """Screenshot `page` as ``portal-<name>.png`` and run axe-core on it."""
    page.screenshot(path=SCREENSHOTS / f"portal-{name}.png", full_page=True)
    assert_accessible(page)


def status_says(page: Page, text: str) -> None:
    expect(page.get_by_role("status")).to_contain_text(text)


def test_a_provider_receives_a_gutschein_books_keeps_and_reports(
    portal: tuple[str, World], browser: Browser
) -> None:
    base, w = portal
    w.execute(  # the caseworker starts the referral: the Gutschein goes to SB-CARITAS
        "start_referral",
        "Z-NEU",
        TODAY - timedelta(days=2),
        start_referral(customer_number="K-NEU", consent=CONSENT),
        actor=CASEWORKER,
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page.goto(f"{base}/dashboard/portal")
    expect(page).to_have_url(re.compile(r"/dashboard/anmelden\?next=/dashboard/portal"))
    page.get_by_label("Benutzername").fill("caritas")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Gutschein-Eingang")
    rows = page.locator("#tabelle-eingang tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Z-ALT")  # the oldest first, overdue
    expect(rows.nth(0)).to_contain_text("seit 5 Tagen überfällig")
    expect(rows.nth(1)).to_contain_text("Z-NEU")
    expect(rows.nth(1)).to_contain_text("noch 14 Tage")  # due Sat 16.5. -> Mon 18.5.
    checked(page, "eingang")

    page.get_by_role("link", name="Erstgespräch terminieren (Z-NEU)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Erstgespräch terminieren")
    page.get_by_label("Termin des Erstgesprächs").fill(TODAY.isoformat())
    checked(page, "termin")
    page.get_by_role("button", name="Termin melden").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Fall Z-NEU")
    status_says(page, "Der Termin des Erstgesprächs ist gemeldet.")
    checked(page, "fall-termin")

    page.get_by_role("link", name="Erstgespräch wahrgenommen").click()
    expect(page.get_by_label("Tag des Erstgesprächs")).to_have_value(TODAY.isoformat())
    checked(page, "wahrgenommen")
    page.get_by_role("button", name="Wahrnehmung melden").click()
    status_says(page, "Das Erstgespräch ist als wahrgenommen gemeldet")
    expect(page.locator(".fall-eckdaten").first).to_contain_text("In Beratung")

    page.get_by_role("link", name="Zwischenbericht").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Zwischenbericht")
    page.get_by_label("Einstufung").select_option(label="Hilfebedarfsgruppe 2")
    page.get_by_role("spinbutton", name="Modul 1: Basisberatung E-Stunden").fill("2.5")
    page.get_by_role(
        "spinbutton", name="Modul 3: Forderungsüberprüfung und Schuldnerschutz E-Stunden"
    ).fill("1")
    page.get_by_label("2. Ausgangssituation").fill("Zwölf Gläubiger, eine Kontopfändung.")
    page.get_by_label("3. Ziele der Beratung / Leistungsmodule").fill("Schuldenbereinigungsplan")
    checked(page, "zwischenbericht")
    page.get_by_role("button", name="Zwischenbericht senden").click()

    status_says(page, "Der Zwischenbericht ist gesendet.")
    report = page.locator("article.rueckmeldung").last
    expect(report).to_contain_text("Zwischenmeldung")
    expect(report).to_contain_text("Modul 1 (2,5 Std.)")
    checked(page, "fall-bericht")

    page.get_by_role("link", name="Gutschein-Eingang").click()
    expect(page.locator("#tabelle-laufend")).to_contain_text("Z-NEU")
    expect(page.locator("#tabelle-eingang tbody tr")).to_have_count(1)
    checked(page, "laufend")
    page.close()

    with w.session() as s:
        case = s.exec(select(Referral).where(Referral.reference == "Z-NEU")).one()
        sent = s.exec(select(Feedback).where(Feedback.referral_id == case.id)).one()
    assert (case.state, case.appointment_on, case.need_group) == ("in_counselling", TODAY, 2)
    assert sent.modules == [{"code": 1, "hours": 2.5}, {"code": 3, "hours": 1.0}]


def test_a_refused_form_is_shown_again_with_the_error_at_its_field(
    portal: tuple[str, World], browser: Browser
) -> None:
    base, _ = portal
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page.goto(f"{base}/dashboard/faelle/Z-ALT/meldung/ablehnung")
    page.get_by_label("Benutzername").fill("caritas")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Gutschein ablehnen")
    page.locator("#grund").evaluate("select => select.removeAttribute('required')")

    page.get_by_role("button", name="Ablehnung senden").click()

    expect(page.get_by_role("alert")).to_contain_text("Bitte wählen Sie einen Grund")
    expect(page.locator("#grund")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#grund")).to_have_attribute("aria-describedby", "grund-fehler")
    checked(page, "fehler")
    page.close()
