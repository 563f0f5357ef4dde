"""Configuration of kel-flow: one `Settings` object, read from the environment (prefix ``KEL_``).

Build it once where a process starts (CLI command, flow, API app) and pass it inward.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from models.passwords import secret_problem


class Settings(BaseSettings):
    """All settings, with sensible defaults for the embedded (SQLite) installation.

    Environment variables: ``KEL_DATA_DIR`` (see `default_data_dir`; a relative SQLite
    path in ``KEL_DATABASE_URL`` is resolved against it), ``KEL_DATABASE_URL``,
    ``KEL_PROCESS_DIR``, ``KEL_LAND``,
    ``KEL_SMTP_URL``, ``KEL_MAIL_FROM``, ``KEL_COORDINATOR_EMAIL``, ``KEL_APP_URL``,
    ``KEL_ADMIN_EMAIL`` (alert of an overdue sweep), ``KEL_PREFECT_RETENTION_DAYS``,
    ``KEL_PREFECT_UI_URL`` (the Prefect UI the case page links to),
    ``KEL_JOBCENTER_NAME`` (printed on Gutschein and reports unless the site names one);
    date bounds of the API input: ``KEL_MAX_FUTURE_DAYS``, ``KEL_MAX_START_DAYS``,
    ``KEL_MAX_APPOINTMENT_DAYS`` (see `api.limits.check_dates`); login:
    ``KEL_JWT_SECRET`` (required unless ``KEL_DEV_MODE``), ``KEL_PASSWORD_MIN_SCORE``,
    ``KEL_LOGIN_FAILURES_PER_ACCOUNT``, ``KEL_LOGIN_FAILURES_PER_ADDRESS``,
    ``KEL_LOGIN_WINDOW_MINUTES``, ``KEL_RATELIMIT_STORAGE_URL`` (see `api.login`).
    """

    model_config = SettingsConfigDict(env_prefix="KEL_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: default_data_dir(),
        description="Directory of the installation's files: a relative SQLite path is resolved "
        "against it (not against the current directory), `make up` keeps its releases, logs "
        "and secret there.",
    )
    database_url: str = Field(
        default="sqlite:///kel.db",
        description="SQLAlchemy URL; SQLite file as embedded default, PostgreSQL in production. "
        "A relative SQLite path (``sqlite:///kel.db``) lies in `data_dir`.",
    )
    process_dir: Path | None = Field(
        default=None,
        description="Directory with the Kommune's process YAML; None uses the shipped defaults.",
    )
    land: str = Field(default="NW", description="Bundesland for public holidays (Fristen).")
    smtp_url: SecretStr | None = Field(
        default=None, description="Apprise mailto URL of the SMTP server; None disables e-mail."
    )
    mail_from: str = "kel-flow@jobcenter.example"
    jobcenter_name: str = Field(
        default="Jobcenter",
        min_length=1,
        max_length=120,
        description="Name of the jobcenter printed on the Gutschein and the reports when the "
        "case's site names none (`Site.jobcenter`), e.g. 'Jobcenter StädteRegion Aachen'.",
    )
    coordinator_email: str = "koordination-16a@jobcenter.example"
    admin_email: str | None = Field(
        default=None,
        description="Address of the administration (KEL_ADMIN_EMAIL): the Prefect server "
        "mails it when the deadline sweep has not completed for `sweep_stale_after` "
        "(cli/automations.py); None: no such alert.",
    )
    prefect_retention_days: int = Field(
        default=90,
        ge=1,
        description="Days Prefect keeps finished flow runs, their logs and artifacts "
        "(KEL_PREFECT_RETENTION_DAYS): `make up` turns on the Prefect server's vacuum "
        "service; kel-flow's database is the record.",
    )
    app_url: str = ""
    prefect_ui_url: str = Field(
        default="http://127.0.0.1:4200",
        description="Base URL of the Prefect UI (KEL_PREFECT_UI_URL); the case page links "
        "coordinators and admins to the case's flow runs there (`models.urls.prefect_runs_url`).",
    )
    mail_connections: int = Field(
        default=2, ge=1, le=16, description="E-mails sent in parallel (SMTP connections)."
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs API tokens (>= 32 bytes, random); required unless "
        "`dev_mode`, where None means a random key per process.",
    )
    dev_mode: bool = Field(
        default=False,
        description="Development only: the API starts without KEL_JWT_SECRET (random key "
        "per process, tokens end with a restart and differ between workers).",
    )
    token_minutes: int = Field(default=480, ge=5, le=1440, description="Token lifetime.")
    cookie_secure: bool = Field(
        default=False,
        description="The dashboard is served over HTTPS (directly or behind a TLS proxy): its "
        "cookies are sent with `Secure`, so a browser never sends them over plain HTTP. "
        "Set KEL_COOKIE_SECURE=true in production.",
    )
    password_min_score: int = Field(
        default=3, ge=0, le=4, description="Least zxcvbn score (0-4) of a new password."
    )
    login_failures_per_account: int = Field(
        default=5, ge=1, description="Failed logins per account name in the login window."
    )
    login_failures_per_address: int = Field(
        default=20, ge=1, description="Failed logins per client address in the login window."
    )
    login_window_minutes: int = Field(
        default=15, ge=1, description="Moving window of the login limits, in minutes."
    )
    ratelimit_storage_url: str = Field(
        default="memory://",
        description="Storage of the login limits (`limits` URL): memory:// per process, "
        "redis://host:6379 shared by several API processes.",
    )
    retention_years: int = Field(
        default=5,
        ge=1,
        description="Years after closure until a case is anonymised "
        "(seed 001 §5.2.3: Aufbewahrung 5 Jahre).",
    )
    notification_max_attempts: int = Field(
        default=10, ge=1, description="Deliveries tried per notification before giving up."
    )
    sweep_stale_after: timedelta = Field(
        default=timedelta(hours=2),
        gt=timedelta(0),
        description="The deadline sweep is overdue when its last completed run is older "
        "(KEL_SWEEP_STALE_AFTER, seconds or ISO 8601 such as PT2H): GET /api/v1/health "
        "answers 503, the dashboard marks it (tasks.watch).",
    )
    max_future_days: int = Field(
        default=0,
        ge=0,
        le=366,
        description="Days after today an event (`occurred_on`) may be dated; 0: an event is "
        "a fact that has happened (api.limits.check_dates).",
    )
    max_start_days: int = Field(
        default=30,
        ge=0,
        le=366,
        description="Days after today a referral may start (`occurred_on` of a new referral); "
        "a start in the far future would lock the case (every later event is refused).",
    )
    api_threads: int | None = Field(
        default=None,
        ge=1,
        le=200,
        description="Threads per API process that run the synchronous request handlers "
        "(AnyIO's limiter, KEL_API_THREADS); unset: 4 on PostgreSQL, 40 on SQLite "
        "(`effective_api_threads`).",
    )
    max_appointment_days: int = Field(
        default=365,
        ge=1,
        le=3660,
        description="Days after today an appointment (`appointment_on`) may be booked.",
    )
    form_link_days: int = Field(
        default=14,
        ge=1,
        le=90,
        description="Days a signed link in a reminder e-mail to a provider opens its form "
        "(models.form_links); afterwards the link answers 410 and the provider finds the case "
        "in the dashboard.",
    )

    @property
    def effective_api_threads(self) -> int:
        """`api_threads`, else 4 on PostgreSQL and 40 (AnyIO's default) on SQLite.

        Measured (``make bench`` load, 2 cores, two API processes on PostgreSQL, 16
        clients): 40 threads 48/s, 8 threads 72/s, 4 threads 97/s, 3 threads 111/s. With
        dozens of threads per process, the thread that holds the audit chain's lock keeps
        losing the GIL to the others and every writer queues behind it. On SQLite (one
        process, CPU-bound) the count hardly changes throughput (83/s at 40, 78/s at 4),
        and a request that needs one more thread while it holds the process's writer lock
        (`models.db`) can wait behind a small pool's writers until the busy timeout, so
        SQLite keeps AnyIO's default."""
        if self.api_threads is not None:
            return self.api_threads
        return 40 if self.database_url.startswith("sqlite") else 4

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _sqlite_in_data_dir(self) -> Settings:
        self.database_url = resolve_sqlite_url(self.database_url, self.data_dir)
        return self

    @field_validator("jwt_secret")
    @classmethod
    def _no_placeholder_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        problem = "KEL_JWT_SECRET ist ein Platzhalter." if secret.lower() in PLACEHOLDERS else None
        problem = problem or secret_problem(secret)
        if problem:
            raise ValueError(
                f"{problem} Bitte einen zufälligen Schlüssel setzen (z. B. `openssl rand -hex 32`)."
            )
        return value


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/kel-flow``, else ``~/.local/share/kel-flow`` (the XDG default): one
    place, whichever directory a command is started from."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "kel-flow"


def resolve_sqlite_url(url: str, data_dir: Path) -> str:
    """`url` with a relative SQLite file path made absolute under `data_dir` (created if
    missing); every other URL (PostgreSQL, absolute path, ``:memory:``, ``file:`` URI) is
    returned unchanged."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database:
        return url
    if database == ":memory:" or database.startswith("file:") or os.path.isabs(database):
        return url
    path = data_dir / database
    path.parent.mkdir(parents=True, exist_ok=True)
    return parsed.set(database=str(path)).render_as_string(hide_password=False)


PLACEHOLDERS = frozenset({"changethis", "secret", "changeme", "password"})
