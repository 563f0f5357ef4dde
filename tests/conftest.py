"""Shared fixtures: a migrated SQLite database per test, the shipped definitions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from models.db import migrate
from tests.factories import World, provider, world


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'kel.db'}"
    migrate(url)
    return url


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
