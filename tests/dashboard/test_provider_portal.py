"""Träger-Portal (issue 8, point 3): Gutschein-Eingang, the provider's forms on the one
path, and the signed links in reminder e-mails.

Schuldnerberatung cases at SB-CARITAS (AC-*) and one at SB-DIAKONIE (DIA-1); today is
Tuesday 10.3.2026 (fake clock). The first appointment is due 14 days after the Gutschein
(seed 002 §4.2): AC-LATE (20.2.) on 6.3., AC-OLD (25.2.) on 11.3., AC-1 (2.3.) on 16.3.,
AC-2 (5.3.) on 19.3. AC-RUN is in counselling since 24.2. AC-1 and AC-RUN have a
Schweigepflichtentbindung of scope content for SB-CARITAS. Users are signed in with a
session opened directly (`api.security.start_session`); one test logs in through the form.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import col, select

from api.dashboard.portal_forms import forms, input_for
from api.dashboard.portal_lists import frist_text
from api.dashboard.web import COOKIE
from api.main import create_app
from api.security import hash_password, start_session
from api.trigger import InProcess
from models.clock import FakeClock
from models.db import session
from models.form_links import (
    FormLink,
    LinkExpired,
    LinkInvalid,
    deadline_forms,
    read_form_link,
    sign_form_link,
)
from models.process import load_registry
from models.settings import Settings
from models.tables import AuditEvent, Command, Feedback, Provider, Referral, User
from models.urls import form_path, link_path
from notifications import RecordingNotifier
from tasks.delivery import deliver_notifications
from tasks.sweep import fire_due_timers
from tests.conftest import ModuleDb
from tests.dashboard.forms import FormClient, sign_in
from tests.factories import World, at, provider, world

JWT_SECRET = "5d2f8a1c7e4b9d0a3f6c8e1b4d7a0c3f5e8b1d4a7c0e3f6b9d2a5c8e1f4b7d0a"
PASSWORD = "Portal-Traeger-2026!"
TODAY = date(2026, 3, 10)
APP_URL = "https://kel.jobcenter.example"
CONSENT = {"form": "written", "granted_on": "2026-02-01"}
USERS = {
    "traeger.caritas": ("provider", None, "SB-CARITAS"),
    "traeger.diakonie": ("provider", None, "SB-DIAKONIE"),
    "ifk.aachen": ("caseworker", "Aachen", None),
    "koordination": ("coordinator", None, None),
}
KEL_FORMS = forms(next(iter(load_registry().services.values())))
"""The provider's forms of the shipped process (every Leistungsart of the default runs it)."""
REPORT = {
    "termin_wahrgenommen": "ja",
    "beratung_laeuft": "ja",
    "hbg": "2",
    "modul-1-stunden": "2,5",
    "modul-3-stunden": "1",
    "ausgangssituation": "Zwölf Gläubiger, Kontopfändung",
    "ziele": "Schuldenbereinigungsplan",
}


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def build(url: str) -> World:
    """The cases and accounts of the module docstring on the database `url`."""
    w = world(url)
    w.add(
        provider("SB-CARITAS", ("schulden", "sucht"), name="Caritas Schuldner- und Suchtberatung"),
        provider("SB-DIAKONIE", name="Diakonie Schuldnerberatung"),
    )
    starts: dict[str, tuple[date, dict[str, Any]]] = {
        "AC-1": (date(2026, 3, 2), {"consent": CONSENT}),
        "AC-2": (date(2026, 3, 5), {}),
        "AC-OLD": (date(2026, 2, 25), {}),
        "AC-LATE": (date(2026, 2, 20), {}),
        "AC-RUN": (date(2026, 2, 20), {"consent": CONSENT}),
        "DIA-1": (date(2026, 3, 2), {"provider_code": "SB-DIAKONIE"}),
        "AC-SUCHT": (date(2026, 3, 2), {"service_type": "sucht"}),  # with consent (factory)
    }
    for number, (reference, (day, extra)) in enumerate(starts.items()):
        assert w.start(reference, day, customer_number=f"K{number}", **extra).applied == 1
    booked = w.event(
        "AC-RUN", date(2026, 2, 21), "appointment_booked", appointment_on=date(2026, 2, 24)
    )
    assert booked.applied == 1
    assert w.event("AC-RUN", date(2026, 2, 24), "appointment_kept").applied == 1
    w.event("AC-SUCHT", date(2026, 3, 3), "appointment_booked", appointment_on=date(2026, 3, 4))
    assert w.event("AC-SUCHT", date(2026, 3, 4), "appointment_kept").applied == 1
    with w.session() as s:
        ids = {p.code: p.id for p in s.exec(select(Provider))}
        for username, (role, site, code) in USERS.items():
            s.add(
                User(
                    username=username,
                    role=role,
                    site=site,
                    provider_id=ids[code] if code else None,
                    password_hash=password_hash(),
                    created_at=at(date(2026, 2, 1)),
                )
            )
    return w


