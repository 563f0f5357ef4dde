"""Layout in Chromium at 1280 and 1920 px: wide tables keep their key column in view, every
focusable element shows a focus outline of at least 3:1 against what surrounds it.

Issue 8 point 6: the Träger page's "Offene Eskalationen" was cut off even at 1920 px.
Screenshots: ``out/screenshots/layout-*.png``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.axe import assert_accessible
from tests.browser.conftest import CHROMIUM, PASSWORD, SCREENSHOTS

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian-Paket chromium fehlt (.ci/run installiert es)"
)

WIDTHS = (1280, 1920)
#: WCAG 2.2 SC 1.4.11 (non-text contrast) for the focus indicator.
MIN_CONTRAST = 3.0


def log_in(browser: Browser, base: str, username: str, width: int) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900}, locale="de-DE")
    page.goto(f"{base}/dashboard")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Übersicht")
    return page


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return {"x": found["x"], "width": found["width"]}


@pytest.mark.parametrize("width", WIDTHS)
def test_the_traeger_table_shows_its_last_column_and_keeps_the_first_in_view(
    served: str, browser: Browser, width: int
) -> None:
    page = log_in(browser, served, "koordination", width)
    page.goto(f"{served}/dashboard/traeger")
    region = page.locator(".tabelle-rollbar:has(#traeger-tabelle)")
    expect(region).to_have_attribute("role", "region")
    expect(region).to_have_attribute("tabindex", "0")
    expect(region).to_have_attribute("aria-label", re.compile(r"Träger"))
    page.screenshot(path=SCREENSHOTS / f"layout-traeger-{width}.png", full_page=True)

    overflow = region.evaluate("r => r.scrollWidth - r.clientWidth")
    if width == 1920:
        assert overflow <= 0  # the whole table fits: nothing to scroll
    region.focus()  # keyboard users scroll the region with the arrow keys
    for _ in range(200):  # each press scrolls a step (smoothly: the position lags behind)
        if region.evaluate("r => r.scrollLeft") >= overflow - 1:
            break
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([selector, end]) => document.querySelector(selector).scrollLeft >= end - 1",
        arg=[".tabelle-rollbar:has(#traeger-tabelle)", overflow],
        timeout=5000,
    )
    page.screenshot(path=SCREENSHOTS / f"layout-traeger-{width}-gescrollt.png")

    frame = box(page, ".tabelle-rollbar:has(#traeger-tabelle)")
    last = box(page, "#traeger-tabelle thead th:has-text('Offene Eskalationen')")
    first = box(page, "#traeger-tabelle tbody tr:first-child > th")
    head = box(page, "#traeger-tabelle thead tr:first-child > th:first-child")
    right = frame["x"] + frame["width"]
    assert frame["x"] - 1 <= last["x"] and last["x"] + last["width"] <= right + 1
    assert right <= width  # the region itself is on the page
    for key in (first, head):  # the key column stays at the left edge (sticky)
        assert abs(key["x"] - frame["x"]) <= 2, (key, frame)
    assert_accessible(page)
    page.close()


def focus_ring(page: Page) -> dict[str, Any] | None:
    """The focused element's outline and the colour it is drawn on (outside the element
    for a positive offset: the first opaque background of its ancestors; inside for a
    negative one: its own), or None when nothing is focused."""
    ring: dict[str, Any] | None = page.evaluate(
        """() => {
        const el = document.activeElement;
        if (!el || el === document.body) { return null; }
        const style = getComputedStyle(el);
        const opaque = c => c && c !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(c);
        let under = parseFloat(style.outlineOffset) < 0 ? el : el.parentElement;
        let background = 'rgb(255, 255, 255)';
        for (; under; under = under.parentElement) {
            const c = getComputedStyle(under).backgroundColor;
            if (opaque(c)) { background = c; break; }
        }
        return {
            element: el.outerHTML.slice(0, 80),
            style: style.outlineStyle,
            width: parseFloat(style.outlineWidth),
            colour: style.outlineColor,
            background: background,
        };
    }"""
    )
    return ring


def rgb(colour: str) -> tuple[float, float, float]:
    found = re.match(r"rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)", colour)
    assert found, colour
    r, g, b = (float(v) for v in found.groups())
    return r, g, b


def luminance(colour: str) -> float:
    """Relative luminance (WCAG 2.x) of a CSS ``rgb(…)`` colour."""

    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_is_computed_as_wcag_defines_it() -> None:
    assert round(contrast("rgb(255, 255, 255)", "rgb(0, 0, 0)"), 1) == 21.0
    assert round(contrast("rgb(240, 165, 0)", "rgb(255, 255, 255)"), 1) == 2.1  # the old one


@pytest.mark.parametrize(
    ("username", "path"),
    [
        ("koordination", "/dashboard/traeger"),
        ("koordination", "/dashboard/faelle/Z-STUCK"),
        ("koordination", "/dashboard/eintrittsplanung"),
        ("caritas", "/dashboard/faelle/Z-OK"),
    ],
)
def test_every_focusable_element_shows_an_outline_of_at_least_3_to_1(
    served: str, browser: Browser, username: str, path: str
) -> None:
    page = log_in(browser, served, username, 1280)
    page.goto(served + path)
    rings: list[dict[str, Any]] = []
    for _ in range(200):  # Tab through the page until the focus comes round again
        page.keyboard.press("Tab")
        ring = focus_ring(page)
        if ring is None or (rings and ring["element"] == rings[0]["element"]):
            break
        rings.append(ring)
    name = "layout-fokus-" + path.strip("/").replace("/", "-")
    page.screenshot(path=SCREENSHOTS / f"{name}.png")
    page.close()

    assert len(rings) > 5  # the header, the page's links, forms and tables
    weak = [
        (
            r["element"],
            r["colour"],
            r["background"],
            round(contrast(r["colour"], r["background"]), 2),
        )
        for r in rings
        if r["style"] == "none"
        or r["width"] < 2
        or contrast(r["colour"], r["background"]) < MIN_CONTRAST
    ]
    assert weak == []
