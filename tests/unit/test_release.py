"""A release is a fixed copy of the code: same code, same directory; changed code, a new
one; the copy does not follow later edits of the working tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli.release import PACKAGES, build_release, release_version


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A minimal project tree: pyproject, prefect.yaml and one module per package."""
    root = tmp_path / "projekt"
    for package in PACKAGES:
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(f'"""{package}"""\n')
        (root / package / "__pycache__").mkdir()
        (root / package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "models" / "process_definitions").mkdir()
    (root / "models" / "process_definitions" / "kel.yaml").write_text("states: []\n")
    (root / "pyproject.toml").write_text('[project]\nname = "kel-flow"\nversion = "1.2.3"\n')
    (root / "prefect.yaml").write_text("deployments: []\n")
    return root


def test_the_release_copies_the_code_and_data_read_only(source: Path, tmp_path: Path) -> None:
    release = build_release(tmp_path / "releases", source)

    assert release.parent == tmp_path / "releases"
    assert release.name.startswith("1.2.3-")
    assert (release / "models" / "process_definitions" / "kel.yaml").read_text() == "states: []\n"
    assert (release / "prefect.yaml").exists()
    assert not list(release.rglob("__pycache__"))
    assert (release / "flows" / "__init__.py").stat().st_mode & 0o222 == 0


def test_the_same_code_gives_the_same_release(source: Path, tmp_path: Path) -> None:
    first = build_release(tmp_path / "releases", source)
    again = build_release(tmp_path / "releases", source)
    assert again == first
    assert [p.name for p in (tmp_path / "releases").iterdir()] == [first.name]


def test_a_change_gives_a_new_release_and_leaves_the_old_one(source: Path, tmp_path: Path) -> None:
    old = build_release(tmp_path / "releases", source)
    (source / "flows" / "__init__.py").write_text('"""geändert"""\n')

    new = build_release(tmp_path / "releases", source)

    assert new != old
    assert release_version(source) == new.name
    assert (old / "flows" / "__init__.py").read_text() == '"""flows"""\n'
    assert (new / "flows" / "__init__.py").read_text() == '"""geändert"""\n'


def test_byte_code_does_not_change_the_version(source: Path) -> None:
    before = release_version(source)
    shutil.rmtree(source / "api" / "__pycache__")
    assert release_version(source) == before
