"""The overview's line "Fristenprüfung zuletzt: …" (api.dashboard.sweep_status, template
``_sweep_status.html.j2``): the time of the last completed sweep in Berlin time, marked
with text and a class when it is overdue; not shown to providers. The clock is fake."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.dashboard.sweep_status import duration
from api.dashboard.web import COOKIE
from api.main import create_app
from api.security import start_session
from api.trigger import InProcess
from models.clock import FakeClock
from models.settings import Settings
from models.tables import Provider, User
from tasks.watch import record_sweep_run
from tests.factories import World, at

JWT_SECRET = "4d7a1c9e3b6f0a2d5c8e1b4f7a0d3c6e9b2f5a8d1c4e7b0a3f6d9c2e5b8a1f4d"
SWEPT = datetime(2026, 11, 25, 13, 5, tzinfo=UTC)  # 14:05 in Berlin
LINE = re.compile(r'<p id="fristenpruefung" class="([^"]*)">(.*?)</p>', re.S)

Page = Callable[[str], tuple[str, str] | None]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SWEPT + timedelta(minutes=55))


@pytest.fixture
def overview(kel: World, clock: FakeClock) -> Page:
    """`overview(username)`: the class and text of the sweep line on that user's
    overview, or None when the page has none."""
    settings = Settings(database_url=kel.url, jwt_secret=JWT_SECRET)
    with kel.session() as s:
        caritas = s.exec(select(Provider).where(Provider.code == "SB-CARITAS")).one()
        for name, role, provider_id in [
            ("koordination", "coordinator", None),
            ("traeger.caritas", "provider", caritas.id),
        ]:
            s.add(
                User(
                    username=name,
                    role=role,
                    provider_id=provider_id,
                    password_hash="x",
                    created_at=at(date(2026, 1, 5)),
                )
            )
    app = create_app(settings, clock=clock, trigger=InProcess())

    def read(username: str) -> tuple[str, str] | None:
        with kel.session() as s:
            user = s.exec(select(User).where(User.username == username)).one()
            token = start_session(s, user, settings, clock.now())
        with TestClient(app) as browser:
            browser.cookies.set(COOKIE, token)
            page = browser.get("/dashboard/")
        assert page.status_code == 200, page.text
        found = LINE.search(page.text)
        return (found[1], " ".join(re.sub(r"<[^>]+>", "", found[2]).split())) if found else None

    return read


def swept(kel: World, finished: datetime) -> None:
    with kel.session() as s:
        record_sweep_run(s, finished - timedelta(seconds=2), finished, fired=0, sent=0, errors=0)


def test_the_overview_shows_when_the_deadline_sweep_last_completed(
    kel: World, overview: Page
) -> None:
    swept(kel, SWEPT - timedelta(hours=1))
    swept(kel, SWEPT)

    assert overview("koordination") == (
        "fristenpruefung",
        "Fristenprüfung zuletzt: 25.11.2026, 14:05 Uhr",
    )


def test_an_overdue_sweep_is_marked_with_words_and_a_class(
    kel: World, overview: Page, clock: FakeClock
) -> None:
    swept(kel, SWEPT)
    clock.set(SWEPT + timedelta(hours=2, minutes=1))

    line = overview("koordination")

    assert line is not None
    css, text = line
    assert css.split() == ["fristenpruefung", "ueberfaellig"]
    assert text.startswith("Fristenprüfung zuletzt: 25.11.2026, 14:05 Uhr – überfällig")
    assert "länger als 2 Stunden keine Fristenprüfung" in text


def test_before_the_first_sweep_it_says_never(overview: Page) -> None:
    assert overview("koordination") == ("fristenpruefung", "Fristenprüfung zuletzt: noch nie")


def test_providers_do_not_see_the_line(kel: World, overview: Page) -> None:
    swept(kel, SWEPT)

    assert overview("traeger.caritas") is None


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (timedelta(hours=2), "2 Stunden"),
        (timedelta(hours=1), "1 Stunde"),
        (timedelta(minutes=90), "90 Minuten"),
        (timedelta(minutes=1), "1 Minute"),
    ],
)
def test_the_allowed_age_reads_as_german_words(span: timedelta, words: str) -> None:
    assert duration(span) == words
