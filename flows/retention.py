"""The retention deployment: anonymises closed cases nightly (seed 001 §5.2.3, § 84 SGB X)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from prefect import flow, get_run_logger

from models.clock import SystemClock
from models.settings import Settings
from tasks.retention import anonymise_cases


@flow(name="daten-anonymisieren")
def anonymise(as_of: datetime | None = None) -> dict[str, int]:
    """Anonymise every case closed more than ``KEL_RETENTION_YEARS`` (default 5) years ago.

    `as_of` (aware datetime) replaces the clock in tests. Returns counts: referrals and
    customers anonymised, feedback rows cleared, inbox commands emptied. Idempotent.
    """
    settings = Settings()
    now = as_of or SystemClock().now()
    done = anonymise_cases(settings, now)
    get_run_logger().info(
        "Anonymisiert (Aufbewahrung %d Jahre): Fälle %d, Kunden %d, Rückmeldungen %d, Befehle %d",
        settings.retention_years,
        done.referrals,
        done.customers,
        done.feedback,
        done.commands,
    )
    return asdict(done)
