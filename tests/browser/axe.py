"""axe-core (the npm package, ``make install`` puts it into ``node_modules``) run on a page.

The dashboard's CSP allows no inline script, so axe is evaluated through the DevTools
protocol (`Page.evaluate`), which the page's CSP does not govern.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
#: WCAG 2.1 A and AA, the level BITV 2.0 requires of public bodies.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The axe-core violations of the page as loaded now (id, impact, help, targets)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]


def assert_accessible(page: Page) -> None:
    """Fail with the list of violations when axe-core finds any on `page`."""
    found = axe_violations(page)
    assert not found, f"axe-core auf {page.url}:\n" + json.dumps(
        found, indent=2, ensure_ascii=False
    )
