"""The coordinator's working day in Debian's Chromium: pages through an inbox of more than
100 escalations, filters it, acknowledges a selection at once, finds a case by its
Aktenzeichen typed in lower case, and sees an escalation leave the inbox once the provider
meets its deadline. axe-core runs on both worklists (0 violations); screenshots go to
``out/screenshots/`` (faelle.png, eskalationen.png).

Own seed (not the shared `served`): 55 Schulden cases Z-2026-AB001 … AB055 at SB-CARITAS
in Aachen and five, Z-2026-ES001 … ES005, at SB-DIAKONIE in Eschweiler, started 2.–6.3.2026;
the sweep of 28.3. escalated both first deadlines of each: 120 escalations.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect

from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from cli.serve import free_port, wait_until
from models.clock import FakeClock
from models.commands import FeedbackIn, ReferralEvent
from models.db import migrate
from models.tables import User
from tasks.sweep import fire_due_timers
from tests.browser.axe import assert_accessible
from tests.browser.conftest import CHROMIUM, PASSWORD, SCREENSHOTS
from tests.browser.test_dashboard_in_chromium import log_in
from tests.factories import PROVIDER, World, at, provider, world

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian-Paket chromium fehlt (.ci/run installiert es)"
)

STARTED = date(2026, 3, 2)
TODAY = date(2026, 3, 28)


@dataclass
class Served:
    url: str
    world: World


@pytest.fixture(scope="module")
def inbox_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path_factory.mktemp('journey') / 'kel.db'}"
    migrate(url)
    w = world(url)
    w.add(
        provider("SB-CARITAS", name="Caritas Schuldnerberatung"),
        provider("SB-DIAKONIE", name="Diakonie Schuldnerberatung"),
    )
    for n in range(1, 56):
        w.start(f"Z-2026-AB{n:03d}", STARTED + timedelta(days=n % 5), customer_number=f"K{n}")
    for n in range(1, 6):
        reference = f"Z-2026-ES{n:03d}"
        w.start(
            reference,
            STARTED + timedelta(days=n % 5),
            customer_number=f"KE{n}",
            site="Eschweiler",
            provider_code="SB-DIAKONIE",
        )
    fire_due_timers(w.session, w.registry, w.settings, at(TODAY, 6))
    w.add(
        User(
            username="koordination",
            role="coordinator",
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
    yield Served(f"http://127.0.0.1:{port}", w)
    server.should_exit = True
    thread.join(10)


def counter(page: Page) -> str:
    return " ".join(page.locator("p.zaehler").inner_text().split())


def rows(page: Page) -> list[str]:
    """The ids of the escalation rows shown (``eskalation-123``)."""
    return [r.get_attribute("id") or "" for r in page.locator("tr[id^=eskalation-]").all()]


def test_the_coordinator_works_through_an_inbox_of_more_than_100(
    inbox_site: Served, browser: Browser
) -> None:
    page = log_in(browser, inbox_site.url, "koordination")
    page.get_by_role("link", name="Alle Eskalationen bearbeiten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Eskalationen")
    assert counter(page) == "Eskalationen 1–50 von 120 (Seite 1 von 3)"
    first_page = rows(page)
    assert len(first_page) == 50
    page.screenshot(path=SCREENSHOTS / "eskalationen.png", full_page=True)
    assert_accessible(page)

    # paging: no silent cut-off
    page.get_by_role("link", name="Nächste Seite").first.click()
    expect(page.locator("p.zaehler")).to_contain_text("Eskalationen 51–100 von 120")
    second_page = rows(page)
    page.get_by_role("link", name="Seite 3", exact=True).click()
    expect(page.locator("p.zaehler")).to_contain_text("Eskalationen 101–120 von 120")
    assert len(set(first_page + second_page + rows(page))) == 120

    # filter by Träger: the URL keeps the view
    page.get_by_label("Träger").select_option("SB-DIAKONIE")
    page.get_by_role("button", name="Anzeigen").click()
    expect(page).to_have_url(re.compile(r"traeger=SB-DIAKONIE"))
    expect(page.locator("p.zaehler")).to_contain_text("Eskalationen 1–10 von 10")
    assert_accessible(page)

    # bulk acknowledge: the whole page, with the script's "alle auswählen"
    selected = rows(page)
    page.get_by_label("Alle Eskalationen dieser Seite auswählen").check()
    page.get_by_role("button", name="Ausgewählte quittieren").click()
    expect(page.get_by_role("status")).to_have_text("10 Eskalationen wurden quittiert.")
    expect(page.locator(f"#{selected[0]}")).to_be_focused()
    expect(page).to_have_url(re.compile(r"traeger=SB-DIAKONIE.*#" + selected[0]))
    for row_id in selected:
        expect(page.locator(f"#{row_id} td").nth(4)).to_have_text("quittiert")

    # one row: assign to myself; the focus comes back to that row
    row = page.locator(f"#{selected[3]}")
    row.locator("input[name=assigned_to]").fill("koordination")
    row.get_by_role("button", name=re.compile("zuweisen$")).click()
    expect(page.get_by_role("status")).to_contain_text("wurde zugewiesen")
    expect(page.locator(f"#{selected[3]}")).to_be_focused()
    page.get_by_label("mir zugewiesen").check()
    page.get_by_role("button", name="Anzeigen").click()
    assert rows(page) == [selected[3]]
    page.close()


def test_the_coordinator_finds_a_case_by_its_reference_in_lower_case(
    inbox_site: Served, browser: Browser
) -> None:
    page = log_in(browser, inbox_site.url, "koordination")
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role("link", name="Fälle").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fälle")
    expect(page.locator("p.zaehler")).to_contain_text("Fälle 1–50 von 60")
    page.get_by_label(re.compile("^Suche")).fill("z-2026-ab01")
    page.get_by_role("button", name="Anzeigen").click()
    expect(page).to_have_url(re.compile(r"suche=z-2026-ab01"))
    expect(page.locator("p.zaehler")).to_contain_text("Fälle 1–10 von 10")
    page.screenshot(path=SCREENSHOTS / "faelle.png", full_page=True)
    assert_accessible(page)
    page.get_by_role("link", name="Z-2026-AB017").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fall Z-2026-AB017")
    page.goto(f"{inbox_site.url}/dashboard/faelle/z-2026-ab017")
    expect(page).to_have_url(re.compile(r"/dashboard/faelle/Z-2026-AB017$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Fall Z-2026-AB017")
    page.close()


def test_an_escalation_leaves_the_inbox_when_the_provider_meets_its_deadline(
    inbox_site: Served, browser: Browser
) -> None:
    page = log_in(browser, inbox_site.url, "koordination")
    inbox = f"{inbox_site.url}/dashboard/eskalationen?suche=Z-2026-AB023"
    page.goto(inbox)
    expect(page.locator("tr[id^=eskalation-]")).to_have_count(2)
    expect(page.locator("tbody")).to_contain_text("1. Rückmeldung")
    inbox_site.world.execute(
        "event",
        "Z-2026-AB023",
        TODAY,
        ReferralEvent(event="first_feedback", feedback=FeedbackIn(appointment_kept=True)),
        actor=PROVIDER,
    )
    page.goto(inbox)
    expect(page.locator("tr[id^=eskalation-]")).to_have_count(1)
    expect(page.locator("tbody")).not_to_contain_text("1. Rückmeldung")
    expect(page.locator("tbody")).to_contain_text("Erstgespräch")
    page.close()
