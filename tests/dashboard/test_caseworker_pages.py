"""Integrationsfachkraft in the dashboard (issue 8, point 4): Neue Zuweisung with the
provider table, Schweigepflichtentbindung and its withdrawal, closing a case, the Gutschein
as PDF; and the report PDF's Unicode font and jobcenter name (point 6).

The world, on 4 May 2026: sites Aachen (Jobcenter StädteRegion Aachen) and Eschweiler;
Schuldnerberatung at SB-YILMAZ ("Yılmaz & Łukasiewicz", Aachen only, capacity 20) and
SB-CARITAS (both sites), an inactive SB-ALT and SB-ESCH (Eschweiler only). SB-YILMAZ had
first appointments 5, 9 and 20 days after the voucher in the last twelve months (median 9)
and one 40 days after it in March 2025 (outside the window); with one more open case and
one closed, it has 4 open cases. SB-CARITAS had one after 3 days (1 open case).
"""

from __future__ import annotations

import functools
import html
import io
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import select

from api.dashboard.voucher_pdf import period_words
from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from models.clock import FakeClock
from models.commands import FeedbackIn, ReportContent
from models.settings import Settings
from models.tables import (
    AuditEvent,
    Command,
    Consent,
    Feedback,
    Provider,
    Referral,
    Site,
    User,
    Voucher,
)
from tasks.read_model.provider_choice import provider_choices
from tests.dashboard.forms import FormClient, sign_in
from tests.factories import World, at, provider, world

JWT_SECRET = "4c7a2d5f8e0b3a6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a9b1e"
PASSWORD = "Zuweisung-2026!"
TODAY = date(2026, 5, 4)
NEW = "/dashboard/zuweisung/neu"
YILMAZ = "Schuldnerberatung Yılmaz & Łukasiewicz"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "ifk.aachen": {"role": "caseworker", "site": "Aachen", "email": "ifk.aachen@jc.example"},
    "ifk.eschweiler": {"role": "caseworker", "site": "Eschweiler"},
    "koordination": {"role": "coordinator"},
    "admin": {"role": "admin"},
    "traeger.yilmaz": {"role": "provider", "provider": "SB-YILMAZ"},
}


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def seed(w: World) -> None:
    w.add(
        Site(code="Aachen", name="Aachen-Mitte", jobcenter="Jobcenter StädteRegion Aachen"),
        Site(code="Eschweiler", name="Eschweiler"),
        provider(
            "SB-YILMAZ",
            name=YILMAZ,
            sites=["Aachen"],
            monthly_capacity=20,
            address="Hauptstraße 1\n52062 Aachen",
            phone="0241 123456",
            appointment_hint="Terminvereinbarung telefonisch Mo–Do 9–12 Uhr",
        ),
        provider("SB-CARITAS", sites=["Aachen", "Eschweiler"], monthly_capacity=30),
        provider("SB-ALT", sites=["Aachen"], active=False),
        provider("SB-ESCH", sites=["Eschweiler"]),
        provider("SUCHT-1", ("sucht", "psychosozial"), sites=["Aachen"]),
        provider("PFLEGE-1", ("pflege",), sites=["Aachen"]),
    )
    waits = {"Y-5": 5, "Y-9": 9, "Y-20": 20}
    for number, (reference, days) in enumerate(waits.items()):
        kept(w, reference, TODAY - timedelta(days=60), days, f"KY{number}", "SB-YILMAZ")
    kept(w, "Y-OLD", date(2025, 3, 1), 40, "KY-OLD", "SB-YILMAZ")
    w.event("Y-OLD", date(2025, 6, 1), "final_report", feedback=FeedbackIn(ended=True))
    w.start(
        "Y-OPEN", TODAY - timedelta(days=3), customer_number="KY-OPEN", provider_code="SB-YILMAZ"
    )
    w.start(
        "Y-INVALID", TODAY - timedelta(days=3), customer_number="KY-INV", provider_code="SB-YILMAZ"
    )
    w.event("Y-INVALID", TODAY - timedelta(days=2), "voucher_returned_invalid")
    kept(w, "C-3", TODAY - timedelta(days=30), 3, "KC3", "SB-CARITAS")
    with w.session() as s:
        providers = {p.code: p.id for p in s.exec(select(Provider))}
        for username, account in ACCOUNTS.items():
            s.add(
                User(
                    username=username,
                    role=account["role"],
                    site=account.get("site"),
                    email=account.get("email"),
                    provider_id=providers[account["provider"]] if "provider" in account else None,
                    password_hash=password_hash(),
                    created_at=at(TODAY),
                )
            )


