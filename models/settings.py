"""Configuration of kel-flow: one `Settings` object, read from the environment (prefix ``KEL_``).

Build it once where a process starts (CLI command, flow, API app) and pass it inward.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
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
    notification_max_attempts: int = Field(
        default=10, ge=1, description="Deliveries tried per notification before giving up."
    )
