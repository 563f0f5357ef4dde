"""A relative SQLite path lies in the one data directory, whatever the current directory
(``kel user add`` run elsewhere must not make a second database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.settings import Settings, default_data_dir


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEL_DATABASE_URL", "KEL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_relative_sqlite_path_is_resolved_against_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEL_DATA_DIR", str(tmp_path / "daten"))
    monkeypatch.setenv("KEL_DATABASE_URL", "sqlite:///kel.db")
    elsewhere = tmp_path / "anderswo"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    settings = Settings(_env_file=None)

    assert settings.database_url == f"sqlite:///{tmp_path / 'daten' / 'kel.db'}"
    assert (tmp_path / "daten").is_dir()


def test_the_default_database_lies_in_the_data_dir_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEL_DATA_DIR", str(tmp_path / "daten"))
    urls = set()
    for where in ("a", "b"):
        (tmp_path / where).mkdir()
        monkeypatch.chdir(tmp_path / where)
        urls.add(Settings(_env_file=None).database_url)
    assert urls == {f"sqlite:///{tmp_path / 'daten' / 'kel.db'}"}


def test_a_nested_relative_path_keeps_its_subdirectory_and_query(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite:///sub/kel.db?timeout=5", data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'sub' / 'kel.db'}?timeout=5"
    assert (tmp_path / "sub").is_dir()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/kel/kel.db",
        "sqlite:///:memory:",
        "sqlite://",
        "postgresql+psycopg://kel:geheim@db.example/kel",
    ],
)
def test_absolute_memory_and_server_urls_are_kept(url: str, tmp_path: Path) -> None:
    assert Settings(database_url=url, data_dir=tmp_path).database_url == url


def test_a_relative_data_dir_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=Path("daten"), database_url="sqlite:///kel.db")
    assert settings.data_dir == tmp_path / "daten"
    assert settings.database_url == f"sqlite:///{tmp_path / 'daten' / 'kel.db'}"


def test_the_default_data_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "kel-flow"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == Path.home() / ".local" / "share" / "kel-flow"
