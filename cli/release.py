"""Fixed releases of the project's code: what a worker runs is a copy, not the working tree.

`build_release` copies the Python packages of kel-flow, ``prefect.yaml`` and
``pyproject.toml`` into ``<releases>/<version>/``, where the version is the project version
and a hash of the copied files (``0.1.0-3f2a9c1b7e04``): the same code gives the same
directory, any change a new one. A release is never changed after it is built (its files are
read-only); ``prefect deploy`` run from inside it points the deployments' pull step
(``set_working_directory``) and ``PYTHONPATH`` there (``prefect.yaml``), so a flow run
imports the release even while the working tree changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "cli", "demo", "flows", "models", "notifications", "tasks")
FILES = ("prefect.yaml", "pyproject.toml")
SKIPPED = ("__pycache__", ".mypy_cache", ".pytest_cache")


def _files(source: Path) -> Iterator[Path]:
    """Every file of the release, relative to `source`, in a stable order."""
    for name in FILES:
        yield Path(name)
    for package in PACKAGES:
        for path in sorted((source / package).rglob("*")):
            relative = path.relative_to(source)
            skipped = any(part in SKIPPED for part in relative.parts)
            if path.is_file() and not skipped and path.suffix not in (".pyc", ".pyo"):
                yield relative


def release_version(source: Path = PROJECT_DIR) -> str:
    """``<project version>-<12 hex digits of SHA-256 over the files' paths and contents>``."""
    with (source / "pyproject.toml").open("rb") as f:
        version = str(tomllib.load(f)["project"]["version"])
    digest = hashlib.sha256()
    for relative in _files(source):
        digest.update(str(relative).encode() + b"\0" + (source / relative).read_bytes() + b"\0")
    return f"{version}-{digest.hexdigest()[:12]}"


def build_release(releases: Path, source: Path = PROJECT_DIR) -> Path:
    """The release directory of `source`'s current code under `releases`; built (copied into
    a temporary directory, then renamed into place) unless it exists already."""
    target = releases / release_version(source)
    if target.is_dir():
        return target
    releases.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bau-", dir=releases))
    for relative in _files(source):
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, staging / relative)
        os.chmod(staging / relative, stat.S_IRUSR | stat.S_IRGRP)
    staging.chmod(0o755)
    try:
        staging.rename(target)
    except OSError:  # built by a concurrent call in the meantime
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():
            raise
    return target
