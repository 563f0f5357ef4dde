"""axe-core on every dashboard page, for every role that sees it: 0 violations (WCAG 2.1 AA).

Each page is also saved as a screenshot in ``out/screenshots/`` (test artefacts).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.browser.axe import assert_accessible
from tests.browser.conftest import CHROMIUM, SCREENSHOTS
from tests.browser.test_dashboard_in_chromium import log_in

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian-Paket chromium fehlt (.ci/run installiert es)"
)

PAGES = {
    "koordination": [
        "/dashboard/",
        "/dashboard/faelle/Z-STUCK",
        "/dashboard/traeger",
        "/dashboard/kennzahlen",
        "/dashboard/eintrittsplanung",
        "/dashboard/halbjahresbericht",
        "/dashboard/prozess",
        "/dashboard/faelle",
        "/dashboard/faelle?zustand=alle&sortierung=aktenzeichen",
        "/dashboard/eskalationen",
        "/dashboard/faelle/Z-OK",  # the caseworker section (Gutschein, consents) of a case
    ],
    "caritas": [
        "/dashboard/",
        "/dashboard/faelle/Z-OK",
        "/dashboard/faelle",
        "/dashboard/portal",  # Träger-Portal (issue 8.3): Gutschein-Eingang, forms, links
        "/dashboard/faelle/Z-OK/meldung/zwischenbericht",
        "/dashboard/faelle/Z-OK/meldung/abbruch",
        "/dashboard/faelle/Z-OK/leistungsabschnitt",  # Leistungsabschnitt melden (LA 1-4)
        "/dashboard/faelle/Z-STUCK/meldung/termin",  # not allowed in its state: 409 page
        "/dashboard/link/kein-gueltiger-link",
    ],
}


@pytest.mark.parametrize(
    ("username", "path"), [(u, p) for u, paths in PAGES.items() for p in paths]
)
def test_every_page_passes_axe_core(
    served: str, browser: Browser, username: str, path: str
) -> None:
    page = log_in(browser, served, username)
    page.goto(served + path)
    name = f"axe-{username}-" + (path.strip("/").replace("/", "-") or "start")
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    assert_accessible(page)
    page.close()
