"""Eintrittsplanung page (seed 002 §4.1, "Na Schulen 2015") and the report PDF (§4.6.5).

The figures are the seed's own: Aachen, Nordkreis 1 and Eifel, Soll from its Bedarf table,
Ist January to April 2015 (here 2026, with the clock at 30 April like the seed's "Stand").
Aachen in January: Soll 35, Ist 38, so (38 − 35) / 35 = 8,6 %.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterator
from datetime import date
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import select

from api.dashboard import pdf
from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from models.clock import FakeClock
from models.figures.planning import build_planning
from models.settings import Settings
from models.tables import (
    AuditEvent,
    Consent,
    Customer,
    Feedback,
    IntakePlan,
    Provider,
    Referral,
    User,
    Voucher,
)
from tests.dashboard.forms import FormClient, sign_in
from tests.factories import World, at

JWT_SECRET = "9d1e4b7a2c5f8e0b3a6d9c2f5e8b1a4d7c0f3e6b9a2d5c8f1e4b7a0d3c6f9e2b"
PASSWORD = "Eintritt-2026!"
TODAY = date(2026, 4, 30)  # the seed's "Stand 30.04."

SOLL = {
    "Aachen": [35, 35, 35, 35, 35, 30, 30, 30, 40, 40, 40, 30],
    "Nordkreis 1": [18, 18, 20, 18, 20, 18, 18, 18, 20, 18, 20, 18],
    "Eifel": [1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0],
}
IST = {"Aachen": [38, 32, 36, 39], "Nordkreis 1": [12, 11, 26, 10], "Eifel": [0, 0, 0, 0]}

ACCOUNTS = {
    "koordination": {"role": "coordinator"},
    "ifk.aachen": {"role": "caseworker", "site": "Aachen"},
    "ifk.eifel": {"role": "caseworker", "site": "Eifel"},
    "traeger.caritas": {"role": "provider", "provider": "SB-CARITAS"},
    "traeger.diakonie": {"role": "provider", "provider": "SB-DIAKONIE"},
}


# --- fixtures -------------------------------------------------------------------------------


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at(TODAY, 10))


@pytest.fixture
def app(kel: World, db_url: str, clock: FakeClock) -> FastAPI:
    with kel.session() as s:
        providers = {p.code: p.id for p in s.exec(select(Provider))}
        for username, account in ACCOUNTS.items():
            s.add(
                User(
                    username=username,
                    role=account["role"],
                    site=account.get("site"),
                    provider_id=providers[account["provider"]] if "provider" in account else None,
                    password_hash=password_hash(),
                    created_at=clock.now(),
                )
            )
    app = create_app(
        Settings(database_url=db_url, jwt_secret=JWT_SECRET), clock=clock, trigger=InProcess()
    )
    if not any(
        getattr(r, "path", "") == "/dashboard/faelle/{reference}/berichte/{feedback_id:int}.pdf"
        for r in app.routes
    ):  # until api.dashboard.routes mounts pdf.router
        app.include_router(pdf.router, prefix="/dashboard")
    return app


@pytest.fixture
def browser(app: FastAPI) -> Iterator[Callable[[str], TestClient]]:
    """`browser(username)`: a client logged in through the dashboard's login form."""
    clients: list[TestClient] = []

    def login(username: str) -> TestClient:
        client = FormClient(app)
        clients.append(client)
        answer = sign_in(client, username, PASSWORD, next="/dashboard")
        assert answer.status_code == 303, answer.text
        return client

    yield login
    for client in clients:
        client.close()


