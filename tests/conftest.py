"""Shared fixtures: a migrated SQLite database per test, the shipped definitions."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from models.db import migrate
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
