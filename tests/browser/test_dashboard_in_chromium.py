"""The dashboard as people use it: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import CHROMIUM, PASSWORD, SCREENSHOTS

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian-Paket chromium fehlt (.ci/run installiert es)"
)


def log_in(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="de-DE")
    page.goto(f"{base}/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard/anmelden"))
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Übersicht")
    return page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def test_a_coordinator_finds_an_overdue_case_and_acknowledges_its_escalation(
    served: str, browser: Browser
) -> None:
    page = log_in(browser, served, "koordination")
    shot(page, "uebersicht")
    overdue = page.locator("#ueberfaellige-fristen").locator("..")
    overdue.locator('a[href="/dashboard/faelle?ueberfaellig=1"]').click()  # overdue cases
    expect(page.get_by_role("heading", level=1)).to_have_text("Fälle")
    expect(page.get_by_role("link", name="Z-OK")).to_be_visible()

    page.get_by_role("link", name="Z-OK").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Z-OK")
    expect(page.get_by_text("1. Rückmeldung").first).to_be_visible()
    shot(page, "fall")

    page.get_by_role("link", name="Eskalationen dieses Falls bearbeiten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Eskalationen")
    acknowledge = page.get_by_role("button", name=re.compile(r"\(Z-OK\) quittieren")).first
    label = acknowledge.get_attribute("aria-label")
    acknowledge.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Eskalationen")
    expect(page.get_by_role("status")).to_contain_text("wurde quittiert")
    expect(page.get_by_role("button", name=label or "")).to_have_count(0)
    row = page.locator("#tabelle-eskalationen tr", has_text="Z-OK").first
    expect(row).to_contain_text("quittiert")
    expect(row).to_be_focused()


def test_a_coordinator_enters_a_soll_and_sees_the_deviation(served: str, browser: Browser) -> None:
    page = log_in(browser, served, "koordination")
    page.get_by_role("link", name="Eintrittsplanung").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Eintrittsplanung")

    page.get_by_label("Vorhandener Standort").select_option("Aachen")
    page.get_by_role("spinbutton", name="März").fill("4")
    page.get_by_role("button", name="Soll speichern").click()

    deviation = page.locator("#abweichung-tabelle tr", has_text="Aachen").first
    expect(deviation).to_contain_text("50,0")  # Ist 2 against Soll 4 in March
    shot(page, "eintrittsplanung")


def test_a_provider_sees_only_its_own_cases(served: str, browser: Browser) -> None:
    page = log_in(browser, served, "caritas")
    page.goto(f"{served}/dashboard/faelle")
    body = page.locator("main")
    expect(body).to_contain_text("Z-OK")
    expect(body).not_to_contain_text("Z-OTHER")
    page.goto(f"{served}/dashboard/faelle/Z-OTHER")
    expect(page.locator("main")).to_contain_text("nicht gefunden", ignore_case=True)
    shot(page, "traeger-fremder-fall")
    page.goto(f"{served}/dashboard/traeger")
    shot(page, "traeger")