def add_referrals(kel: World, counts: dict[str, list[int]], service_type: str = "schulden") -> None:
    """`counts[site][m]` referrals started in month m+1 of 2026 (straight into the database)."""
    with kel.session() as s:
        n = len(s.exec(select(Customer)).all())
        for site, months in counts.items():
            for month, count in enumerate(months, start=1):
                for i in range(count):
                    n += 1
                    customer = Customer(customer_number=f"K{n:06d}", site=site, age_group="25-49")
                    s.add(customer)
                    s.flush()
                    assert customer.id is not None
                    started = date(2026, month, 1 + i % 28)
                    s.add(
                        Referral(
                            reference=f"R-{n:06d}",
                            customer_id=customer.id,
                            service_type=service_type,
                            site=site,
                            caseworker_email="ifk@jobcenter.example",
                            state="voucher_issued",
                            state_since=started,
                            started_on=started,
                            created_at=at(started),
                            updated_at=at(started),
                        )
                    )


@pytest.fixture
def seed_ist(kel: World) -> None:
    """The seed's Ist January-April, plus referrals that must not count."""
    add_referrals(kel, IST)
    add_referrals(kel, {"Aachen": [5]}, service_type="sucht")  # another Leistungsart


def soll_form(site: str, values: list[int], *, new: bool = False, **extra: Any) -> dict[str, Any]:
    form: dict[str, Any] = {"jahr": 2026, "leistungsart": "schulden"}
    form |= {"neuer_standort": site, "standort": ""} if new else {"standort": site}
    form |= {f"soll_{m}": v for m, v in enumerate(values, start=1)}
    return form | extra


@pytest.fixture
def planned(browser: Callable[[str], TestClient], seed_ist: None) -> TestClient:
    """The coordinator has entered the seed's Soll for the three sites through the form."""
    coordinator = browser("koordination")
    for site, values in SOLL.items():
        answer = coordinator.post(
            "/dashboard/eintrittsplanung",
            data=soll_form(site, values, new=site == "Eifel"),  # Eifel has no referrals yet
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"].startswith(
            "/dashboard/eintrittsplanung?jahr=2026&leistungsart=schulden"
        )
    return coordinator


