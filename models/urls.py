"""The one place that builds the URL of a case (dashboard page), for pages and e-mails.

A case is addressed by its Aktenzeichen (`Referral.reference`), never by the database id.
"""

from __future__ import annotations

from urllib.parse import quote

#: Where the dashboard is mounted.
DASHBOARD = "/dashboard"


def case_path(reference: str) -> str:
    """The dashboard path of the case `reference` (``/dashboard/faelle/<Aktenzeichen>``)."""
    return f"{DASHBOARD}/faelle/{quote(reference, safe='')}"


def case_url(app_url: str, reference: str) -> str:
    """The absolute URL of the case page under the public base `app_url` (``KEL_APP_URL``,
    e.g. ``https://kel.jobcenter.example``); empty when no base is configured."""
    base = app_url.rstrip("/")
    return f"{base}{case_path(reference)}" if base else ""
