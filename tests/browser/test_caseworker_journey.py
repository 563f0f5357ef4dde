"""The caseworker's journey in Debian's Chromium (issue 8, point 4): start a referral, download
the Gutschein PDF, record the Schweigepflichtentbindung. axe-core on every page (0
violations); screenshots in ``out/screenshots/zuweisung-*.png``.
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
from pypdf import PdfReader

from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from cli.serve import free_port, wait_until
from models.clock import FakeClock
from models.db import migrate
from models.tables import Site, User
from tests.browser.axe import assert_accessible
from tests.browser.conftest import CHROMIUM, PASSWORD, SCREENSHOTS
from tests.browser.test_dashboard_in_chromium import log_in
from tests.factories import at, provider, world

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian-Paket chromium fehlt (.ci/run installiert es)"
)

TODAY = date(2026, 5, 4)
YILMAZ = "Schuldnerberatung Yılmaz & Łukasiewicz"


@pytest.fixture(scope="module")
def served_for_caseworker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dashboard with two Schuldnerberatung providers at Aachen and a caseworker there."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ifk') / 'kel.db'}"
    migrate(url)
    w = world(url)
    w.add(
        Site(code="Aachen", name="Aachen-Mitte", jobcenter="Jobcenter StädteRegion Aachen"),
        provider(
            "SB-YILMAZ",
            name=YILMAZ,
            sites=["Aachen"],
            monthly_capacity=20,
            address="Hauptstraße 1\n52062 Aachen",
            phone="0241 123456",
            appointment_hint="Terminvereinbarung telefonisch Mo–Do 9–12 Uhr",
        ),
        provider("SB-CARITAS", name="Caritas Schuldnerberatung", sites=["Aachen"]),
        User(
            username="ifk.aachen",
            role="caseworker",
            site="Aachen",
            email="ifk.aachen@jc.example",
            created_at=at(TODAY),
            password_hash=hash_password(PASSWORD),
        ),
    )
    start = TODAY - timedelta(days=30)
    w.start("Z-ALT", start, provider_code="SB-YILMAZ", customer_number="K1")
    w.event(
        "Z-ALT",
        start + timedelta(days=1),
        "appointment_booked",
        appointment_on=start + timedelta(days=6),
    )
    w.event("Z-ALT", start + timedelta(days=6), "appointment_kept")
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
    """axe-core on the page as it is now, and its screenshot as ``zuweisung-<name>.png``."""
    page.screenshot(path=SCREENSHOTS / f"zuweisung-{name}.png", full_page=True)
    assert_accessible(page)


def test_a_caseworker_starts_a_referral_prints_the_gutschein_and_records_consent(
    served_for_caseworker: str, browser: Browser
) -> None:
    page = log_in(browser, served_for_caseworker, "ifk.aachen")
    page.get_by_role("link", name="Neue Zuweisung").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Neue Zuweisung")
    checked(page, "1-leistung")

    page.get_by_label("Leistungsart").select_option("schulden")
    page.get_by_role("button", name="Weiter: Träger wählen").click()
    table = page.get_by_role("table", name=re.compile("Träger für Schuldnerberatung"))
    yilmaz = table.get_by_role("row", name=re.compile("Yılmaz"))
    expect(yilmaz).to_contain_text("6 Tage (1 Erstgespräch)")  # voucher to first appointment
    checked(page, "2-formular")

    page.get_by_label("Aktenzeichen aus dem Fachverfahren").fill("AC-JOURNEY-1")
    page.get_by_label("Kundennummer").fill("K-2026-0815")
    page.get_by_label("25 bis 49 Jahre").check()
    page.get_by_label(YILMAZ).check()
    expect(page.get_by_label("E-Mail der zuständigen Integrationsfachkraft")).to_have_value(
        "ifk.aachen@jc.example"
    )
    page.get_by_role("button", name="Zuweisung anlegen und Gutschein ausgeben").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Fall AC-JOURNEY-1")
    expect(page.get_by_role("status").first).to_contain_text("Die Zuweisung ist angelegt")
    checked(page, "3-fall")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Gutschein drucken (PDF)").click()
    download = download_info.value
    saved = SCREENSHOTS / "zuweisung-gutschein.pdf"
    download.save_as(saved)
    text = " ".join(PdfReader(saved).pages[0].extract_text().split())
    assert "Gutschein-Nummer: GS-2026-" in text and YILMAZ in text
    assert "Gültig bis: 01.06.2026" in text

    page.locator("summary", has_text="Schweigepflichtentbindung erfassen").click()
    page.get_by_label("elektronisch").check()
    page.get_by_role("button", name="Schweigepflichtentbindung erfassen").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Schweigepflichtentbindung ist erfasst"
    )
    consents = page.get_by_role("table", name="Erfasste Schweigepflichtentbindungen")
    expect(consents).to_contain_text("elektronisch")
    expect(consents).to_contain_text("gültig")
    checked(page, "4-einwilligung")
    page.close()
