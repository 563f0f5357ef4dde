"""Fixtures of the fault tests: the undisturbed outcome to compare a disturbed run with."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.faults.support import undisturbed

Snapshot = dict[str, Counter[tuple[Any, ...]]]


@pytest.fixture
def reference(tmp_path: Path, migrated_template: Path) -> Callable[[int], Snapshot]:
    """`reference(cases)`: what one sweep without any fault decides for `cases` referrals
    (on a fresh SQLite copy of the migrated template)."""

    def run(cases: int) -> Snapshot:
        path = tmp_path / f"reference-{cases}.db"
        with (
            closing(sqlite3.connect(migrated_template)) as source,
            closing(sqlite3.connect(path)) as target,
        ):
            source.backup(target)
        return undisturbed(f"sqlite:///{path}", cases)

    return run
