"""One Prefect test server for the whole flow test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from notifications import SmtpSink, smtp_url
from tests.factories import World


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    # generous: under `make test` the other xdist worker keeps the second core busy
    with prefect_test_harness(server_startup_timeout=300):
        yield


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as sink:
        yield sink


@pytest.fixture
def flow_env(kel: World, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> World:
    """Point the flows' `Settings()` at the test database and the SMTP sink."""
    monkeypatch.setenv("KEL_DATABASE_URL", kel.url)
    monkeypatch.setenv("KEL_SMTP_URL", smtp_url(smtp.host, smtp.port, "kel@jobcenter.example"))
    monkeypatch.setenv("KEL_COORDINATOR_EMAIL", kel.settings.coordinator_email)
    monkeypatch.delenv("KEL_PROCESS_DIR", raising=False)
    return kel