def app_for(w: World, clock: FakeClock) -> FastAPI:
    settings = Settings(database_url=w.url, jwt_secret=JWT_SECRET, app_url=APP_URL)
    return create_app(settings, clock=clock, trigger=InProcess())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at(TODAY, 10))


@pytest.fixture(scope="module")
def template(module_db: ModuleDb) -> ModuleDb:
    """The world, built once per module and backend; each test works on a copy."""
    build(module_db.url)
    return module_db


@pytest.fixture
def kel(template: ModuleDb) -> Iterator[World]:
    with template.copy() as url:
        yield world(url)


@pytest.fixture
def kel_any(db_url: str) -> World:
    """The same world on SQLite and on PostgreSQL."""
    return build(db_url)


Login = Callable[[str], FormClient]


def _login(w: World, clock: FakeClock) -> Iterator[Login]:
    app = app_for(w, clock)
    clients: list[FormClient] = []

    def make(username: str) -> FormClient:
        with w.session() as s:
            user = s.exec(select(User).where(User.username == username)).one()
            token = start_session(s, user, app.state.settings, clock.now())
        client = FormClient(app)
        client.cookies.set(COOKIE, token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def login(kel: World, clock: FakeClock) -> Iterator[Login]:
    yield from _login(kel, clock)


@pytest.fixture
def login_any(kel_any: World, clock: FakeClock) -> Iterator[Login]:
    yield from _login(kel_any, clock)


def referral(w: World, reference: str) -> Referral:
    with w.session() as s:
        return s.exec(select(Referral).where(Referral.reference == reference)).one()


def audit_of(w: World, reference: str) -> list[AuditEvent]:
    found = referral(w, reference)
    with w.session() as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(AuditEvent.referral_id == found.id)
                .order_by(col(AuditEvent.id))
            )
        )


def send(client: FormClient, reference: str, slug: str, **values: str) -> httpx.Response:
    data = {"form_key": f"test-{reference}-{slug}-{len(values)}", **values}
    return client.post(form_path(reference, slug), data=data, follow_redirects=False)


def row_order(html: str, table: str) -> list[str]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', body)


# --- Gutschein-Eingang -----------------------------------------------------------------


def test_the_waiting_list_shows_the_own_gutscheine_oldest_first_with_days_left(
    login_any: Login,
) -> None:
    page = login_any("traeger.caritas").get("/dashboard/portal")

    assert page.status_code == 200
    assert row_order(page.text, "tabelle-eingang") == ["AC-LATE", "AC-OLD", "AC-1", "AC-2"]
    waiting = page.text.split('id="tabelle-eingang"')[1].split("</table>")[0]
    for text in ("seit 4 Tagen überfällig", "noch 1 Tag<", "noch 6 Tage", "noch 9 Tage"):
        assert text in waiting
    assert "GS-2026-" in waiting and "Schuldnerberatung" in waiting
    assert 'class="ueberfaellig"' in waiting  # AC-LATE, marked beyond the colour: "überfällig"
    assert "DIA-1" not in page.text
    assert row_order(page.text, "tabelle-laufend") == ["AC-RUN", "AC-SUCHT"]
    running = page.text.split('id="tabelle-laufend"')[1]
    assert "1. Rückmeldung" in running and "06.03.2026" in running
    assert form_path("AC-RUN", "rueckmeldung") in running


