"""The one place that builds the addresses of a case: its dashboard page (for pages and
e-mails), its Prefect tag and the Prefect UI's list of its flow runs.

A case is addressed by its Aktenzeichen (`Referral.reference`), never by the database id.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote, urlencode

#: Where the dashboard is mounted.
DASHBOARD = "/dashboard"


LOGIN_PATH = f"{DASHBOARD}/anmelden"
"""The dashboard's login page."""


def login_url(next_path: str | None = None) -> str:
    """The login page, returning to the dashboard path `next_path` after the login
    (``/dashboard/anmelden?next=/dashboard/faelle``); the login checks ``next`` again."""
    if not next_path:
        return LOGIN_PATH
    return f"{LOGIN_PATH}?next={quote(next_path, safe='/')}"


def case_path(reference: str) -> str:
    """The dashboard path of the case `reference` (``/dashboard/faelle/<Aktenzeichen>``)."""
    return f"{DASHBOARD}/faelle/{quote(reference, safe='')}"


def case_url(app_url: str, reference: str) -> str:
    """The absolute URL of the case page under the public base `app_url` (``KEL_APP_URL``,
    e.g. ``https://kel.jobcenter.example``); empty when no base is configured."""
    base = app_url.rstrip("/")
    return f"{base}{case_path(reference)}" if base else ""


def case_tag(reference: str) -> str:
    """The Prefect tag of the flow runs that touched the case `reference` (``fall-<Aktenzeichen>``).

    The Aktenzeichen is the pseudonymous id of the Fachverfahren: no name or other datum of
    the person reaches Prefect (DESIGN §4.4, §4.7).
    """
    return f"fall-{reference}"


def case_artifact_key(reference: str) -> str:
    """The key of the case's Prefect artifact (its course, `tasks.case_card`): Prefect allows
    lowercase letters, digits and dashes only, so ``Z-2026-0001`` -> ``fall-z-2026-0001``.

    An Aktenzeichen (`models.commands.REFERENCE_PATTERN`: letters, digits, ``.``, ``_``,
    ``-``) is lowercased and ``.``/``_`` become ``-``. That is not one-to-one (``z-1``,
    ``Z_1`` and ``Z-1`` would share a key), so a key is plain only for an Aktenzeichen of
    capitals, digits and dashes (the usual form); any other gets the first 8 hex digits of
    its SHA-256 appended (``z.1`` -> ``fall-z-1-<8 hex>``) and keeps a card of its own.
    """
    slug = reference.lower().replace(".", "-").replace("_", "-")
    if set(reference) <= _PLAIN_KEY:
        return f"fall-{slug}"
    digest = hashlib.sha256(reference.encode()).hexdigest()[:8]
    return f"fall-{slug}-{digest}"


_PLAIN_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def prefect_runs_url(
    prefect_ui_url: str, reference: str, seconds_back: int, tab: str = "task-runs"
) -> str:
    """The Prefect UI's run list filtered to the case `reference`, over the last
    `seconds_back` seconds (at least one day), so the case's whole life shows instead of
    the UI's default 7 days.

    `prefect_ui_url` is the UI's base (setting ``KEL_PREFECT_UI_URL``). The query is the
    one the Prefect 3.8 UI reads on ``/runs``: ``tag`` (singular; ``tags`` is ignored), a
    relative range ``type=span&seconds=-N`` (prefect/server/ui, ``useFlowRunsFilterFromRoute``)
    and ``tab``: ``task-runs`` (default) lists the case's steps, which run as background
    tasks of the task worker (`flows.commands.carry_out`), ``flow-runs`` the deadline
    sweeps that touched it; the same tag filters both tabs.
    """
    query = urlencode(
        {
            "tab": tab,
            "tag": case_tag(reference),
            "type": "span",
            "seconds": -max(seconds_back, 86_400),
        }
    )
    return f"{prefect_ui_url.rstrip('/')}/runs?{query}"


# --- Forms of the provider portal and the signed links to them (issue 8, point 3) -----------


def form_path(reference: str, form: str) -> str:
    """The dashboard path of the portal form `form` (e.g. ``termin``) of case `reference`
    (``/dashboard/faelle/<Aktenzeichen>/meldung/<form>``)."""
    return f"{case_path(reference)}/meldung/{quote(form, safe='')}"


def link_path(token: str) -> str:
    """The dashboard path that opens a signed form link (``/dashboard/link/<token>``;
    the token is made by `models.form_links.sign_form_link`)."""
    return f"{DASHBOARD}/link/{quote(token, safe='')}"


def link_url(app_url: str, token: str) -> str:
    """The absolute URL of the signed form link `token` under `app_url`; empty without one."""
    base = app_url.rstrip("/")
    return f"{base}{link_path(token)}" if base else ""


def phase_form_path(reference: str) -> str:
    """The dashboard path of the provider's form to report a phase (Leistungsabschnitt,
    `models.phases`) of case `reference`
    (``/dashboard/faelle/<Aktenzeichen>/leistungsabschnitt``)."""
    return f"{case_path(reference)}/leistungsabschnitt"