class Tables(HTMLParser):
    """The page's tables by id: rows of cell texts (``th`` and ``td``)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table is not None and self._cell is not None:
            self._table[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def row(self, table: str, first: str) -> list[str]:
        return next(r for r in self.tables[table] if r and r[0] == first)


def tables(answer: Any) -> Tables:
    assert answer.status_code == 200, answer.text
    return Tables(answer.text)


EMPTY_MONTHS = [""] * 8  # May to December: no Ist, no deviation yet


# --- Eintrittsplanung -----------------------------------------------------------------------


def test_the_soll_entered_in_the_form_gives_the_seeds_deviations(planned: TestClient) -> None:
    page = tables(planned.get("/dashboard/eintrittsplanung?jahr=2026&leistungsart=schulden"))

    assert page.row("soll-tabelle", "Aachen") == ["Aachen", *map(str, SOLL["Aachen"]), "415"]
    assert page.row("soll-tabelle", "Summe")[1:5] == ["54", "53", "55", "54"]
    assert page.row("soll-tabelle", "Summe")[-1] == "645"
    assert page.row("ist-tabelle", "Aachen") == [
        "Aachen", "38", "32", "36", "39", *EMPTY_MONTHS, "145", "140",
    ]  # fmt: skip
    assert page.row("ist-tabelle", "Summe") == [
        "Summe", "50", "43", "62", "49", *EMPTY_MONTHS, "204", "216",
    ]  # fmt: skip
    assert page.row("abweichung-tabelle", "Aachen") == [
        "Aachen", "8,6 %", "-8,6 %", "2,9 %", "11,4 %", *EMPTY_MONTHS, "3,6 %", "5",
    ]  # fmt: skip
    assert page.row("abweichung-tabelle", "Nordkreis 1") == [
        "Nordkreis 1", "-33,3 %", "-38,9 %", "30,0 %", "-44,4 %", *EMPTY_MONTHS, "-20,3 %", "-15",
    ]  # fmt: skip
    # Soll 0 in February and March: the deviation is undefined
    assert page.row("abweichung-tabelle", "Eifel") == [
        "Eifel", "-100,0 %", "–", "–", "-100,0 %", *EMPTY_MONTHS, "-100,0 %", "-2",
    ]  # fmt: skip
    # gesamt: (50 − 54) / 54 = −7,4 %; … ; cumulated (204 − 216) / 216 = −5,6 %, absolute −12
    assert page.row("abweichung-tabelle", "gesamt") == [
        "gesamt", "-7,4 %", "-18,9 %", "12,7 %", "-9,3 %", *EMPTY_MONTHS, "-5,6 %", "-12",
    ]  # fmt: skip


def test_the_page_has_the_chart_and_a_labelled_form_for_the_coordinator(
    planned: TestClient,
) -> None:
    html = planned.get("/dashboard/eintrittsplanung?jahr=2026&standort=Aachen").text

    assert 'role="img"' in html and "Soll und Ist je Monat" in html
    assert 'data-reihe="Soll"' in html and 'data-reihe="Ist"' in html
    assert 'aria-current="page">Eintrittsplanung' in html
    for m, month in ((1, "Januar"), (2, "Februar"), (12, "Dezember")):
        assert f'<label for="soll_{m}">{month}' in html
    assert 'name="soll_1" type="number" min="0" max="100000"' in html
    assert (
        'name="soll_9" type="number" min="0" max="100000" step="1" inputmode="numeric" value="40"'
        in html
    )
    assert '<option value="Aachen" selected>' in html
    assert '<label for="neuer_standort">' in html


def test_saving_a_site_again_replaces_its_soll(planned: TestClient, kel: World) -> None:
    changed = [40, *SOLL["Aachen"][1:]]
    answer = planned.post("/dashboard/eintrittsplanung", data=soll_form("Aachen", changed))

    assert answer.status_code == 200  # followed the 303 back to the page
    assert Tables(answer.text).row("abweichung-tabelle", "Aachen")[1] == "-5,0 %"  # (38−40)/40
    with kel.session() as s:
        plans = s.exec(select(IntakePlan).where(IntakePlan.site == "Aachen")).all()
        audits = s.exec(select(AuditEvent).where(AuditEvent.action == "intake_plan_saved")).all()
    assert sorted(p.planned for p in plans if p.month == 1) == [40]
    assert len(plans) == 12 and {p.updated_by for p in plans} == {"koordination"}
    assert len(audits) == 4


def test_a_wrong_soll_is_shown_on_the_page_and_nothing_is_saved(
    browser: Callable[[str], TestClient], kel: World
) -> None:
    coordinator = browser("koordination")
    answer = coordinator.post(
        "/dashboard/eintrittsplanung", data=soll_form("Aachen", [35, -1, 0], soll_3="viele")
    )

    assert answer.status_code == 422
    assert "Bitte prüfen: Februar, März" in answer.text
    assert 'id="soll_2" name="soll_2"' in answer.text and 'aria-invalid="true"' in answer.text
    with kel.session() as s:
        assert s.exec(select(IntakePlan)).all() == []
    missing_site = coordinator.post("/dashboard/eintrittsplanung", data=soll_form("", [1]))
    assert missing_site.status_code == 422 and "Bitte prüfen: Standort" in missing_site.text


def test_a_caseworker_sees_only_their_site_and_cannot_change_the_soll(
    planned: TestClient, browser: Callable[[str], TestClient]
) -> None:
    caseworker = browser("ifk.aachen")
    page = tables(caseworker.get("/dashboard/eintrittsplanung?jahr=2026"))

    assert [r[0] for r in page.tables["abweichung-tabelle"][1:]] == ["Aachen", "gesamt"]
    assert page.row("abweichung-tabelle", "gesamt")[1] == "8,6 %"
    assert 'id="soll-eingabe"' not in caseworker.get("/dashboard/eintrittsplanung").text
    refused = caseworker.post("/dashboard/eintrittsplanung", data=soll_form("Aachen", [99]))
    assert refused.status_code == 403


def test_a_provider_gets_the_403_page(
    planned: TestClient, browser: Callable[[str], TestClient]
) -> None:
    provider = browser("traeger.caritas")

    answer = provider.get("/dashboard/eintrittsplanung?jahr=2026")
    assert answer.status_code == 403
    assert "Keine Berechtigung" in answer.text and "Aachen" not in answer.text
    assert provider.get("/dashboard/eintrittsplanung?format=csv").status_code == 403
    posted = provider.post("/dashboard/eintrittsplanung", data=soll_form("Aachen", [1]))
    assert posted.status_code == 403


def test_without_login_the_page_redirects_to_the_login(app: FastAPI) -> None:
    with TestClient(app) as anonymous:
        answer = anonymous.get("/dashboard/eintrittsplanung", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/dashboard/anmelden")


def test_the_csv_holds_all_three_tables(planned: TestClient) -> None:
    answer = planned.get("/dashboard/eintrittsplanung?jahr=2026&leistungsart=schulden&format=csv")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Tabelle", "Standort", "Januar"] and len(header) == 18
    by = {(r[0], r[1]): r for r in body}
    assert {t for t, _ in by} == {"Soll", "Ist", "Abweichung %"}
    assert by["Soll", "Aachen"][2:15] == [*map(str, SOLL["Aachen"]), "415"]
    assert by["Ist", "Aachen"][2:7] == ["38", "32", "36", "39", ""]
    assert by["Ist", "Aachen"][14:16] == ["145", "140"]
    assert by["Abweichung %", "Aachen"][2:6] == ["8,6", "-8,6", "2,9", "11,4"]
    assert by["Abweichung %", "Aachen"][16:] == ["3,6", "5"]
    assert by["Abweichung %", "Eifel"][3] == "–"
    assert by["Abweichung %", "gesamt"][16:] == ["-5,6", "-12"]


def test_a_future_year_has_soll_but_no_ist(planned: TestClient) -> None:
    planned.post("/dashboard/eintrittsplanung", data=soll_form("Aachen", [10] * 12, jahr=2027))
    page = tables(planned.get("/dashboard/eintrittsplanung?jahr=2027"))

    assert page.row("soll-tabelle", "Aachen")[-1] == "120"
    assert page.row("ist-tabelle", "Aachen")[1:13] == [""] * 12
    assert page.row("abweichung-tabelle", "Aachen")[1:] == [""] * 14


def test_the_seeds_whole_table_gives_its_total_row() -> None:
    """All eight sites of "Na Schulen 2015": gesamt 16,5 %, −13,1 %, 40,7 %, 4,7 %;
    kumuliert 12,4 %, absolut 42 (JobOffensive: Soll 0, so "–" where the seed says 100 %)."""
    soll = {
        "Aachen": SOLL["Aachen"],
        "Nordkreis 1": SOLL["Nordkreis 1"],
        "Nordkreis 2": [10] * 12,
        "Eschweiler": [10] * 12,
        "50+": [1] * 12,
        "Stolberg": [10, 10, 10, 10, 10, 10, 5, 5, 10, 10, 10, 10],
        "JobOffensive": [0] * 12,
        "Eifel": SOLL["Eifel"],
    }
    ist = {
        **IST,
        "Nordkreis 2": [21, 13, 19, 13],
        "Eschweiler": [17, 4, 19, 12],
        "50+": [4, 5, 6, 6],
        "Stolberg": [5, 5, 11, 7],
        "JobOffensive": [2, 3, 4, 2],
    }
    planning = build_planning(
        2015,
        "schulden",
        {(s, m + 1): v for s, values in soll.items() for m, v in enumerate(values)},
        {(s, m + 1): v for s, values in ist.items() for m, v in enumerate(values)},
        upto=4,
    )
    total = planning.total

    assert total.soll_sum == 1007 and total.ist_sum == 382 and total.soll_to_date == 340
    assert [round(v, 1) for v in total.deviations[:4] if v is not None] == [16.5, -13.1, 40.7, 4.7]
    assert total.cumulated is not None and round(total.cumulated, 1) == 12.4
    assert total.absolute == 42
    job_offensive = next(r for r in planning.rows if r.site == "JobOffensive")
    assert job_offensive.deviations[:4] == [None] * 4 and job_offensive.absolute == 11


# --- report PDF -----------------------------------------------------------------------------

CONTENT = {
    "ausgangssituation": "Zwölf Gläubiger, Kontopfändung",
    "ziele": "Schuldenbereinigungsplan erstellen",
    "ergebnis": "Pfändungsschutzkonto eingerichtet",
    "weitere_massnahmen": "Vergleich bis 30.9. anbieten",
    "mitwirkung": "Unterlagen vollständig „pünktlich“ gebracht",
}
SECTION_TITLES = [
    "1. Persönliche Daten des Ratsuchenden",
    "2. Ausgangssituation",
    "3. Ziele der Beratung/Leistungsmodule",
    "4. (Zwischen-)Ergebnis",
    "5. Weitere Maßnahmen/Zeitraum/Ausblick",
    "6. Sonstiges",
]


def pdf_text(body: bytes) -> str:
    """The text of every page (pypdf: the embedded Unicode font maps glyphs back to
    text), whitespace collapsed so that wrapped lines read as one."""
    reader = PdfReader(io.BytesIO(body))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def in_pdf(body: bytes, text: str) -> bool:
    """Whether `text` is printed in the PDF."""
    return " ".join(text.split()) in pdf_text(body)


@pytest.fixture
def uncompressed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "COMPRESS", False)


@pytest.fixture
def report(kel: World, uncompressed: None) -> dict[str, int]:
    """AC-PDF-1 (Aachen, SB-CARITAS, no consent) with a Zwischen- and an Abschlussbericht."""
    with kel.session() as s:
        caritas = s.exec(select(Provider).where(Provider.code == "SB-CARITAS")).one()
        customer = Customer(customer_number="K-PDF-1", site="Aachen", age_group="25-49")
        s.add(customer)
        s.flush()
        assert customer.id is not None
        referral = Referral(
            reference="AC-PDF-1",
            customer_id=customer.id,
            service_type="schulden",
            provider_id=caritas.id,
            site="Aachen",
            caseworker_email="ifk.aachen@jobcenter.example",
            state="in_counselling",
            state_since=date(2026, 3, 10),
            started_on=date(2026, 3, 2),
            created_at=at(date(2026, 3, 2)),
            updated_at=at(date(2026, 3, 2)),
        )
        s.add(referral)
        s.flush()
        assert referral.id is not None
        s.add(
            Voucher(
                number="GS-2026-00042",
                referral_id=referral.id,
                provider_id=caritas.id,
                issued_on=date(2026, 3, 2),
            )
        )
        made = {}
        for kind, on in (
            ("first_feedback", date(2026, 3, 12)),
            ("interim_report", date(2026, 4, 13)),
            ("final_report", date(2026, 4, 29)),
        ):
            feedback = Feedback(
                referral_id=referral.id,
                provider_id=caritas.id,
                kind=kind,
                received_on=on,
                appointment_kept=True,
                counselling_ongoing=kind != "final_report",
                ended=kind == "final_report",
                need_group=2,
                modules=[{"code": 1, "hours": 1.5}, {"code": 3, "hours": 4}],
                content=CONTENT,
            )
            s.add(feedback)
            s.flush()
            assert feedback.id is not None
            made[kind] = feedback.id
        made["referral"] = referral.id
    return made


def pdf_url(feedback_id: int, reference: str = "AC-PDF-1") -> str:
    return f"/dashboard/faelle/{reference}/berichte/{feedback_id}.pdf"


def content_reads(kel: World) -> list[AuditEvent]:
    with kel.session() as s:
        return list(
            s.exec(select(AuditEvent).where(AuditEvent.action == "feedback_content_read")).all()
        )


def test_without_consent_the_pdf_has_the_form_but_no_content(
    report: dict[str, int], browser: Callable[[str], TestClient], kel: World
) -> None:
    answer = browser("koordination").get(pdf_url(report["interim_report"]))

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    body = answer.content
    assert body.startswith(b"%PDF")
    assert in_pdf(body, "Zwischenbericht") and not in_pdf(body, "Abschlussbericht")
    for title in SECTION_TITLES:
        assert in_pdf(body, title), title
    for label in ("GS-2026-00042", "AC-PDF-1", "Träger SB-CARITAS", "Schuldnerberatung"):
        assert in_pdf(body, label), label
    assert pdf_text(body).count(pdf.WITHHELD) == 5  # sections 2 to 6
    for text in (
        "Zwölf",
        "Schuldenbereinigungsplan",
        "Pfändungsschutzkonto",
        "Vergleich",
        "Unterlagen",
    ):
        assert not in_pdf(body, text)
    assert not in_pdf(body, "Basisberatung")  # booked modules are content, too
    assert content_reads(kel) == []


def test_with_consent_the_pdf_shows_the_content_and_the_read_is_audited(
    report: dict[str, int], browser: Callable[[str], TestClient], kel: World
) -> None:
    kel.add(Consent(referral_id=report["referral"], form="written", granted_on=date(2026, 3, 2)))

    body = browser("ifk.aachen").get(pdf_url(report["interim_report"])).content

    assert in_pdf(body, "Zwölf Gläubiger, Kontopfändung")
    assert in_pdf(body, "Pfändungsschutzkonto eingerichtet")
    assert in_pdf(body, "Unterlagen vollständig „pünktlich“ gebracht")  # Unicode font
    assert in_pdf(body, "Hilfebedarfsgruppe: 2")
    assert in_pdf(body, "- Modul 1 Basisberatung: 1,5 Std.")
    assert not in_pdf(body, "Inhalt nicht freigegeben")
    (read,) = content_reads(kel)
    assert (read.actor, read.referral_id) == ("ifk.aachen", report["referral"])
    assert read.detail["format"] == "pdf" and read.detail["feedback_id"] == report["interim_report"]


def test_the_provider_who_wrote_the_report_sees_its_content(
    report: dict[str, int], browser: Callable[[str], TestClient]
) -> None:
    body = browser("traeger.caritas").get(pdf_url(report["final_report"])).content

    assert in_pdf(body, "Abschlussbericht")
    assert in_pdf(body, "Schuldenbereinigungsplan erstellen")


def test_a_report_outside_the_users_view_is_not_found(
    report: dict[str, int], browser: Callable[[str], TestClient]
) -> None:
    assert browser("traeger.diakonie").get(pdf_url(report["interim_report"])).status_code == 404
    assert browser("ifk.eifel").get(pdf_url(report["interim_report"])).status_code == 404
    coordinator = browser("koordination")
    assert coordinator.get(pdf_url(report["first_feedback"])).status_code == 404  # no report
    assert coordinator.get(pdf_url(report["interim_report"], "AC-OTHER")).status_code == 404
    assert coordinator.get(pdf_url(999_999)).status_code == 404


# --- data scope of the PDF and audited reads ------------------------------------------------


def reroute_to_diakonie(kel: World, referral_id: int) -> int:
    """The case moves to SB-DIAKONIE (a new voucher); returns Diakonie's provider id."""
    with kel.session() as s:
        diakonie = s.exec(select(Provider).where(Provider.code == "SB-DIAKONIE")).one()
        referral = s.get(Referral, referral_id)
        assert referral is not None and diakonie.id is not None
        referral.provider_id = diakonie.id
        s.add(referral)
        s.add(
            Voucher(
                number="GS-2026-00043",
                referral_id=referral_id,
                provider_id=diakonie.id,
                issued_on=date(2026, 4, 20),
            )
        )
        return diakonie.id


