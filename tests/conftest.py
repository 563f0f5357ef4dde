"""Shared fixtures: a migrated SQLite database per test, the shipped definitions."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from models.db import engine, migrate
from tests.factories import World, provider, world


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated with Alembic per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "kel.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path) -> str:
    """A migrated SQLite database of its own (a copy of the session's template)."""
    path = tmp_path / "kel.db"
    with (
        closing(sqlite3.connect(migrated_template)) as source,
        closing(sqlite3.connect(path)) as target,
    ):
        source.backup(target)
    return f"sqlite:///{path}"


@pytest.fixture
def kel(db_url: str) -> World:
    """A world with one debt-counselling and one addiction-counselling provider."""
    w = world(db_url)
    w.add(
        provider("SB-CARITAS", ("schulden",)),
        provider("SB-DIAKONIE", ("schulden",)),
        provider("SUCHT-CARITAS", ("sucht",)),
    )
    return w


# --- PostgreSQL beside SQLite (the local server of these machines, trust auth) ---

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"


def postgres_reachable() -> bool:
    """Whether the local PostgreSQL answers (CI starts it; elsewhere tests skip)."""
    import socket

    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """One PostgreSQL database migrated with Alembic per session, used as a template."""
    if not postgres_reachable():
        pytest.skip(f"PostgreSQL unter {PG_HOST}:{PG_PORT} nicht erreichbar")
    psycopg = pytest.importorskip("psycopg")
    name = f"kel_tmpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    try:
        migrate(url)
        engine(url).dispose()
        yield name
    finally:
        engine(url).dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A migrated PostgreSQL database of its own (a copy of the session's template)."""
    import psycopg

    name = f"kel_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    try:
        yield url
    finally:
        engine(url).dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of its own, once on SQLite and once on PostgreSQL."""
    name = "db_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))
