"""Configuration of kel-flow: one `Settings` object, read from the environment (prefix ``KEL_``).

Build it once where a process starts (CLI command, flow, API app) and pass it inward.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.passwords import secret_problem


class Settings(BaseSettings):
    """All settings, with sensible defaults for the embedded (SQLite) installation.

    Environment variables: ``KEL_DATABASE_URL``, ``KEL_PROCESS_DIR``, ``KEL_LAND``,
    ``KEL_SMTP_URL``, ``KEL_MAIL_FROM``, ``KEL_COORDINATOR_EMAIL``, ``KEL_APP_URL``;
    date bounds of the API input: ``KEL_MAX_FUTURE_DAYS``, ``KEL_MAX_START_DAYS``,
    ``KEL_MAX_APPOINTMENT_DAYS`` (see `api.limits.check_dates`); login:
    ``KEL_JWT_SECRET`` (required unless ``KEL_DEV_MODE``), ``KEL_PASSWORD_MIN_SCORE``,
    ``KEL_LOGIN_FAILURES_PER_ACCOUNT``, ``KEL_LOGIN_FAILURES_PER_ADDRESS``,
    ``KEL_LOGIN_WINDOW_MINUTES``, ``KEL_RATELIMIT_STORAGE_URL`` (see `api.login`).
    """

    model_config = SettingsConfigDict(env_prefix="KEL_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///kel.db",
        description="SQLAlchemy URL; SQLite file as embedded default, PostgreSQL in production.",
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
    coordinator_email: str = "koordination-16a@jobcenter.example"
    app_url: str = ""
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
    max_appointment_days: int = Field(
        default=365,
        ge=1,
        le=3660,
        description="Days after today an appointment (`appointment_on`) may be booked.",
    )

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


PLACEHOLDERS = frozenset({"changethis", "secret", "changeme", "password"})
