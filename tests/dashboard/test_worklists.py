"""Worklists: the case list (/dashboard/faelle) and the escalation inbox
(/dashboard/eskalationen) with paging, filters, search, bulk actions and "neu".

The module's cases (built once, each test works on a copy): 105 Schulden cases
Z-2026-AB001 … AB105 at SB-CARITAS in Aachen, started 2.–6.3.2026 (deadlines due
16.–20.3.); ES-DIA-1 at SB-DIAKONIE in Eschweiler, started 23.2. with its first appointment
booked but not kept (due 9.3.: the longest overdue); SU-1, Suchtberatung at SUCHT-CARITAS;
AC-NEU-1, started 25.3. (nothing overdue); AC-ZU-1, closed (voucher returned). The sweep of
28.3. has escalated both deadlines of every overdue case: 214 escalations. The clock stands
at 28.3.2026, 10:00; flows run in process.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from api.dashboard.web import COOKIE
from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from models.clock import FakeClock
from models.db import engine, migrate
from models.settings import Settings
from models.tables import AuditEvent, Deadline, Escalation, Provider, Referral, User
from tasks.sweep import fire_due_timers
from tests.dashboard.forms import form_token, sign_in
from tests.factories import World, at, provider, world

JWT_SECRET = "3c9e1a7b5d2f8c4e6a0b9d3f7e1c5a8b2d6f0e4a9c3b7d1f5e8a2c6b0d4f9e3a"
PASSWORD = "Arbeitsliste-2026!"
STARTED = date(2026, 3, 2)  # a Monday
SWEPT = date(2026, 3, 28)
MANY = 105
USERS: dict[str, tuple[str, str | None, str | None]] = {
    "koordination": ("coordinator", None, None),
    "admin": ("admin", None, None),
    "ifk.eschweiler": ("caseworker", "Eschweiler", None),
    "traeger.caritas": ("provider", None, "SB-CARITAS"),
}
Login = Callable[[str], TestClient]


def reference(n: int) -> str:
    return f"Z-2026-AB{n:03d}"


def seed(w: World, many: int) -> None:
    """The cases of the module docstring (`many` Schulden cases at SB-CARITAS) and users."""
    w.add(
        provider("SB-CARITAS", name="Caritas Schuldnerberatung"),
        provider("SB-DIAKONIE", name="Diakonie Schuldnerberatung"),
        provider("SUCHT-CARITAS", ("sucht",), name="Caritas Suchtberatung"),
    )
    for n in range(1, many + 1):
        start = STARTED + timedelta(days=n % 5)
        w.start(reference(n), start, customer_number=f"K-AB{n:03d}", provider_code="SB-CARITAS")
    early = date(2026, 2, 23)
    w.start(
        "ES-DIA-1", early, customer_number="K-ES1", site="Eschweiler", provider_code="SB-DIAKONIE"
    )
    booked = early + timedelta(days=10)  # the provider never reports it kept
    w.event("ES-DIA-1", early + timedelta(days=1), "appointment_booked", appointment_on=booked)
    w.start(
        "SU-1",
        STARTED,
        service_type="sucht",
        customer_number="K-SU1",
        provider_code="SUCHT-CARITAS",
    )
    w.start("AC-NEU-1", date(2026, 3, 25), customer_number="K-NEU1", provider_code="SB-CARITAS")
    w.start("AC-ZU-1", STARTED, customer_number="K-ZU1", provider_code="SB-CARITAS")
    w.event("AC-ZU-1", STARTED + timedelta(days=1), "voucher_returned_invalid")
    fire_due_timers(w.session, w.registry, w.settings, at(SWEPT, 6))
    with w.session() as s:
        codes = {p.code: p.id for p in s.exec(select(Provider))}
        for username, (role, site, code) in USERS.items():
            s.add(
                User(
                    username=username,
                    role=role,
                    site=site,
                    provider_id=codes[code] if code else None,
                    password_hash=hash_password(PASSWORD),
                    created_at=at(STARTED),
                )
            )


@dataclass
class Dashboard:
    """A served database: its world, the app's fake clock and the users' login cookies."""

    world: World
    clock: FakeClock
    client: TestClient
    cookies: dict[str, str]

    def login(self, username: str) -> TestClient:
        self.client.cookies.clear()
        self.client.cookies.set(COOKIE, self.cookies[username])
        return self.client


def serve(w: World, cookies: dict[str, str] | None = None) -> Iterator[Dashboard]:
    """The app on `w`'s database; each user signs in through the login form unless
    `cookies` (of an earlier login into the same database) are given."""
    clock = FakeClock(at(SWEPT, 10))
    settings = Settings(database_url=w.url, jwt_secret=JWT_SECRET)
    with TestClient(create_app(settings, clock=clock, trigger=InProcess())) as client:
        if cookies is None:
            cookies = {}
            for username in USERS:
                answer = sign_in(client, username, PASSWORD)
                assert answer.status_code == 303, answer.text
                cookies[username] = answer.cookies[COOKIE]
                client.cookies.clear()
        yield Dashboard(w, clock, client, cookies)


COOKIES: dict[str, str] = {}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("worklists") / "kel.db"
    url = f"sqlite:///{path}"
    migrate(url)
    w = world(url)
    seed(w, MANY)
    for served in serve(w):  # log in once: every copy holds the sessions
        COOKIES.update(served.cookies)
    engine(url).dispose()
    return path


@pytest.fixture
def dash(template: Path, tmp_path: Path) -> Iterator[Dashboard]:
    path = tmp_path / "kel.db"
    with sqlite3.connect(template) as source, sqlite3.connect(path) as target:
        source.backup(target)
    yield from serve(world(f"sqlite:///{path}"), COOKIES)


@pytest.fixture
def small(db_url: str) -> Iterator[Dashboard]:
    """Three Z-2026-AB cases and the others, on SQLite and on PostgreSQL."""
    w = world(db_url)
    seed(w, 3)
    yield from serve(w)


# --- reading the pages ---------------------------------------------------------------

CASE_LINK = re.compile(r'<th scope="row"><a class="aktenzeichen" href="/dashboard/faelle/([^"]+)">')
ROW_ID = re.compile(r'<tr id="eskalation-(\d+)">')
COUNTER = re.compile(r'<p class="zaehler">\s*(.*?)\s*</p>', re.S)


def cases(client: TestClient, query: str = "") -> list[str]:
    """The Aktenzeichen on the case list page for `query`, in the order shown."""
    answer = client.get(f"/dashboard/faelle?{query}")
    assert answer.status_code == 200, answer.text
    return [unquote(r) for r in CASE_LINK.findall(answer.text)]


def all_cases(client: TestClient, query: str = "") -> list[str]:
    """Every page of the list, followed through its "Nächste Seite" links."""
    found: list[str] = []
    url: str | None = f"/dashboard/faelle?{query}"
    while url:
        html = client.get(url).text
        found += [unquote(r) for r in CASE_LINK.findall(html)]
        following = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = following[1].replace("&amp;", "&") if following else None
    return found


def counter(html: str) -> str:
    found = COUNTER.search(html)
    assert found is not None
    return " ".join(found[1].split())


def escalation_rows(client: TestClient, query: str = "") -> list[int]:
    answer = client.get(f"/dashboard/eskalationen?{query}")
    assert answer.status_code == 200, answer.text
    return [int(i) for i in ROW_ID.findall(answer.text)]


def escalations(w: World, *references: str) -> list[Escalation]:
    with w.session() as s:
        query = select(Escalation).join(Referral).order_by(col(Escalation.id))
        if references:
            query = query.where(col(Referral.reference).in_(references))
        return list(s.exec(query))


def audits(w: World, action: str) -> list[AuditEvent]:
    with w.session() as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)))


def inbox_form(html: str) -> dict[str, str]:
    """The hidden fields of the selection form on an inbox page."""
    form = re.search(r'<form id="auswahl".*?</form>', html, re.S)
    assert form is not None
    fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form[0]))
    return {k: v.replace("&amp;", "&") for k, v in fields.items()}


# --- the case list -------------------------------------------------------------------


def test_the_case_list_pages_through_every_open_case_with_no_cut_off(dash: Dashboard) -> None:
    client = dash.login("koordination")
    first = client.get("/dashboard/faelle").text
    assert counter(first) == "Fälle 1–50 von 108 (Seite 1 von 3)"
    assert 'href="/dashboard/faelle?seite=3" aria-label="Seite 3"' in first
    seen = all_cases(client)
    expected = {reference(n) for n in range(1, MANY + 1)} | {"ES-DIA-1", "SU-1", "AC-NEU-1"}
    assert len(seen) == 108 and set(seen) == expected  # all open cases, each once
    last = client.get("/dashboard/faelle?seite=3").text
    assert counter(last) == "Fälle 101–108 von 108 (Seite 3 von 3)"
    assert counter(client.get("/dashboard/faelle?seite=99").text).startswith("Fälle 101–108")


def test_the_longest_overdue_case_comes_first_and_cases_without_overdue_last(
    dash: Dashboard,
) -> None:
    client = dash.login("koordination")
    order = all_cases(client)
    assert order[0] == "ES-DIA-1"  # due 9.3.
    assert order[-1] == "AC-NEU-1"  # nothing overdue
    started_monday = [reference(n) for n in range(5, MANY + 1, 5)]  # due 16.3.: next
    assert sorted(order[1:23]) == sorted([*started_monday, "SU-1"])
    html = client.get("/dashboard/faelle").text
    assert "Erstgespräch: seit 19 Tagen überfällig" in html  # ES-DIA-1, as of 28.3.
    by_reference = all_cases(client, "sortierung=aktenzeichen")
    assert by_reference == sorted(by_reference)
    assert cases(client, "sortierung=neueste")[0] == "AC-NEU-1"
    assert cases(client, "sortierung=aelteste")[0] == "ES-DIA-1"


def test_each_filter_narrows_the_case_list(dash: Dashboard) -> None:
    client = dash.login("koordination")
    assert cases(client, "leistungsart=sucht") == ["SU-1"]
    assert cases(client, "traeger=SB-DIAKONIE") == ["ES-DIA-1"]
    assert cases(client, "standort=Eschweiler") == ["ES-DIA-1"]
    assert cases(client, "zustand=appointment_booked") == ["ES-DIA-1"]
    assert cases(client, "zustand=closed") == ["AC-ZU-1"]
    assert len(all_cases(client, "zustand=alle")) == 109
    overdue = all_cases(client, "ueberfaellig=1")
    assert len(overdue) == 107 and "AC-NEU-1" not in overdue
    assert len(all_cases(client, "eskaliert=1")) == 107
    assert cases(client, "mir=1") == []
    combined = "leistungsart=schulden&traeger=SB-CARITAS&standort=Aachen&ueberfaellig=1"
    assert len(all_cases(client, combined)) == MANY
    as_sent = "suche=&leistungsart=&traeger=SB-DIAKONIE&standort=&zustand=offen&sortierung=frist"
    assert cases(client, as_sent) == ["ES-DIA-1"]  # the GET form sends empty fields too
    html = client.get("/dashboard/faelle?traeger=SB-DIAKONIE").text
    assert '<option value="SB-DIAKONIE" selected>' in html  # the form shows the filter
    assert "Filter zurücksetzen" in html


def test_mir_zugewiesen_lists_the_cases_with_an_escalation_assigned_to_me(
    dash: Dashboard,
) -> None:
    with dash.world.session() as s:
        for e in s.exec(select(Escalation).join(Referral).where(Referral.reference == "SU-1")):
            e.assigned_to = "Koordination"  # the user name, in another case
            s.add(e)
    assert cases(dash.login("koordination"), "mir=1") == ["SU-1"]
    assert cases(dash.login("admin"), "mir=1") == []


def test_search_finds_aktenzeichen_and_customer_numbers_partly_and_in_any_case(
    dash: Dashboard,
) -> None:
    client = dash.login("koordination")
    assert len(all_cases(client, "suche=z-2026-ab")) == MANY
    found = cases(client, "suche=ab10&sortierung=aktenzeichen")
    assert found == [reference(n) for n in range(100, 106)]
    assert cases(client, "suche=%20es-dia%20") == ["ES-DIA-1"]  # blanks around: ignored
    assert cases(client, "suche=k-su") == ["SU-1"]  # customer number
    assert cases(client, "suche=%25") == []  # "%" is a character, not a wildcard
    assert cases(client, "suche=_") == []
    provider = dash.login("traeger.caritas")
    assert cases(provider, "suche=k-ab001") == []  # providers search Aktenzeichen only
    assert cases(provider, "suche=ab001") == [reference(1)]


def test_each_role_sees_only_its_scope(dash: Dashboard) -> None:
    assert cases(dash.login("ifk.eschweiler")) == ["ES-DIA-1"]
    provider = dash.login("traeger.caritas")
    seen = all_cases(provider, "zustand=alle")
    assert len(seen) == MANY + 2 and "ES-DIA-1" not in seen and "SU-1" not in seen
    html = provider.get("/dashboard/faelle").text
    assert "Kundennummer" not in html and "K-AB001" not in html
    assert cases(provider, "traeger=SB-DIAKONIE") == []  # a filter never widens the scope
    assert '<option value="SB-DIAKONIE"' not in html
    assert len(all_cases(dash.login("admin"))) == 108


def test_a_reference_in_lower_case_leads_to_the_case_within_scope_only(dash: Dashboard) -> None:
    client = dash.login("koordination")
    answer = client.get("/dashboard/faelle/z-2026-ab001", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/faelle/Z-2026-AB001"
    assert "<h1>Fall Z-2026-AB001</h1>" in client.get("/dashboard/faelle/z-2026-Ab001").text
    caseworker = dash.login("ifk.eschweiler")
    outside = caseworker.get("/dashboard/faelle/z-2026-ab001", follow_redirects=False)
    assert outside.status_code == 404
    assert "Fall nicht gefunden" in outside.text
    assert caseworker.get("/dashboard/faelle/es-dia-1").status_code == 200
    assert client.get("/dashboard/faelle/z-2026-ab00").status_code == 404  # not partial


def test_every_count_on_the_overview_links_to_a_list_with_that_many_cases(
    dash: Dashboard,
) -> None:
    client = dash.login("koordination")
    html = client.get("/dashboard").text
    links = re.findall(
        r'<a href="/dashboard/faelle\?([^"]+)" aria-label="[^"]*">([\d\u202f]+)</a>', html
    )
    assert len(links) == 2 + 2 + 3 + 2  # states, Leistungsarten, Träger, Standorte
    for query, count in links:
        total = int(count.replace("\u202f", ""))
        listed = counter(client.get(f"/dashboard/faelle?{query.replace('&amp;', '&')}").text)
        assert listed.startswith(f"Fälle 1–{min(total, 50)} von {total}"), (query, listed)
    overdue = re.search(r'<a href="/dashboard/faelle\?ueberfaellig=1">(\d+) Fällen</a>', html)
    assert overdue is not None and overdue[1] == "107"


# --- the escalation inbox ------------------------------------------------------------


def test_the_inbox_pages_through_all_214_escalations_longest_overdue_first(
    dash: Dashboard,
) -> None:
    client = dash.login("koordination")
    first = client.get("/dashboard/eskalationen").text
    assert counter(first) == "Eskalationen 1–50 von 214 (Seite 1 von 5)"
    shown = [i for page in range(1, 6) for i in escalation_rows(client, f"seite={page}")]
    everything = escalations(dash.world)
    assert sorted(shown) == [e.id for e in everything] and len(set(shown)) == 214
    es = [e.id for e in escalations(dash.world, "ES-DIA-1")]
    assert shown[:2] == es  # due 9.3.
    assert "seit 19 Tagen überfällig" in first
    assert '<th scope="row"><a class="aktenzeichen" href="/dashboard/faelle/ES-DIA-1">' in first


def test_the_inbox_filters(dash: Dashboard) -> None:
    client = dash.login("koordination")
    es = [e.id for e in escalations(dash.world, "ES-DIA-1")]
    su = [e.id for e in escalations(dash.world, "SU-1")]
    assert escalation_rows(client, "traeger=SB-DIAKONIE") == es
    as_sent = "suche=&leistungsart=&traeger=SB-DIAKONIE&standort=&status=&stufe="
    assert escalation_rows(client, as_sent) == es  # the GET form sends empty fields too
    assert escalation_rows(client, "standort=Eschweiler") == es
    assert escalation_rows(client, "leistungsart=sucht") == su
    assert escalation_rows(client, "suche=es-dia") == es
    assert escalation_rows(client, "status=acknowledged") == []
    assert escalation_rows(client, "stufe=2") == []
    assert len(escalation_rows(client, "stufe=1")) == 50
    with dash.world.session() as s:
        row = s.get(Escalation, su[0])
        assert row is not None
        row.state, row.assigned_to = "acknowledged", "koordination"
        s.add(row)
    assert escalation_rows(client, "status=acknowledged") == su[:1]
    assert escalation_rows(client, "mir=1") == su[:1]
    assert escalation_rows(dash.login("admin"), "mir=1") == []


def test_only_coordination_and_administration_open_the_inbox(dash: Dashboard) -> None:
    for username in ("ifk.eschweiler", "traeger.caritas"):
        answer = dash.login(username).get("/dashboard/eskalationen")
        assert answer.status_code == 403
        assert "Keine Berechtigung" in answer.text
        assert 'href="/dashboard/eskalationen"' not in answer.text  # not in the navigation
    assert dash.login("admin").get("/dashboard/eskalationen").status_code == 200


def test_bulk_acknowledge_changes_each_selected_escalation_once_with_its_audit_entry(
    dash: Dashboard,
) -> None:
    client = dash.login("koordination")
    page = client.get("/dashboard/eskalationen?traeger=SB-CARITAS&seite=2").text
    selected = [int(i) for i in ROW_ID.findall(page)][:3]
    form = {**inbox_form(page), "aktion": "quittieren", "eskalation": [str(i) for i in selected]}
    assert form["zurueck"] == "traeger=SB-CARITAS&seite=2"
    answer = client.post("/dashboard/eskalationen/auswahl", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        "/dashboard/eskalationen?traeger=SB-CARITAS&seite=2&hinweis=sammel-quittiert"
        f"&anzahl=3&unveraendert=0#eskalation-{selected[0]}"
    )
    again = client.post("/dashboard/eskalationen/auswahl", data=form, follow_redirects=False)
    assert again.status_code == 303  # the same form twice: no second change
    states = {e.id: e.state for e in escalations(dash.world)}
    assert [states[i] for i in selected] == ["acknowledged"] * 3
    assert list(states.values()).count("acknowledged") == 3
    entries = audits(dash.world, "escalation_acknowledge")
    assert sorted(a.detail["escalation_id"] for a in entries) == selected
    assert {(a.actor, a.role) for a in entries} == {("koordination", "coordinator")}
    shown = client.get(answer.headers["location"]).text
    assert (
        '<div id="meldung" class="meldung" role="status"><p>3 Eskalationen wurden quittiert.'
        in shown
    )
    more = {
        **form,
        "form_key": inbox_form(page)["form_key"] + "x",
        "eskalation": [str(i) for i in selected[:2]],
    }
    text = client.post("/dashboard/eskalationen/auswahl", data=more).text
    assert "0 Eskalationen wurden quittiert. 2 blieben unverändert" in text
    assert len(audits(dash.world, "escalation_acknowledge")) == 3


def test_bulk_assign_assigns_each_selected_escalation(dash: Dashboard) -> None:
    client = dash.login("koordination")
    page = client.get("/dashboard/eskalationen").text
    selected = [int(i) for i in ROW_ID.findall(page)][:2]  # ES-DIA-1's two
    form = {**inbox_form(page), "aktion": "zuweisen", "eskalation": [str(i) for i in selected]}
    missing = client.post("/dashboard/eskalationen/auswahl", data={**form, "assigned_to": " "})
    assert "Bitte angeben, wem die Eskalation zugewiesen wird." in missing.text
    nothing = client.post(
        "/dashboard/eskalationen/auswahl", data={**form, "eskalation": [], "assigned_to": "x"}
    )
    assert "Bitte mindestens eine Eskalation auswählen." in nothing.text
    done = client.post(
        "/dashboard/eskalationen/auswahl", data={**form, "assigned_to": "koordination"}
    )
    assert "2 Eskalationen wurden zugewiesen." in done.text
    assert [e.assigned_to for e in escalations(dash.world, "ES-DIA-1")] == ["koordination"] * 2
    assert len(audits(dash.world, "escalation_assign")) == 2
    assert escalation_rows(client, "mir=1") == selected
    assert cases(client, "mir=1") == ["ES-DIA-1"]


def test_bulk_actions_need_the_csrf_token_and_the_coordinator_role(dash: Dashboard) -> None:
    client = dash.login("koordination")
    page = client.get("/dashboard/eskalationen").text
    selected = ROW_ID.findall(page)[:2]
    form = {**inbox_form(page), "aktion": "quittieren", "eskalation": selected}
    forged = client.post("/dashboard/eskalationen/auswahl", data={**form, "csrf_token": "x" * 40})
    assert forged.status_code == 403 and "Formular abgelaufen" in forged.text
    provider = dash.login("traeger.caritas")
    token = form_token(provider.get("/dashboard/faelle").text)
    refused = provider.post("/dashboard/eskalationen/auswahl", data={**form, "csrf_token": token})
    assert refused.status_code == 403 and "Keine Berechtigung" in refused.text
    assert {e.state for e in escalations(dash.world)} == {"open"}
    assert audits(dash.world, "escalation_acknowledge") == []


def test_a_row_action_returns_to_the_row_and_its_filters(dash: Dashboard) -> None:
    client = dash.login("koordination")
    page = client.get("/dashboard/eskalationen?leistungsart=sucht").text
    first = int(ROW_ID.findall(page)[0])
    key = re.search(
        rf'action="/dashboard/eskalationen/{first}/erledigen".*?name="form_key" value="([^"]+)"',
        page,
        re.S,
    )
    assert key is not None
    form = {"form_key": key[1], "csrf_token": form_token(page), "zurueck": "leistungsart=sucht"}
    url = f"/dashboard/eskalationen/{first}/erledigen"
    answer = client.post(url, data=form, follow_redirects=False)
    assert answer.headers["location"] == (
        f"/dashboard/eskalationen?leistungsart=sucht&hinweis=erledigt&nr={first}#eskalation-{first}"
    )
    shown = client.get(answer.headers["location"]).text
    assert f"Die Eskalation Nr. {first} wurde erledigt." in shown
    assert f'id="eskalation-{first}"' not in shown  # resolved: out of the inbox
    foreign = {**form, "zurueck": "https://example.org/&leistungsart=sucht&x=1"}
    moved = client.post(url, data={**foreign, "form_key": "k" * 16}, follow_redirects=False)
    assert moved.headers["location"].startswith(
        "/dashboard/eskalationen?leistungsart=sucht&hinweis="
    )


def test_new_escalations_since_the_last_visit_are_marked(dash: Dashboard) -> None:
    client = dash.login("koordination")
    first_visit = client.get("/dashboard/eskalationen").text
    assert "seit Ihrem letzten Besuch" not in first_visit  # the first visit ever
    assert '<strong class="neu">' not in first_visit
    dash.clock.advance(timedelta(hours=1))
    with dash.world.session() as s:
        case = s.exec(select(Referral).where(Referral.reference == "AC-NEU-1")).one()
        deadline = s.exec(select(Deadline).where(Deadline.referral_id == case.id)).first()
        assert deadline is not None
        s.add(
            Escalation(
                referral_id=case.id or 0,
                deadline_id=deadline.id or 0,
                reason="Erstgespräch überfällig",
                created_at=at(SWEPT, 10) + timedelta(minutes=30),
            )
        )
    fresh = escalations(dash.world, "AC-NEU-1")[0].id
    dash.clock.advance(timedelta(hours=1))
    second = client.get("/dashboard/eskalationen?suche=AC-NEU").text
    assert "1 neue Eskalation seit Ihrem letzten Besuch am 28.03.2026, 10:00 Uhr" in second
    assert re.search(rf'id="eskalation-{fresh}">.*?<strong class="neu">neu</strong>', second, re.S)
    assert escalation_rows(client, "neu=1") == [fresh]
    dash.clock.advance(timedelta(minutes=10))  # the same visit: still new
    assert escalation_rows(client, "neu=1") == [fresh]
    dash.clock.advance(timedelta(hours=1))  # a later visit: seen
    assert escalation_rows(client, "neu=1") == []
    with dash.world.session() as s:
        user = s.exec(select(User).where(User.username == "koordination")).one()
        assert user.escalations_seen_at == at(SWEPT, 13) + timedelta(minutes=10)


# --- SQLite and PostgreSQL -----------------------------------------------------------


def test_search_sort_filters_and_spelling_agree_on_both_databases(small: Dashboard) -> None:
    client = small.login("koordination")
    assert cases(client)[0] == "ES-DIA-1" and cases(client)[-1] == "AC-NEU-1"
    assert sorted(cases(client, "suche=z-2026-ab")) == [reference(n) for n in (1, 2, 3)]
    assert cases(client, "suche=K-es") == ["ES-DIA-1"]
    assert cases(client, "suche=%25") == []
    assert cases(client, "ueberfaellig=1&sortierung=aktenzeichen") == [
        "ES-DIA-1",
        "SU-1",
        *(reference(n) for n in (1, 2, 3)),
    ]
    assert cases(client, "zustand=closed") == ["AC-ZU-1"]
    answer = client.get("/dashboard/faelle/es-dia-1", follow_redirects=False)
    assert answer.headers["location"] == "/dashboard/faelle/ES-DIA-1"
    assert small.login("traeger.caritas").get("/dashboard/faelle/es-dia-1").status_code == 404


def test_bulk_acknowledge_and_the_inbox_order_on_both_databases(small: Dashboard) -> None:
    client = small.login("koordination")
    page = client.get("/dashboard/eskalationen").text
    shown = [int(i) for i in ROW_ID.findall(page)]
    assert shown[:2] == [e.id for e in escalations(small.world, "ES-DIA-1")]
    assert len(shown) == 2 * 5  # ES-DIA-1, SU-1 and three AB cases
    form = {**inbox_form(page), "aktion": "quittieren", "eskalation": [str(i) for i in shown[:4]]}
    done = client.post("/dashboard/eskalationen/auswahl", data=form)
    assert "4 Eskalationen wurden quittiert." in done.text
    assert len(audits(small.world, "escalation_acknowledge")) == 4
    assert escalation_rows(client, "status=acknowledged") == shown[:4]
    assert escalation_rows(client, "status=open") == shown[4:]