def test_after_a_reroute_the_new_provider_gets_the_earlier_providers_report_without_content(
    report: dict[str, int], browser: Callable[[str], TestClient], kel: World
) -> None:
    reroute_to_diakonie(kel, report["referral"])

    answer = browser("traeger.diakonie").get(pdf_url(report["interim_report"]))

    assert answer.status_code == 200
    assert pdf_text(answer.content).count(pdf.WITHHELD) == 5
    assert not in_pdf(answer.content, "Zwölf Gläubiger, Kontopfändung")
    assert not in_pdf(answer.content, "Hilfebedarfsgruppe: 2")
    assert content_reads(kel) == []


def test_a_consent_naming_the_new_provider_releases_the_pdf_to_it(
    report: dict[str, int], browser: Callable[[str], TestClient], kel: World
) -> None:
    diakonie = reroute_to_diakonie(kel, report["referral"])
    kel.add(
        Consent(
            referral_id=report["referral"],
            provider_id=diakonie,
            form="written",
            granted_on=date(2026, 4, 20),
        )
    )

    body = browser("traeger.diakonie").get(pdf_url(report["interim_report"])).content

    assert in_pdf(body, "Zwölf Gläubiger, Kontopfändung")
    assert in_pdf(body, "Hilfebedarfsgruppe: 2")
    assert [r.actor for r in content_reads(kel)] == ["traeger.diakonie"]