def kept(w: World, reference: str, start: date, days: int, customer: str, code: str) -> None:
    """A referral whose first appointment was kept `days` after the voucher."""
    w.start(reference, start, customer_number=customer, provider_code=code)
    w.event(
        reference,
        start + timedelta(days=1),
        "appointment_booked",
        appointment_on=start + timedelta(days=days),
    )
    w.event(reference, start + timedelta(days=days), "appointment_kept")


@pytest.fixture
def url(db_url: str) -> str:
    """SQLite and PostgreSQL (the parametrised `db_url`) for every test of this module."""
    return db_url


@pytest.fixture
def kel(url: str) -> World:
    w = world(url)
    seed(w)
    return w


@pytest.fixture
def app_for(kel: World) -> Any:
    settings = Settings(database_url=kel.url, jwt_secret=JWT_SECRET)
    return create_app(settings, clock=FakeClock(at(TODAY, 10)), trigger=InProcess())


@pytest.fixture
def browser(app_for: Any) -> Iterator[Callable[[str], TestClient]]:
    """`browser(username)`: a client signed in through the dashboard's login form."""
    clients: list[TestClient] = []

    def login(username: str) -> TestClient:
        client = FormClient(app_for)
        clients.append(client)
        client.__enter__()
        answer = sign_in(client, username, PASSWORD)
        assert answer.status_code == 303, answer.text
        return client

    yield login
    for client in clients:
        client.__exit__(None, None, None)


def form(**values: str) -> dict[str, str]:
    """A complete Zuweisung form for Aachen, Schuldnerberatung, SB-YILMAZ."""
    return {
        "form_key": "formular-0001",
        "leistungsart": "schulden",
        "standort": "Aachen",
        "aktenzeichen": "AC-NEU-1",
        "kundennummer": "K-4711",
        "altersgruppe": "25-49",
        "traeger": "SB-YILMAZ",
        "ifk_email": "ifk.aachen@jc.example",
        "kontakt_email": "",
        "einwilligung_form": "",
        "einwilligung_umfang": "content",
        "einwilligung_am": "",
        "einwilligung_bis": "",
        **values,
    }


def referral(kel: World, reference: str) -> Referral | None:
    with kel.session() as s:
        return s.exec(select(Referral).where(Referral.reference == reference)).first()


