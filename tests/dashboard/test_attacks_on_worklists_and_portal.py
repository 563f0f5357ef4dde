"""Attacks on the worklists and the Träger-Portal from outside: conflicting requests at
the same moment, hostile query values and form fields, other providers' cases.

Uses the cases of `tests.dashboard.test_worklists` (three Z-2026-AB cases of SB-CARITAS in
Aachen, ES-DIA-1 of SB-DIAKONIE in Eschweiler, ...; clock 28.3.2026, 10:00). Requests run
in real threads against one app (sync routes run in its thread pool), on SQLite and on
PostgreSQL, as in tests/integration/test_serialised_path.py.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from api.security import hash_password
from models.tables import AuditEvent, Escalation, EscalationState, Referral, User
from tests.dashboard.forms import page_token, sign_in
from tests.dashboard.test_worklists import (
    PASSWORD,
    STARTED,
    Dashboard,
    audits,
    escalations,
    seed,
    serve,
)
from tests.factories import at, world

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def kel(db_url: str) -> Iterator[Dashboard]:
    """The cases of `tests.dashboard.test_worklists` with three Z-2026-AB cases, served."""
    w = world(db_url)
    seed(w, 3)
    yield from serve(w)


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run `calls` in threads released together; their answers (an exception fails)."""
    barrier = threading.Barrier(len(calls))
    results: list[httpx.Response | BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    answers = []
    for result in results:
        assert isinstance(result, httpx.Response), repr(result)
        answers.append(result)
    return answers


def key() -> str:
    return uuid.uuid4().hex


# --- concurrency ---------------------------------------------------------------------


def test_two_bulk_acknowledges_of_the_same_escalations_at_once_act_as_one_after_the_other(
    kel: Dashboard,
) -> None:
    client = kel.login("koordination")
    token = page_token(client, "/dashboard/eskalationen")
    ids = [str(e.id) for e in escalations(kel.world)][:6]

    def bulk() -> httpx.Response:
        data = {"csrf_token": token, "aktion": "quittieren", "form_key": key(), "eskalation": ids}
        answer: httpx.Response = client.post(
            "/dashboard/eskalationen/auswahl", data=data, follow_redirects=False
        )
        return answer

    answers = at_once([bulk, bulk])
    assert [a.status_code for a in answers] == [303, 303]
    done = [int(re.search(r"anzahl=(\d+)", a.headers["location"])[1]) for a in answers]  # type: ignore[index]
    assert sum(done) == len(ids)  # each escalation acknowledged by exactly one of them
    assert len(audits(kel.world, "escalation_acknowledge")) == len(ids)
    states = {e.state for e in escalations(kel.world) if str(e.id) in ids}
    assert states == {EscalationState.acknowledged}


def test_two_providers_forms_booking_the_same_appointment_at_once_are_serialised(
    kel: Dashboard,
) -> None:
    client = kel.login("traeger.caritas")
    url = "/dashboard/faelle/Z-2026-AB001/meldung/termin"
    token = page_token(client, url)

    def book(day: str) -> Callable[[], httpx.Response]:
        data = {"csrf_token": token, "form_key": key(), "termin_am": day}
        return lambda: client.post(url, data=data, follow_redirects=False)

    answers = at_once([book("2026-03-30"), book("2026-03-31")])
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 303 and statuses[1] in (303, 409), statuses
    with kel.world.session() as s:
        referral = s.exec(select(Referral).where(Referral.reference == "Z-2026-AB001")).one()
        booked = s.exec(
            select(AuditEvent).where(
                AuditEvent.referral_id == referral.id, AuditEvent.action == "appointment_booked"
            )
        ).all()
    assert len(booked) == statuses.count(303)  # each accepted form once, nothing lost
    assert referral.appointment_on is not None


# --- hostile input -------------------------------------------------------------------

HOSTILE = [
    "\x00",
    "a\x00b",
    "x" * 5000,
    "%",
    "_",
    "' OR 1=1--",
    SCRIPT,
    "ä€😀\u202e",
    "-1",
    "99999999999999999999999",
    "1e309",
    "NaN",
]
LIST_PARAMS = {
    "/dashboard/faelle": (
        "leistungsart traeger standort zustand suche sortierung seite ueberfaellig mir"
    ),
    "/dashboard/eskalationen": (
        "leistungsart traeger standort status stufe suche seite neu hinweis nr anzahl"
    ),
    "/dashboard/prozess": "leistungsart",
    "/dashboard/zuweisung/neu": "leistungsart standort",
    "/dashboard/verwaltung/benutzer": "hinweis",
}
USERS = ("koordination", "admin", "ifk.eschweiler", "traeger.caritas")


@pytest.mark.parametrize("username", USERS)
def test_hostile_query_values_never_give_a_server_error_or_unescaped_markup(
    kel: Dashboard, username: str
) -> None:
    client = kel.login(username)
    for path, names in LIST_PARAMS.items():
        for name in names.split():
            for value in HOSTILE:
                answer = client.get(path, params={name: value}, follow_redirects=False)
                assert answer.status_code < 500, (path, name, value[:20], answer.text[:300])
                assert SCRIPT not in answer.text


@pytest.mark.parametrize("username", USERS)
def test_hostile_references_and_links_in_the_path_answer_4xx(kel: Dashboard, username: str) -> None:
    client = kel.login(username)
    for value in HOSTILE:
        quoted = quote(value, safe="")
        for path in (
            f"/dashboard/faelle/{quoted}",
            f"/dashboard/faelle/{quoted}/gutschein.pdf",
            f"/dashboard/faelle/{quoted}/meldung/termin",
            f"/dashboard/faelle/Z-2026-AB001/meldung/{quoted}",
            f"/dashboard/link/{quoted}",
            f"/dashboard/verwaltung/benutzer/{quoted}",
            f"/dashboard/verwaltung/traeger/{quoted}",
            f"/dashboard/verwaltung/standorte/{quoted}",
            f"/dashboard/prozess/{quoted}.bpmn",
        ):
            answer = client.get(path, follow_redirects=False)
            assert 400 <= answer.status_code < 500, (path[:80], answer.status_code)
            assert SCRIPT not in answer.text


def test_a_nul_character_in_a_search_or_a_form_field_is_refused_in_german(
    kel: Dashboard,
) -> None:
    """PostgreSQL cannot hold NUL in text: it was a 500 there (the search, the inbox's
    "zuweisen"); now a German 422 on both databases or a harmless answer on SQLite."""
    client = kel.login("koordination")
    search = client.get("/dashboard/faelle", params={"suche": "AB\x00"})
    assert search.status_code in (200, 422)
    if search.status_code == 422:
        assert "Steuerzeichen" in search.json()["detail"]
    first = escalations(kel.world)[0]
    token = page_token(client, "/dashboard/eskalationen")
    data = {"csrf_token": token, "form_key": key(), "assigned_to": "a\x00b"}
    answer = client.post(
        f"/dashboard/eskalationen/{first.id}/zuweisen", data=data, follow_redirects=False
    )
    assert answer.status_code in (303, 422)
    assert "Traceback" not in answer.text
    with kel.world.session() as s:
        assert s.get(Escalation, first.id).assigned_to in (None, "a\x00b")  # type: ignore[union-attr]


def test_two_admins_creating_the_same_account_at_once_get_one_account_and_a_german_refusal(
    kel: Dashboard,
) -> None:
    """The check "Anmeldename frei?" and the insert are two steps: the second of two
    concurrent forms found the name free and failed on the unique index (was: 500)."""
    client = kel.login("admin")
    token = page_token(client, "/dashboard/verwaltung/benutzer")

    def create() -> httpx.Response:
        data = {"csrf_token": token, "form_key": key(), "username": "koordination.doppelt"}
        data |= {"role": "coordinator", "password": "Zweimal-Gleichzeitig-2026!"}
        answer: httpx.Response = client.post(
            "/dashboard/verwaltung/benutzer", data=data, follow_redirects=False
        )
        return answer

    answers = at_once([create, create])
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [303, 422], statuses
    refusals = [a.text for a in answers if a.status_code == 422]
    assert all("Ein Benutzerkonto „koordination.doppelt“ gibt es bereits." in t for t in refusals)
    assert len(audits(kel.world, "user_created")) == 1


def test_two_admins_deactivating_each_other_at_once_leave_one_active_admin(
    kel: Dashboard,
) -> None:
    """Each form checks "another active admin remains"; at the same moment both found the
    other one and both went through (was: no active admin left on PostgreSQL)."""
    with kel.world.session() as s:
        s.add(
            User(
                username="admin2",
                role="admin",
                password_hash=hash_password(PASSWORD),
                created_at=at(STARTED),
            )
        )
    first = kel.login("admin")
    second = TestClient(kel.client.app)
    assert sign_in(second, "admin2", PASSWORD).status_code == 303

    def deactivate(client: TestClient, other: str) -> Callable[[], httpx.Response]:
        url = f"/dashboard/verwaltung/benutzer/{other}/status"
        data = {"csrf_token": page_token(client), "form_key": key(), "aktiv": "false"}
        return lambda: client.post(url, data=data, follow_redirects=False)

    answers = at_once([deactivate(first, "admin2"), deactivate(second, "admin")])
    outcomes = sorted(
        "angemeldet-nicht-mehr" if "/dashboard/anmelden" in a.headers.get("location", "")
        else str(a.status_code)
        for a in answers
    )  # fmt: skip
    # one went through; the other was refused, or its admin was out before it was read
    assert outcomes in (["303", "409"], ["303", "angemeldet-nicht-mehr"]), outcomes
    with kel.world.session() as s:
        admins = s.exec(select(User).where(User.role == "admin", col(User.active))).all()
    assert len(admins) == 1


def test_two_referrals_with_the_same_aktenzeichen_at_once_start_one_case(kel: Dashboard) -> None:
    client = kel.login("ifk.eschweiler")
    token = page_token(client, "/dashboard/zuweisung/neu?leistungsart=schulden")

    def start(customer: str) -> Callable[[], httpx.Response]:
        data = {
            "csrf_token": token,
            "form_key": key(),
            "leistungsart": "schulden",
            "standort": "Eschweiler",
            "aktenzeichen": "ES-GLEICHZEITIG-1",
            "kundennummer": customer,
            "altersgruppe": "25-49",
            "traeger": "SB-DIAKONIE",
            "ifk_email": "ifk@jobcenter.example",
            "einwilligung_form": "written",
            "einwilligung_umfang": "content",
            "einwilligung_am": "2026-03-27",
        }
        return lambda: client.post("/dashboard/zuweisung/neu", data=data, follow_redirects=False)

    answers = at_once([start("K-GLEICH-1"), start("K-GLEICH-2")])
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [303, 409], (
        statuses,
        [a.text[:300] for a in answers if a.status_code != 303],
    )
    with kel.world.session() as s:
        found = s.exec(select(Referral).where(Referral.reference == "ES-GLEICHZEITIG-1")).all()
    assert len(found) == 1