def test_a_consent_naming_the_earlier_provider_does_not_release_the_pdf_to_the_new_one(
    report: dict[str, int], browser: Callable[[str], TestClient], kel: World
) -> None:
    with kel.session() as s:
        caritas = s.exec(select(Provider).where(Provider.code == "SB-CARITAS")).one()
    kel.add(
        Consent(
            referral_id=report["referral"],
            provider_id=caritas.id,
            form="written",
            granted_on=date(2026, 3, 2),
        )
    )
    reroute_to_diakonie(kel, report["referral"])

    diakonie_body = browser("traeger.diakonie").get(pdf_url(report["interim_report"])).content
    caseworker_body = browser("ifk.aachen").get(pdf_url(report["interim_report"])).content

    assert not in_pdf(diakonie_body, "Zwölf Gläubiger, Kontopfändung")
    assert in_pdf(caseworker_body, "Zwölf Gläubiger, Kontopfändung")  # Caritas wrote it


def report_reads(kel: World) -> list[AuditEvent]:
    with kel.session() as s:
        query = select(AuditEvent).where(AuditEvent.action == "report_read")
        return list(s.exec(query).all())


def test_every_pdf_download_is_audited_as_a_report_read(
    report: dict[str, int], browser: Callable[[str], TestClient], kel: World
) -> None:
    browser("koordination").get(pdf_url(report["interim_report"]))  # content withheld

    (read,) = report_reads(kel)
    assert (read.actor, read.role, read.referral_id) == (
        "koordination",
        "coordinator",
        report["referral"],
    )
    assert read.detail == {
        "report": "bericht_pdf",
        "parameters": {"reference": "AC-PDF-1", "feedback_id": report["interim_report"]},
        "format": "pdf",
    }
    assert content_reads(kel) == []


def test_a_pdf_outside_the_view_is_not_audited_as_a_report_read(
    report: dict[str, int], browser: Callable[[str], TestClient], kel: World
) -> None:
    assert browser("ifk.eifel").get(pdf_url(report["interim_report"])).status_code == 404

    assert report_reads(kel) == []


@pytest.mark.parametrize("format", ["html", "csv"])
def test_every_eintrittsplanung_read_is_audited(
    seed_ist: None, browser: Callable[[str], TestClient], kel: World, format: str
) -> None:
    url = f"/dashboard/eintrittsplanung?jahr=2026&leistungsart=schulden&format={format}"

    assert browser("ifk.aachen").get(url).status_code == 200

    (read,) = report_reads(kel)
    assert (read.actor, read.role, read.referral_id) == ("ifk.aachen", "caseworker", None)
    assert read.detail == {
        "report": "eintrittsplanung",
        "parameters": {"jahr": 2026, "leistungsart": "schulden", "standort": ""},
        "format": format,
    }