def test_days_left_are_written_in_german_with_the_right_plural() -> None:
    assert [frist_text(n) for n in (5, 1, 0, -1, -3, None)] == [
        "noch 5 Tage",
        "noch 1 Tag",
        "heute fällig",
        "seit 1 Tag überfällig",
        "seit 3 Tagen überfällig",
        "keine Frist",
    ]


@pytest.mark.parametrize("username", ["ifk.aachen", "koordination"])
def test_the_portal_is_not_found_for_other_roles(login: Login, username: str) -> None:
    page = login(username).get("/dashboard/portal")
    assert page.status_code == 404
    assert "AC-1" not in page.text


# --- Forms on the one path ---------------------------------------------------------------

ACTIONS: list[tuple[str, str, dict[str, str], str]] = [
    ("AC-1", "termin", {"termin_am": "2026-03-12"}, "appointment_booked"),
    ("AC-1", "ablehnung", {"grund": "nicht_zustaendig"}, "rerouting"),
    ("AC-1", "gutschein-ungueltig", {}, "closed"),
    ("AC-RUN", "rueckmeldung", REPORT, "in_counselling"),
    ("AC-RUN", "zwischenbericht", REPORT, "in_counselling"),
    ("AC-RUN", "ergebnisbericht", REPORT, "in_counselling"),
    ("AC-RUN", "abschlussbericht", {**REPORT, "beendet": "ja"}, "closed"),
    ("AC-RUN", "abbruch", {}, "closed"),
]


@pytest.mark.parametrize(("reference", "slug", "values", "state"), ACTIONS)
def test_each_form_changes_the_case_through_the_one_path(
    kel: World, login: Login, reference: str, slug: str, values: dict[str, str], state: str
) -> None:
    client = login("traeger.caritas")
    answer = send(client, reference, slug, **values)

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/dashboard/faelle/{reference}?hinweis={slug}#meldungen"
    assert referral(kel, reference).state == state
    last = audit_of(kel, reference)[-1]
    assert (last.action, last.actor, last.role) == (
        KEL_FORMS[slug].event,
        "traeger.caritas",
        "provider",
    )
    with kel.session() as s:
        command = s.exec(select(Command).order_by(col(Command.id).desc())).first()
    assert command is not None and command.payload["event"] == KEL_FORMS[slug].event
    case = client.get(answer.headers["location"])
    assert re.search(
        r'role="status"[^>]*><p class="erfolg">' + re.escape(KEL_FORMS[slug].done), case.text
    )


def test_booking_keeping_and_reporting_on_postgresql_and_sqlite(
    kel_any: World, login_any: Login
) -> None:
    client = login_any("traeger.caritas")

    assert send(client, "AC-1", "termin", termin_am="2026-03-09").status_code == 303
    assert referral(kel_any, "AC-1").appointment_on == date(2026, 3, 9)
    assert send(client, "AC-1", "wahrgenommen", am="2026-03-09").status_code == 303
    kept = referral(kel_any, "AC-1")
    assert (kept.state, kept.first_appointment_on) == ("in_counselling", date(2026, 3, 9))
    assert send(client, "AC-1", "zwischenbericht", **REPORT).status_code == 303

    with kel_any.session() as s:
        report = s.exec(select(Feedback).where(Feedback.kind == "interim_report")).one()
    assert report.need_group == 2
    assert report.modules == [{"code": 1, "hours": 2.5}, {"code": 3, "hours": 1.0}]
    assert report.content["ausgangssituation"] == "Zwölf Gläubiger, Kontopfändung"
    actions = [a.action for a in audit_of(kel_any, "AC-1")]
    assert actions[-3:] == ["appointment_booked", "appointment_kept", "interim_report"]


def test_no_show_is_reported_with_the_day_of_the_appointment(kel: World, login: Login) -> None:
    client = login("traeger.caritas")
    assert send(client, "AC-2", "termin", termin_am="2026-03-09").status_code == 303
    assert 'value="2026-03-09"' in client.get(form_path("AC-2", "nicht-erschienen")).text

    assert send(client, "AC-2", "nicht-erschienen", am="2026-03-09").status_code == 303

    assert referral(kel, "AC-2").state == "no_show"
    assert audit_of(kel, "AC-2")[-1].detail["on"] == "2026-03-09"


