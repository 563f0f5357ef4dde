"""The retention deployment: anonymises closed cases nightly (seed 001 §5.2.3, § 84 SGB X).

The deployed flow takes no clock (a run started in the Prefect UI must not anonymise early);
tests call `run_retention` with their own.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from prefect import flow, get_run_logger

from models.clock import SystemClock, local_date
from models.run_names import retention_run_name
from models.settings import Settings
from tasks.prefect_view import rename_run
from tasks.retention import anonymise_cases


def run_retention(settings: Settings, now: datetime) -> dict[str, int]:
    """Anonymise every case closed more than ``settings.retention_years`` years before
    `now` (aware datetime).

    The entry point for tests with a fake clock; the deployed flow calls it with the
    system clock. Returns counts: referrals and customers anonymised, feedback rows
    cleared, inbox commands emptied. Idempotent.
    """
    return asdict(anonymise_cases(settings, now))


def retention_name() -> str:
    """The run's name when it starts: "Anonymisierung 25.11.2026" (system clock's day)."""
    return retention_run_name(local_date(SystemClock().now()))


@flow(name="daten-anonymisieren", flow_run_name=retention_name)
def anonymise() -> dict[str, int]:
    """Anonymise every case closed more than ``KEL_RETENTION_YEARS`` (default 5) years
    before the system clock's now and log the counts. Returns the counts of
    `run_retention`. The run is renamed "Anonymisierung 25.11.2026 · 3 Fälle"."""
    settings = Settings()
    now = SystemClock().now()
    done = run_retention(settings, now)
    rename_run(retention_run_name(local_date(now), done["referrals"]))
    get_run_logger().info(
        "Anonymisiert (Aufbewahrung %d Jahre): Fälle %d, Kunden %d, Rückmeldungen %d, Befehle %d",
        settings.retention_years,
        done["referrals"],
        done["customers"],
        done["feedback"],
        done["commands"],
    )
    return done