def audits(kel: World, action: str) -> list[AuditEvent]:
    with kel.session() as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def text_of(markup: str) -> str:
    """The visible text of `markup`: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def row_of(markup: str, name: str, *, section: str | None = None) -> str:
    """The text of the table row naming `name` (in the section with id `section`)."""
    if section is not None:
        markup = markup[markup.index(f'id="{section}"') :]
        markup = markup[: markup.index("</table>")]
    rows = [text_of(r) for r in re.findall(r"<tr[^>]*>.*?</tr>", markup, flags=re.S)]
    found = [r for r in rows if name in r]
    assert len(found) == 1, (name, found)
    return found[0]


def pdf_root(body: bytes) -> Any:
    """The document catalog (``/Root``) of a PDF."""
    root: Any = PdfReader(io.BytesIO(body)).trailer["/Root"]
    return root


def pdf_text(body: bytes) -> str:
    reader = PdfReader(io.BytesIO(body))
    return " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)


# --- the provider table ---------------------------------------------------------------------


def test_provider_figures_count_open_cases_capacity_and_median_days_to_first_appointment(
    kel: World,
) -> None:
    with kel.session() as s:
        choices = provider_choices(s, kel.registry, "schulden", "Aachen", TODAY)

    figures = [(c.code, c.open_cases, c.capacity, c.first_appointments) for c in choices]
    assert figures == [("SB-YILMAZ", 4, 20, 3), ("SB-CARITAS", 1, 30, 1)]  # by name
    assert [c.median_days for c in choices] == [9.0, 3.0]
    assert [c.median_text for c in choices] == ["9 Tage", "3 Tage"]


def test_the_form_offers_the_active_providers_of_the_site_with_their_figures(
    browser: Callable[[str], TestClient],
) -> None:
    page = browser("ifk.aachen").get(NEW, params={"leistungsart": "schulden"})

    assert page.status_code == 200
    html = page.text
    assert "Standort: <strong>Aachen-Mitte</strong>" in html
    assert row_of(html, YILMAZ).startswith(f"{YILMAZ} 4 20 9 Tage (3 Erstgespräche)")
    assert "Hauptstraße 1, 52062 Aachen" in row_of(html, YILMAZ)
    assert row_of(html, "Träger SB-CARITAS").startswith(
        "Träger SB-CARITAS 1 30 3 Tage (1 Erstgespräch)"
    )
    for absent in ("SB-ALT", "SB-ESCH", "SUCHT-1"):
        assert absent not in html
    assert 'value="ifk.aachen@jc.example"' in html  # the user's e-mail as default


# --- starting a referral --------------------------------------------------------------------


def test_a_caseworker_starts_a_referral_and_the_case_has_its_voucher(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    client = browser("ifk.aachen")
    answer = client.post(
        NEW,
        data=form(
            kontakt_email="kunde@example.org",
            erinnerungen="ja",
            einwilligung_form="written",
            einwilligung_umfang="status",
        ),
        follow_redirects=False,
    )

    assert answer.status_code == 303, answer.text
    assert (
        answer.headers["location"]
        == "/dashboard/faelle/AC-NEU-1?hinweis=zuweisung-angelegt#ifk-aktionen"
    )
    case = referral(kel, "AC-NEU-1")
    assert case is not None
    assert (case.state, case.site, case.caseworker_email) == (
        "voucher_issued",
        "Aachen",
        "ifk.aachen@jc.example",
    )
    with kel.session() as s:
        voucher = s.exec(select(Voucher).where(Voucher.referral_id == case.id)).one()
        consent = s.exec(select(Consent).where(Consent.referral_id == case.id)).one()
        command = s.exec(select(Command).where(Command.reference == "AC-NEU-1")).one()
        yilmaz = s.exec(select(Provider).where(Provider.code == "SB-YILMAZ")).one()
    assert (voucher.status, voucher.provider_id, voucher.issued_on) == ("issued", yilmaz.id, TODAY)
    assert (consent.form, consent.scope, consent.provider_id) == ("written", "status", yilmaz.id)
    assert (command.actor, command.role, command.status) == ("ifk.aachen", "caseworker", "applied")

    shown = client.get(answer.headers["location"]).text
    assert "Die Zuweisung ist angelegt und der Gutschein ausgegeben." in shown
    assert "Gutschein drucken (PDF)" in shown and voucher.number in shown


def test_a_form_sent_twice_starts_one_referral_and_an_empty_reference_is_generated_once(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    client = browser("ifk.aachen")
    first = client.post(NEW, data=form(aktenzeichen=""), follow_redirects=False)
    second = client.post(NEW, data=form(aktenzeichen=""), follow_redirects=False)

    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    reference = first.headers["location"].split("/")[3].split("?")[0]
    assert re.fullmatch(r"Z-2026-[0-9A-F]{8}", reference)
    with kel.session() as s:
        commands = s.exec(select(Command).where(Command.reference == reference)).all()
    assert [c.kind for c in commands] == ["start_referral"]
    assert referral(kel, reference) is not None


def test_refused_values_come_back_with_the_form_and_german_messages(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    client = browser("ifk.aachen")
    answer = client.post(
        NEW,
        data=form(
            kundennummer="K 47/11", ifk_email="kein-mail", aktenzeichen="AC/1", erinnerungen="ja"
        ),
    )

    assert answer.status_code == 422
    html = answer.text
    assert "Bitte prüfen Sie die markierten Angaben." in html
    assert "Bitte die Kundennummer aus dem Fachverfahren angeben" in html
    assert "Bitte eine gültige E-Mail-Adresse der Integrationsfachkraft angeben." in html
    assert "Das Aktenzeichen hat 1 bis 40 Zeichen" in html
    assert "Für Erinnerungen per E-Mail bitte die E-Mail-Adresse angeben." in html
    assert 'value="K 47/11"' in html and 'aria-invalid="true"' in html
    assert referral(kel, "AC/1") is None


def test_addiction_counselling_needs_a_consent_and_a_taken_reference_is_refused(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    client = browser("ifk.aachen")
    sucht = client.post(
        NEW, data=form(leistungsart="psychosozial", traeger="SUCHT-1", form_key="formular-0002")
    )
    taken = client.post(NEW, data=form(aktenzeichen="Y-OPEN", form_key="formular-0003"))

    assert sucht.status_code == 422
    assert (
        "Psychosoziale Betreuung: Eine Schweigepflichtentbindung (schriftlich oder elektronisch) "
        "muss vorliegen" in sucht.text
    )
    assert taken.status_code == 409
    assert "Dieses Aktenzeichen ist nicht verfügbar" in taken.text
    assert 'value="Y-OPEN"' in taken.text


def test_an_inactive_or_foreign_provider_is_refused(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    client = browser("ifk.aachen")
    for code in ("SB-ALT", "SB-ESCH"):
        answer = client.post(NEW, data=form(traeger=code, form_key=f"formular-{code}"))
        assert answer.status_code == 422
        assert "Bitte einen Träger aus der Liste wählen." in answer.text
    assert referral(kel, "AC-NEU-1") is None


def test_a_caseworker_cannot_start_a_referral_for_another_site(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    client = browser("ifk.eschweiler")
    answer = client.post(NEW, data=form())

    assert answer.status_code == 403
    assert "Sie sind nicht für den Standort 'Aachen' zuständig." in text_of(answer.text)
    assert referral(kel, "AC-NEU-1") is None
    own = client.get(NEW, params={"leistungsart": "schulden", "standort": "Aachen"}).text
    assert "Standort: <strong>Eschweiler</strong>" in own  # the caseworker's site, fixed
    assert "SB-YILMAZ" not in own and "Träger SB-ESCH" in own


def test_coordinators_and_providers_do_not_start_referrals(
    browser: Callable[[str], TestClient],
) -> None:
    coordinator = browser("koordination")
    assert coordinator.get(NEW).status_code == 403
    assert 'href="/dashboard/zuweisung/neu"' not in coordinator.get("/dashboard/").text
    assert browser("traeger.yilmaz").get(NEW).status_code == 403
    assert 'href="/dashboard/zuweisung/neu"' in browser("ifk.aachen").get("/dashboard/").text


def test_an_admin_chooses_the_site(browser: Callable[[str], TestClient], kel: World) -> None:
    client = browser("admin")
    step_one = client.get(NEW, params={"leistungsart": "schulden"}).text
    assert '<select id="standort" name="standort" required>' in step_one
    assert "Schritt 2" not in step_one
    answer = client.post(
        NEW, data=form(standort="Eschweiler", traeger="SB-ESCH"), follow_redirects=False
    )
    assert answer.status_code == 303
    case = referral(kel, "AC-NEU-1")
    assert case is not None and case.site == "Eschweiler"


# --- the case page: scope, consent, closing -------------------------------------------------


def test_another_sites_caseworker_does_not_see_the_case_nor_its_voucher(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    client = browser("ifk.eschweiler")
    assert client.get("/dashboard/faelle/Y-OPEN").status_code == 404
    assert client.get("/dashboard/faelle/Y-OPEN/gutschein.pdf").status_code == 404
    consent = {"form_key": "einwilligung-1", "einwilligung_form": "written"}
    assert (
        client.post("/dashboard/faelle/Y-OPEN/schweigepflichtentbindung", data=consent).status_code
        == 404
    )
    assert (
        client.post(
            "/dashboard/faelle/Y-OPEN/beenden",
            data={
                "form_key": "beenden-001",
                "ereignis": "closed_by_caseworker",
                "bestaetigt": "ja",
            },
        ).status_code
        == 404
    )
    assert audits(kel, "voucher_printed") == audits(kel, "consent_granted") == []


def test_consent_is_recorded_then_withdrawn_with_audit_and_content_visibility(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    kel.event(
        "Y-OPEN",
        TODAY - timedelta(days=1),
        "first_feedback",
        feedback=FeedbackIn(
            appointment_kept=None, content=ReportContent(ausgangssituation="Zwölf Gläubiger")
        ),
    )
    client = browser("ifk.aachen")
    before = client.get("/dashboard/faelle/Y-OPEN").text
    assert "Zwölf Gläubiger" not in before and "Inhalt zurückgehalten" in before

    recorded = client.post(
        "/dashboard/faelle/Y-OPEN/schweigepflichtentbindung",
        data={
            "form_key": "einwilligung-1",
            "einwilligung_form": "electronic",
            "einwilligung_umfang": "content",
            "einwilligung_am": "2026-05-04",
            "einwilligung_traeger": "SB-YILMAZ",
        },
        follow_redirects=False,
    )

    assert recorded.status_code == 303
    assert recorded.headers["location"].endswith("?hinweis=einwilligung-erfasst#schweigepflicht")
    (granted,) = audits(kel, "consent_granted")
    assert (granted.actor, granted.detail["form"], granted.detail["scope"]) == (
        "ifk.aachen",
        "electronic",
        "content",
    )
    after = client.get(recorded.headers["location"]).text
    assert "Die Schweigepflichtentbindung ist erfasst." in after
    assert "Zwölf Gläubiger" in after
    assert row_of(after, "elektronisch").startswith(
        f"{YILMAZ} elektronisch Status und Inhalte der Berichte 04.05.2026 unbefristet gültig"
    )

    withdrawn = client.post(
        "/dashboard/faelle/Y-OPEN/schweigepflichtentbindung/widerruf",
        data={"form_key": "widerruf-0001"},
        follow_redirects=False,
    )

    assert withdrawn.status_code == 303
    with kel.session() as s:
        consent = s.exec(select(Consent).join(Referral).where(Referral.reference == "Y-OPEN")).one()
    assert consent.withdrawn_on == TODAY
    assert [a.actor for a in audits(kel, "consent_withdrawn")] == ["ifk.aachen"]
    page = client.get(withdrawn.headers["location"]).text
    assert "Der Widerruf der Schweigepflichtentbindung ist erfasst." in page
    assert "Zwölf Gläubiger" not in page
    assert "widerrufen am 04.05.2026" in page
    assert "Widerruf erfassen" not in page  # nothing left to withdraw


def test_a_consent_with_a_future_date_is_refused_and_nothing_is_written(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    answer = browser("ifk.aachen").post(
        "/dashboard/faelle/Y-OPEN/schweigepflichtentbindung",
        data={
            "form_key": "einwilligung-2",
            "einwilligung_form": "written",
            "einwilligung_am": "2026-06-01",
        },
    )

    assert answer.status_code == 422
    assert "Erteilung 01.06.2026 liegt zu weit in der Zukunft" in answer.text
    assert 'value="2026-06-01"' in answer.text
    assert audits(kel, "consent_granted") == []


def test_the_coordinator_sees_consents_but_records_none(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    client = browser("koordination")
    page = client.get("/dashboard/faelle/Y-OPEN").text
    assert "Schweigepflichtentbindung erfassen" not in page
    assert "Fall beenden" not in page  # by: [caseworker] in the process
    assert "Gutschein drucken (PDF)" in page
    answer = client.post(
        "/dashboard/faelle/Y-OPEN/schweigepflichtentbindung",
        data={"form_key": "einwilligung-3", "einwilligung_form": "written"},
    )
    assert answer.status_code == 403
    closed = client.post(
        "/dashboard/faelle/Y-OPEN/beenden",
        data={"form_key": "beenden-002", "ereignis": "closed_by_caseworker", "bestaetigt": "ja"},
    )
    assert closed.status_code == 403
    assert referral(kel, "Y-OPEN").state == "voucher_issued"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("event", "outcome", "message"),
    [
        ("closed_by_caseworker", "closed_by_caseworker", "Der Fall ist abgeschlossen."),
        ("customer_withdrew", "withdrawn", "Der Fall ist abgeschlossen."),
    ],
)
def test_a_caseworker_closes_a_case_or_records_the_withdrawal_after_confirming(
    browser: Callable[[str], TestClient], kel: World, event: str, outcome: str, message: str
) -> None:
    client = browser("ifk.aachen")
    page = client.get("/dashboard/faelle/Y-5").text  # in counselling
    assert f'value="{event}"' in page
    unconfirmed = client.post(
        "/dashboard/faelle/Y-5/beenden", data={"form_key": "beenden-003", "ereignis": event}
    )
    assert unconfirmed.status_code == 422
    assert "Bitte bestätigen Sie, dass der Fall beendet werden soll." in unconfirmed.text

    answer = client.post(
        "/dashboard/faelle/Y-5/beenden",
        data={"form_key": "beenden-004", "ereignis": event, "bestaetigt": "ja"},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    case = referral(kel, "Y-5")
    assert case is not None and (case.state, case.outcome, case.closed_on) == (
        "closed",
        outcome,
        TODAY,
    )
    closed = client.get(answer.headers["location"]).text
    assert message in closed
    assert "Fall beenden" not in closed and "Schweigepflichtentbindung erfassen" not in closed


def test_closing_a_closed_case_again_is_refused_with_409(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    answer = browser("admin").post(
        "/dashboard/faelle/Y-INVALID/beenden",
        data={"form_key": "beenden-005", "ereignis": "closed_by_caseworker", "bestaetigt": "ja"},
    )
    assert answer.status_code == 409
    assert "Diese Meldung ist im Zustand „Abgeschlossen“ nicht möglich." in answer.text


# --- case page details ------------------------------------------------------------------------


def test_the_case_page_shows_caseworker_provider_contact_and_lateness_of_met_deadlines(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    start = TODAY - timedelta(days=40)
    kel.start("LATE", start, customer_number="K-LATE", provider_code="SB-YILMAZ")
    kel.event(
        "LATE",
        start + timedelta(days=2),
        "appointment_booked",
        appointment_on=start + timedelta(days=29),
    )
    kel.event(
        "LATE",
        start + timedelta(days=5),
        "first_feedback",
        feedback=FeedbackIn(appointment_kept=None),
    )
    kel.event("LATE", start + timedelta(days=29), "appointment_kept")  # due 14 days after start

    html = browser("ifk.aachen").get("/dashboard/faelle/LATE").text
    text = text_of(html)

    assert "Zuständige Integrationsfachkraft ifk.aachen@jobcenter.example" in text
    assert (
        "Kontakt des Trägers Hauptstraße 1, 52062 Aachen Telefon 0241 123456 "
        "E-Mail sb-yilmaz@traeger.example" in text
    )
    first = row_of(html, "Erstgespräch", section="fristen")
    assert first.startswith(f"Erstgespräch {start:%d.%m.%Y} 08.04.2026 erfüllt, 15 Tage nach")
    assert "erfüllt, fristgerecht" in row_of(html, "1. Rückmeldung", section="fristen")


def test_one_day_late_is_singular(browser: Callable[[str], TestClient], kel: World) -> None:
    start = TODAY - timedelta(days=40)
    kel.start("LATE1", start, customer_number="K-LATE1", provider_code="SB-YILMAZ")
    kel.event(
        "LATE1",
        start + timedelta(days=15),
        "first_feedback",
        feedback=FeedbackIn(appointment_kept=None),
    )

    html = browser("koordination").get("/dashboard/faelle/LATE1").text

    assert "erfüllt, 1 Tag nach Fälligkeit" in row_of(html, "1. Rückmeldung", section="fristen")


# --- the Gutschein PDF ----------------------------------------------------------------------


def test_the_gutschein_pdf_has_what_the_customer_needs_in_unicode_and_is_audited(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    client = browser("ifk.aachen")
    client.post(NEW, data=form(), follow_redirects=False)
    with kel.session() as s:
        voucher = s.exec(
            select(Voucher).join(Referral).where(Referral.reference == "AC-NEU-1")
        ).one()

    answer = client.get("/dashboard/faelle/AC-NEU-1/gutschein.pdf")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    text = pdf_text(answer.content)
    for expected in (
        f"Gutschein-Nummer: {voucher.number}",
        YILMAZ,
        "Hauptstraße 1 52062 Aachen",
        "Telefon: 0241 123456",
        "Terminvereinbarung telefonisch Mo–Do 9–12 Uhr",
        "Gültig bis: 01.06.2026",
        "innerhalb von 14 Tagen stattfinden, also bis zum 18.05.2026.",
        "Der Gutschein gilt bis zum 01.06.2026.",
        "Jobcenter StädteRegion Aachen",
        "Standort Aachen-Mitte",
        "Ausgestellt am 04.05.2026",
        "ifk.aachen@jc.example",
    ):
        assert expected in text, expected
    assert "Y?lmaz" not in text and "?ukasiewicz" not in text  # no glyph replaced by "?"
    reader = PdfReader(io.BytesIO(answer.content))
    root = pdf_root(answer.content)
    assert root["/Lang"] == "de-DE" and root["/MarkInfo"]["/Marked"]
    assert (
        reader.metadata is not None
        and reader.metadata.title == f"Gutschein {voucher.number} – Schuldnerberatung"
    )
    document = root["/StructTreeRoot"]["/K"][0].get_object()
    kinds = [k.get_object()["/S"] for k in document["/K"]]
    assert kinds.count("/H1") == 1 and kinds.count("/H2") == 4 and "/P" in kinds
    bookmark: Any = reader.outline[0]
    assert bookmark.title == "Gutschein"
    (printed,) = audits(kel, "voucher_printed")
    assert (printed.actor, printed.detail) == ("ifk.aachen", {"voucher": voucher.number})
    save_png(answer.content, "gutschein")


def test_the_gutschein_for_pflege_names_no_period_and_no_expiry(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    kel.start(
        "PF-1", TODAY, customer_number="K-PF", service_type="pflege", provider_code="PFLEGE-1"
    )
    text = pdf_text(browser("koordination").get("/dashboard/faelle/PF-1/gutschein.pdf").content)
    assert "Vereinbaren Sie einen Termin für ein erstes Gespräch." in text
    assert "innerhalb von" not in text
    assert "Gültig: ohne Ablaufdatum" in text and "verfällt" not in text  # no voucher period


def test_providers_and_cases_without_an_issued_voucher_get_404(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    provider = browser("traeger.yilmaz")
    assert provider.get("/dashboard/faelle/Y-OPEN/gutschein.pdf").status_code == 404
    own_case = provider.get("/dashboard/faelle/Y-OPEN").text
    assert "Gutschein drucken" not in own_case
    assert "Zuständige Integrationsfachkraft" not in own_case  # no e-mail addresses
    client = browser("ifk.aachen")
    assert client.get("/dashboard/faelle/Y-INVALID/gutschein.pdf").status_code == 404  # invalid
    assert client.get("/dashboard/faelle/Y-5/gutschein.pdf").status_code == 404  # redeemed
    assert "Gutschein drucken" not in client.get("/dashboard/faelle/Y-5").text
    assert audits(kel, "voucher_printed") == []


def test_period_words_are_german_dative() -> None:
    assert period_words("P14D") == "14 Tagen"
    assert period_words("P1D") == "1 Tag"
    assert period_words("P1W") == "1 Woche"
    assert period_words("P6W") == "6 Wochen"
    assert period_words("P1M14D") == "1 Monat und 14 Tagen"
    assert period_words("P10D", working_days=True) == "10 Arbeitstagen"


# --- the report PDF: Unicode font, jobcenter from configuration ------------------------------


def interim_report(kel: World, reference: str) -> int:
    kel.event(
        reference,
        TODAY - timedelta(days=1),
        "interim_report",
        feedback=FeedbackIn(
            counselling_ongoing=True,
            content=ReportContent(ergebnis="Gespräch mit Frau Łukasiewicz"),
        ),
    )
    with kel.session() as s:
        return (
            s.exec(
                select(Feedback.id)
                .join(Referral)
                .where(Referral.reference == reference, Feedback.kind == "interim_report")
            ).one()
            or 0
        )


def test_the_report_pdf_names_the_sites_jobcenter_and_prints_unicode(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    feedback_id = interim_report(kel, "Y-9")
    body = (
        browser("traeger.yilmaz").get(f"/dashboard/faelle/Y-9/berichte/{feedback_id}.pdf").content
    )
    text = pdf_text(body)
    assert "Auftraggeber: Jobcenter StädteRegion Aachen" in text
    assert "Düsseldorf" not in text
    assert YILMAZ in text and "Gespräch mit Frau Łukasiewicz" in text
    root = pdf_root(body)
    assert root["/Lang"] == "de-DE" and "/StructTreeRoot" in root


def test_without_a_site_jobcenter_the_report_pdf_takes_the_setting(kel: World) -> None:
    feedback_id = interim_report(kel, "C-3")
    with kel.session() as s:
        site = s.exec(select(Site).where(Site.code == "Aachen")).one()
        site.jobcenter = ""
        s.add(site)
    settings = Settings(
        database_url=kel.url, jwt_secret=JWT_SECRET, jobcenter_name="Jobcenter Testkreis"
    )
    app = create_app(settings, clock=FakeClock(at(TODAY, 10)), trigger=InProcess())
    with FormClient(app) as client:
        assert sign_in(client, "koordination", PASSWORD).status_code == 303
        body = client.get(f"/dashboard/faelle/C-3/berichte/{feedback_id}.pdf").content
    assert "Auftraggeber: Jobcenter Testkreis" in pdf_text(body)


def save_png(body: bytes, name: str) -> None:
    """The first page as ``out/screenshots/<name>.png`` (test artefact), if pdftoppm is here."""
    if shutil.which("pdftoppm") is None:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    source = SCREENSHOTS / f"{name}.pdf"
    source.write_bytes(body)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-singlefile", str(source), str(SCREENSHOTS / name)],
        check=True,
        timeout=60,
    )
    source.unlink()