def test_the_case_page_offers_only_the_forms_the_state_allows(login: Login) -> None:
    client = login("traeger.caritas")
    waiting = client.get("/dashboard/faelle/AC-1").text
    running = client.get("/dashboard/faelle/AC-RUN").text

    for slug in ("termin", "ablehnung", "rueckmeldung", "gutschein-ungueltig"):
        assert form_path("AC-1", slug) in waiting
    for slug in ("wahrgenommen", "zwischenbericht", "abschlussbericht"):
        assert form_path("AC-1", slug) not in waiting
    for slug in ("zwischenbericht", "ergebnisbericht", "abschlussbericht", "abbruch"):
        assert form_path("AC-RUN", slug) in running
    assert form_path("AC-RUN", "termin") not in running


def test_a_form_the_state_does_not_allow_is_refused_with_409_in_german(
    kel: World, login: Login
) -> None:
    client = login("traeger.caritas")
    shown = client.get(form_path("AC-1", "zwischenbericht"))
    sent = send(client, "AC-1", "zwischenbericht", **REPORT)
    kept = send(client, "AC-RUN", "wahrgenommen", am="2026-03-09")

    for answer, state in ((shown, "Gutschein ausgegeben"), (sent, "Gutschein ausgegeben")):
        assert answer.status_code == 409
        assert f"im Zustand „{state}“ nicht möglich" in answer.text
        assert 'name="form_key"' not in answer.text  # no form to fill in
    assert kept.status_code == 409 and "„In Beratung“" in kept.text
    for answer in (shown, sent, kept):
        for code in ("voucher_issued", "interim_report", "in_counselling", "appointment_kept"):
            assert code not in answer.text
    assert referral(kel, "AC-1").state == "voucher_issued"
    with kel.session() as s:
        assert s.exec(select(Feedback)).first() is None


def test_another_providers_case_is_not_found(kel: World, login: Login) -> None:
    client = login("traeger.caritas")
    shown = client.get(form_path("DIA-1", "termin"))
    sent = send(client, "DIA-1", "termin", termin_am="2026-03-12")
    unknown = client.get(form_path("AC-1", "gibt-es-nicht"))

    assert (shown.status_code, sent.status_code, unknown.status_code) == (404, 404, 404)
    assert "nicht gefunden" in sent.text
    assert referral(kel, "DIA-1").state == "voucher_issued"


def test_a_caseworker_cannot_use_the_provider_forms(kel: World, login: Login) -> None:
    client = login("ifk.aachen")
    shown = client.get(form_path("AC-1", "termin"))
    sent = send(client, "AC-1", "termin", termin_am="2026-03-12")

    assert (shown.status_code, sent.status_code) == (403, 403)
    assert "Keine Berechtigung" in sent.text
    assert referral(kel, "AC-1").state == "voucher_issued"
    assert form_path("AC-1", "termin") not in client.get("/dashboard/faelle/AC-1").text


def test_a_report_beyond_the_catalog_is_refused_with_the_error_next_to_the_field(
    kel: World, login: Login
) -> None:
    client = login("traeger.caritas")
    answer = send(client, "AC-RUN", "zwischenbericht", **{**REPORT, "modul-3-stunden": "150"})

    assert answer.status_code == 422
    assert 'id="modul-3-stunden-fehler"' in answer.text
    assert "höchstens 100" in answer.text
    field = re.search(r'<input[^>]*id="modul-3-stunden"[^>]*>', answer.text)
    assert field is not None
    assert 'value="150"' in field[0] and 'aria-invalid="true"' in field[0]
    assert re.search(r'aria-describedby="[^"]*modul-3-stunden-fehler', field[0])
    assert "Zwölf Gläubiger, Kontopfändung" in answer.text  # the values are kept
    with kel.session() as s:
        assert s.exec(select(Feedback)).first() is None


