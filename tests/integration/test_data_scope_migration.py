"""Migration 0008 (data scope): a consent names its provider, on SQLite and PostgreSQL.

Existing consents were given while their referral had its current provider, so the
upgrade fills `consent.provider_id` with it; the downgrade drops the column again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import MetaData, inspect, select

from models.db import alembic_config, engine, migrate
from tests.conftest import require_postgres

PG_HOST, PG_PORT = "127.0.0.1", 5432
NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)


def _postgres_url() -> Iterator[str]:
    require_postgres()
    psycopg = pytest.importorskip("psycopg")
    name = f"kel_scope_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL nicht nutzbar: {exc}")
    url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    try:
        yield url
    finally:
        engine(url).dispose()
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scope.db'}"
    else:
        yield from _postgres_url()


def seed_before_0008(url: str) -> None:
    """Two providers, two referrals (one without provider), a consent on each."""
    meta = MetaData()
    meta.reflect(engine(url), only=["provider", "customer", "referral", "consent"])
    provider, customer, referral, consent = (
        meta.tables[n] for n in ("provider", "customer", "referral", "consent")
    )
    with engine(url).begin() as conn:
        for pid, code in ((1, "SB-CARITAS"), (2, "SB-DIAKONIE")):
            conn.execute(
                provider.insert().values(
                    id=pid,
                    code=code,
                    name=code,
                    email=f"{code}@traeger.example",
                    service_types=["schulden"],
                    sites=[],
                    monthly_capacity=0,
                )
            )
        conn.execute(
            customer.insert().values(id=1, customer_number="K1", site="A", age_group="u25")
        )
        for rid, provider_id in ((1, 2), (2, None)):
            conn.execute(
                referral.insert().values(
                    id=rid,
                    reference=f"R-{rid}",
                    customer_id=1,
                    service_type="schulden",
                    provider_id=provider_id,
                    site="A",
                    caseworker_email="ifk@jobcenter.example",
                    state="voucher_issued",
                    state_since=date(2026, 3, 2),
                    started_on=date(2026, 3, 2),
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            conn.execute(
                consent.insert().values(
                    id=rid,
                    referral_id=rid,
                    form="written",
                    scope="content",
                    granted_on=date(2026, 3, 2),
                )
            )


def consent_providers(url: str) -> dict[int, int | None]:
    meta = MetaData()
    meta.reflect(engine(url), only=["consent"])
    consent = meta.tables["consent"]
    with engine(url).connect() as conn:
        rows = conn.execute(select(consent.c.id, consent.c.provider_id).order_by(consent.c.id))
        return {cid: pid for cid, pid in rows}


def test_the_upgrade_names_the_current_provider_on_existing_consents_and_downgrades(
    url: str,
) -> None:
    migrate(url, "0007")
    seed_before_0008(url)

    migrate(url, "0008")

    assert consent_providers(url) == {1: 2, 2: None}  # referral 2 has no provider
    foreign_keys = inspect(engine(url)).get_foreign_keys("consent")
    assert {"provider"} <= {fk["referred_table"] for fk in foreign_keys}

    command.downgrade(alembic_config(url), "0007")

    assert "provider_id" not in {c["name"] for c in inspect(engine(url)).get_columns("consent")}
