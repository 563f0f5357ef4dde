"""Configuration of kel-flow: one `Settings` object, read from the environment (prefix ``KEL_``).

Build it once where a process starts (CLI command, flow, API app) and pass it inward.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All settings, with sensible defaults for the embedded (SQLite) installation.

    Environment variables: ``KEL_DATABASE_URL``, ``KEL_PROCESS_DIR``, ``KEL_LAND``,
    ``KEL_SMTP_URL``, ``KEL_MAIL_FROM``, ``KEL_COORDINATOR_EMAIL``, ``KEL_APP_URL``.
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
        description="Key that signs API tokens (>= 32 characters); None: a random key per "
        "process, so tokens end with a restart.",
    )
    token_minutes: int = Field(default=480, ge=5, le=1440, description="Token lifetime.")
    retention_years: int = Field(
        default=5,
        ge=1,
        description="Years after closure until a case is anonymised "
        "(seed 001 §5.2.3: Aufbewahrung 5 Jahre).",
    )
    notification_max_attempts: int = Field(
        default=10, ge=1, description="Deliveries tried per notification before giving up."
    )

    @field_validator("jwt_secret")
    @classmethod
    def _no_placeholder_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if len(secret) < 32 or secret.lower() in PLACEHOLDERS:
            raise ValueError(
                "KEL_JWT_SECRET ist ein Platzhalter oder kürzer als 32 Zeichen; "
                "bitte einen zufälligen Schlüssel setzen (z. B. `openssl rand -hex 32`)."
            )
        return value


PLACEHOLDERS = frozenset({"changethis", "secret", "changeme", "password"})