def test_an_unknown_need_group_and_bad_numbers_are_refused_at_their_fields(login: Login) -> None:
    client = login("traeger.caritas")
    group = send(client, "AC-RUN", "zwischenbericht", **{**REPORT, "hbg": "9"})
    number = send(client, "AC-RUN", "zwischenbericht", **{**REPORT, "modul-1-stunden": "viel"})
    day = send(client, "AC-1", "termin", termin_am="2026-02-30")

    assert group.status_code == 422 and 'id="hbg-fehler"' in group.text
    assert "Hilfebedarfsgruppe 9 gibt es" in group.text and "zulässig: 1, 2, 3, 4" in group.text
    assert "seed" not in group.text and "Katalog seed" not in group.text
    assert number.status_code == 422 and 'id="modul-1-stunden-fehler"' in number.text
    assert day.status_code == 422 and 'id="termin_am-fehler"' in day.text


def test_group_sessions_are_asked_only_where_the_catalog_counts_them(
    kel: World, login: Login
) -> None:
    client = login("traeger.caritas")
    debts = client.get(form_path("AC-RUN", "zwischenbericht")).text
    addiction = client.get(form_path("AC-SUCHT", "zwischenbericht")).text

    assert "sitzungen" not in debts and "Gruppensitzungen" not in debts
    assert 'id="modul-3-sitzungen"' in addiction and 'id="modul-1-sitzungen"' not in addiction
    assert 'id="modul-J1-stunden"' not in addiction  # youth modules: under-25s only
    too_many = send(client, "AC-SUCHT", "zwischenbericht", **{"modul-3-sitzungen": "30"})
    assert too_many.status_code == 422 and 'id="modul-3-sitzungen-fehler"' in too_many.text
    assert "höchstens 26" in too_many.text
    sent = send(client, "AC-SUCHT", "zwischenbericht", **{"modul-3-sitzungen": "5"})
    assert sent.status_code == 303
    with kel.session() as s:
        report = s.exec(select(Feedback)).one()
    assert report.modules == [{"code": 3, "hours": 0.0, "group_sessions": 5}]


def test_a_report_without_consent_is_status_only(kel: World, login: Login) -> None:
    client = login("traeger.caritas")
    send(client, "AC-2", "termin", termin_am="2026-03-09")
    send(client, "AC-2", "wahrgenommen", am="2026-03-09")
    form = client.get(form_path("AC-2", "zwischenbericht"))

    assert form.status_code == 200
    assert 'id="hbg"' not in form.text and 'name="ausgangssituation"' not in form.text
    assert "keine Schweigepflichtentbindung" in form.text
    refused = send(client, "AC-2", "zwischenbericht", **REPORT)
    assert refused.status_code == 422
    status_only = send(client, "AC-2", "zwischenbericht", beratung_laeuft="ja")
    assert status_only.status_code == 303
    with kel.session() as s:
        report = s.exec(select(Feedback)).one()
    assert (report.counselling_ongoing, report.need_group, report.modules) == (True, None, [])


def test_a_decline_records_its_reason_code(kel: World, login: Login) -> None:
    client = login("traeger.caritas")
    answer = send(client, "AC-OLD", "ablehnung", grund="keine_kapazitaet")

    assert answer.status_code == 303
    assert referral(kel, "AC-OLD").state == "rerouting"
    entry = audit_of(kel, "AC-OLD")[-1]
    assert (entry.action, entry.detail["reason_code"]) == ("provider_declined", "keine_kapazitaet")
    with kel.session() as s:
        command = s.exec(select(Command).order_by(col(Command.id).desc())).first()
    assert command is not None and command.payload["reason_code"] == "keine_kapazitaet"
    case = client.get("/dashboard/faelle/AC-OLD").text
    assert "Grund: Keine Kapazität" in case
    assert "keine_kapazitaet" not in case


def test_the_rest_api_takes_the_decline_reason_code_too(kel: World, login: Login) -> None:
    client = login("traeger.caritas")
    bearer = {"Authorization": f"Bearer {client.cookies[COOKIE]}"}
    url = "/api/v1/referrals/AC-2/events"

    wrong = client.post(
        url,
        json={"event": "no_show", "reason_code": "sonstiges"},
        headers={**bearer, "Idempotency-Key": "rest-grund-falsch"},
    )
    unknown = client.post(
        url,
        json={"event": "provider_declined", "reason_code": "weil"},
        headers={**bearer, "Idempotency-Key": "rest-grund-unbekannt"},
    )
    declined = client.post(
        url,
        json={"event": "provider_declined", "reason_code": "nicht_erreichbar"},
        headers={**bearer, "Idempotency-Key": "rest-grund-richtig"},
    )

    assert (wrong.status_code, unknown.status_code, declined.status_code) == (422, 422, 202)
    assert audit_of(kel, "AC-2")[-1].detail["reason_code"] == "nicht_erreichbar"


def test_a_decline_without_a_listed_reason_is_refused(kel: World, login: Login) -> None:
    answer = send(login("traeger.caritas"), "AC-OLD", "ablehnung", grund="Herr Müller zieht um")

    assert answer.status_code == 422 and 'id="grund-fehler"' in answer.text
    assert referral(kel, "AC-OLD").state == "voucher_issued"


def test_a_form_without_csrf_token_is_refused_with_403(kel: World, login: Login) -> None:
    client = login("traeger.caritas")
    answer = TestClient.post(
        client,
        form_path("AC-1", "termin"),
        data={"form_key": "ohne-token-1234", "termin_am": "2026-03-12"},
        follow_redirects=False,
    )

    assert answer.status_code == 403
    assert referral(kel, "AC-1").state == "voucher_issued"


def test_a_form_sent_twice_takes_effect_once(kel: World, login: Login) -> None:
    client = login("traeger.caritas")
    first = send(client, "AC-1", "termin", termin_am="2026-03-12")
    again = send(client, "AC-1", "termin", termin_am="2026-03-12")

    assert (first.status_code, again.status_code) == (303, 303)
    booked = [a for a in audit_of(kel, "AC-1") if a.action == "appointment_booked"]
    assert len(booked) == 1


def test_a_catalog_refusal_names_the_input_it_is_about() -> None:
    booked: list[int | str] = [1, "J4"]
    assert input_for("modules[1].hours", booked) == "modul-J4-stunden"
    assert input_for("modules[0].group_sessions", booked) == "modul-1-sitzungen"
    assert input_for("need_group", booked) == "hbg"
    assert input_for("modules", booked) == input_for(None, booked) == ""


# --- Signed links in reminder e-mails -----------------------------------------------------


def token_for(reference: str, form: str, clock: FakeClock) -> str:
    return sign_form_link(JWT_SECRET, FormLink(reference, form), clock.now())


def test_every_deadline_a_provider_is_reminded_of_has_its_form() -> None:
    registry = load_registry()
    slugs = {slug for s in registry.services.values() for slug in forms(s)}
    assert deadline_forms(registry) and set(deadline_forms(registry).values()) <= slugs


def test_a_link_is_fresh_for_its_days_and_a_little_clock_skew(clock: FakeClock) -> None:
    token = token_for("AC-1", "termin", clock)
    now = clock.now()
    for opened in (now - timedelta(minutes=1), now + timedelta(days=14)):
        assert read_form_link(JWT_SECRET, token, opened, 14) == FormLink("AC-1", "termin")
    with pytest.raises(LinkExpired):
        read_form_link(JWT_SECRET, token, now + timedelta(days=14, seconds=1), 14)
    with pytest.raises(LinkInvalid):  # signed a day "in the future": not ours to trust
        read_form_link(JWT_SECRET, token, now - timedelta(days=1), 14)


def test_a_valid_link_leads_through_the_login_to_its_form(kel: World, clock: FakeClock) -> None:
    target = form_path("AC-1", "termin")
    with TestClient(app_for(kel, clock)) as browser:
        opened = browser.get(link_path(token_for("AC-1", "termin", clock)), follow_redirects=False)
        assert (opened.status_code, opened.headers["location"]) == (303, target)
        login_page = browser.get(target, follow_redirects=False)
        assert login_page.status_code == 303
        assert login_page.headers["location"] == f"/dashboard/anmelden?next={target}"

        signed_in = sign_in(browser, "traeger.caritas", PASSWORD, next=target)
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, target)
        form = browser.get(target)
    assert form.status_code == 200
    assert "Erstgespräch terminieren" in form.text and 'name="termin_am"' in form.text


def test_an_expired_link_answers_410(kel: World, clock: FakeClock) -> None:
    token = token_for("AC-1", "termin", clock)
    app = app_for(kel, clock)
    clock.advance(timedelta(days=14, seconds=1))
    with TestClient(app) as browser:
        answer = browser.get(link_path(token), follow_redirects=False)

    assert answer.status_code == 410
    assert "Link abgelaufen" in answer.text and 'href="/dashboard/faelle"' in answer.text
    assert "AC-1" not in answer.text


def test_a_changed_link_answers_400(kel: World, clock: FakeClock) -> None:
    token = token_for("AC-1", "termin", clock)
    _, stamp, signature = token.split(".")
    other = token_for("DIA-1", "termin", clock).split(".")[0]
    forged = ".".join([other, stamp, signature])
    foreign_key = sign_form_link("x" * 64, FormLink("AC-1", "termin"), clock.now())
    with TestClient(app_for(kel, clock)) as browser:
        answers = [
            browser.get(link_path(t), follow_redirects=False)
            for t in (forged, token[:-3] + "abc", foreign_key, "kein-link")
        ]

    assert [a.status_code for a in answers] == [400, 400, 400, 400]
    assert "Link ungültig" in answers[0].text


def test_a_valid_link_to_another_providers_case_is_not_found(
    clock: FakeClock, login: Login
) -> None:
    client = login("traeger.caritas")
    answer = client.get(link_path(token_for("DIA-1", "termin", clock)))

    assert answer.status_code == 404
    assert "DIA-1" not in answer.text


def deliver(w: World, clock: FakeClock) -> RecordingNotifier:
    notifier = RecordingNotifier()
    secret = SecretStr(JWT_SECRET)
    settings = w.settings.model_copy(update={"app_url": APP_URL, "jwt_secret": secret})
    deliver_notifications(partial(session, w.url), notifier, settings, clock.now())
    return notifier


@pytest.mark.parametrize(
    ("reminded_on", "reference", "form"),
    [(date(2026, 3, 13), "AC-1", "termin"), (date(2026, 4, 2), "AC-RUN", "zwischenbericht")],
)
def test_the_reminder_e_mail_links_to_the_form_of_its_deadline(
    kel: World, clock: FakeClock, reminded_on: date, reference: str, form: str
) -> None:
    clock.set(at(reminded_on, 6))
    fire_due_timers(kel.session, kel.registry, kel.settings, clock.now())
    sent = deliver(kel, clock).sent
    number = referral(kel, reference).id
    reminders = [
        m for m in sent if m.key.startswith(f"ref-{number}:") and "Erinnerung" in m.subject
    ]

    assert len(reminders) == 1
    links = re.findall(rf"{re.escape(APP_URL)}/dashboard/link/[\w.-]+", reminders[0].text)
    assert len(links) == 1 and links[0] in reminders[0].html
    token = links[0].rsplit("/", 1)[1]
    assert read_form_link(JWT_SECRET, token, clock.now(), 14) == FormLink(reference, form)
    with TestClient(app_for(kel, clock)) as browser:
        opened = browser.get(links[0].removeprefix(APP_URL), follow_redirects=False)
    assert opened.headers["location"] == form_path(reference, form)


def test_other_e_mails_keep_the_plain_case_link(kel: World, clock: FakeClock) -> None:
    clock.set(at(date(2026, 3, 25), 6))
    fire_due_timers(kel.session, kel.registry, kel.settings, clock.now())
    sent = deliver(kel, clock).sent
    others = [m for m in sent if "Erinnerung" not in m.subject]

    assert others
    for message in others:
        assert "/dashboard/link/" not in message.text
        assert re.search(rf"{re.escape(APP_URL)}/dashboard/faelle/[\w-]+\s", message.text)
