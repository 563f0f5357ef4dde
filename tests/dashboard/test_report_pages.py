"""Report pages of the dashboard: Träger, Kennzahlen (Bericht 01), Halbjahresbericht.

One seeded database for the module (the pages only read), the clock on 15 July 2026.

Caritas (capacity 10, site Aachen; one case in Eschweiler):
  R1 voucher 05.01., first appointment 10.01. (5 days), HBG 2, 1,5 + 3 + 2,5 hours
  R2 voucher 01.02., first appointment 13.02. (12 days), closed 31.05., HBG 2, 4 + 6 hours
  R3 voucher 01.03., first appointment 10.04. (40 days), HBG 3 (4 since July), 2 hours
     in the first half-year (10 more in July)
  R8 voucher 01.05., first appointment 08.05. (7 days), closed 20.06., HBG 3, 3 + 5 hours
  R4, R5 vouchers issued in July (R5 in Eschweiler): 2 new referrals this month
  -> waits 5, 7, 12, 40: median 9,5, 90th percentile 40 (rank ceil(3.6) = 4)
  -> feedback deadlines due before today: 4, on time 2 (one met on its due day, one met
     late, one still open); one cancelled before its due date and one not yet due do
     not count -> 50 %
  -> half-year 1/2026: HBG 2: 2 cases, 1 closed, 17 hours, 8,5 per case;
     HBG 3: 2 cases, 1 closed, 10 hours, 5,0 per case
Diakonie (capacity 4, site Eschweiler):
  R6 voucher 10.01., first appointment 30.01. (20 days), HBG 1, 2,5 hours; feedback on time
  R7 voucher issued 01.07.
"""

from __future__ import annotations

import csv
import functools
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from models.clock import FakeClock
from models.db import engine
from models.figures.half_year import catalog_titles
from models.figures.periods import half_year, month_ends, report_due
from models.kennzahlen import CaseFacts, cases_by_state
from models.process import load_registry
from models.settings import Settings
from models.tables import (
    AuditEvent,
    Customer,
    Deadline,
    Escalation,
    Feedback,
    Provider,
    Referral,
    User,
    Voucher,
)
from tests.conftest import ModuleDb
from tests.dashboard.forms import sign_in
from tests.factories import at

JWT_SECRET = "5b8e1d4a7c0f3b6e9d2a5c8f1b4e7a0d3c6f9b2e5a8d1c4f7b0e3a6d9c2f5b8e"
PASSWORD = "Bericht-2026!"
TODAY = date(2026, 7, 15)
CREATED = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)

CARITAS, DIAKONIE = 1, 2
ACCOUNTS: dict[str, dict[str, Any]] = {
    "koordination": {"role": "coordinator"},
    "traeger.caritas": {"role": "provider", "provider_id": CARITAS},
    "ifk.eschweiler": {"role": "caseworker", "site": "Eschweiler"},
}


# --- seed -----------------------------------------------------------------------------------


def _referral(rid: int, provider_id: int, started: date, **kw: Any) -> Referral:
    values: dict[str, Any] = {
        "id": rid,
        "reference": f"REF-{rid}",
        "customer_id": rid,
        "provider_id": provider_id,
        "service_type": "schulden",
        "site": "Aachen",
        "caseworker_email": "ifk@jobcenter.example",
        "state": "voucher_issued",
        "state_since": started,
        "started_on": started,
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    values.update(kw)
    return Referral(**values)


def _voucher(rid: int, provider_id: int, issued: date, status: str = "redeemed") -> Voucher:
    return Voucher(
        number=f"GS-{rid}-{issued:%m%d}",
        referral_id=rid,
        provider_id=provider_id,
        issued_on=issued,
        status=status,
    )


def _deadline(
    did: int, rid: int, kind: str, due: date, state: str = "open", done: date | None = None
) -> Deadline:
    return Deadline(
        id=did,
        referral_id=rid,
        kind=kind,
        title=kind,
        period="P14D",
        started_on=date(2026, 1, 1),
        due_on=due,
        state=state,
        completed_on=done,
    )


def _feedback(rid: int, on: date, hours: list[float], need_group: int | None = None) -> Feedback:
    return Feedback(
        referral_id=rid,
        provider_id=DIAKONIE if rid in (6, 7) else CARITAS,  # the author: the case's provider
        kind="interim_report",
        received_on=on,
        need_group=need_group,
        modules=[{"code": i + 1, "hours": h} for i, h in enumerate(hours)],
    )


def seed(session: Session) -> None:
    session.add_all(
        [
            Provider(
                id=CARITAS,
                code="SB-CARITAS",
                name="Caritas",
                email="car@traeger.example",
                service_types=["schulden"],
                monthly_capacity=10,
            ),
            Provider(
                id=DIAKONIE,
                code="SB-DIAKONIE",
                name="Diakonie",
                email="dia@traeger.example",
                service_types=["schulden"],
                monthly_capacity=4,
            ),
            *(
                Customer(id=i, customer_number=f"K{i}", site="Aachen", age_group="25-49")
                for i in range(1, 9)
            ),
        ]
    )
    session.flush()
    d = date
    session.add_all(
        [
            _referral(
                1,
                CARITAS,
                d(2026, 1, 5),
                state="in_counselling",
                state_since=d(2026, 1, 10),
                first_appointment_on=d(2026, 1, 10),
                need_group=2,
            ),
            _referral(
                2,
                CARITAS,
                d(2026, 2, 1),
                state="closed",
                state_since=d(2026, 5, 31),
                first_appointment_on=d(2026, 2, 13),
                closed_on=d(2026, 5, 31),
                need_group=2,
            ),
            _referral(
                3,
                CARITAS,
                d(2026, 3, 1),
                state="in_counselling",
                state_since=d(2026, 4, 10),
                first_appointment_on=d(2026, 4, 10),
                need_group=4,  # reclassified in July, after the Stichtag
            ),
            _referral(4, CARITAS, d(2026, 7, 2)),
            _referral(5, CARITAS, d(2026, 7, 10), site="Eschweiler"),
            _referral(
                6,
                DIAKONIE,
                d(2026, 1, 10),
                site="Eschweiler",
                state="in_counselling",
                state_since=d(2026, 1, 30),
                first_appointment_on=d(2026, 1, 30),
                need_group=1,
            ),
            _referral(7, DIAKONIE, d(2026, 7, 1), site="Eschweiler"),
            _referral(
                8,
                CARITAS,
                d(2026, 5, 1),
                state="closed",
                state_since=d(2026, 6, 20),
                first_appointment_on=d(2026, 5, 8),
                closed_on=d(2026, 6, 20),
                need_group=3,
            ),
        ]
    )
    session.flush()
    session.add_all(
        [
            _voucher(1, CARITAS, d(2026, 1, 5)),
            _voucher(2, CARITAS, d(2026, 2, 1)),
            _voucher(3, CARITAS, d(2026, 3, 1)),
            _voucher(4, CARITAS, d(2026, 7, 2), "issued"),
            _voucher(5, CARITAS, d(2026, 7, 10), "issued"),
            _voucher(6, DIAKONIE, d(2026, 1, 10)),
            _voucher(7, DIAKONIE, d(2026, 7, 1), "issued"),
            _voucher(8, CARITAS, d(2026, 5, 1)),
            # Caritas
            _deadline(1, 1, "first_feedback", d(2026, 1, 19), "met", d(2026, 1, 15)),
            _deadline(2, 1, "interim_report", d(2026, 2, 21), "met", d(2026, 2, 25)),
            _deadline(3, 2, "first_feedback", d(2026, 2, 15), "met", d(2026, 2, 15)),
            _deadline(4, 2, "result_report", d(2026, 8, 14)),  # not yet due
            _deadline(5, 3, "first_feedback", d(2026, 3, 16)),  # overdue, open
            _deadline(6, 4, "first_appointment", d(2026, 7, 16)),  # not a feedback
            _deadline(7, 8, "first_feedback", d(2026, 5, 15), "cancelled", d(2026, 5, 10)),
            # Diakonie
            _deadline(8, 6, "first_feedback", d(2026, 2, 13), "met", d(2026, 2, 10)),
        ]
    )
    session.flush()
    session.add_all(
        [
            Escalation(
                referral_id=3, deadline_id=5, reason="Frist", created_at=CREATED, state="open"
            ),
            Escalation(
                referral_id=1, deadline_id=2, reason="Frist", created_at=CREATED, state="resolved"
            ),
            _feedback(1, d(2026, 1, 15), [1.5], need_group=2),
            _feedback(1, d(2026, 2, 25), [3, 2.5]),
            _feedback(2, d(2026, 2, 15), [4], need_group=2),
            _feedback(2, d(2026, 5, 30), [6]),
            _feedback(3, d(2026, 4, 20), [2], need_group=3),
            _feedback(3, d(2026, 7, 5), [10], need_group=4),  # second half-year
            _feedback(8, d(2026, 5, 12), [3, 5], need_group=3),
            _feedback(6, d(2026, 2, 10), [2.5], need_group=1),
        ]
    )
    for username, account in ACCOUNTS.items():
        session.add(
            User(
                username=username,
                role=account["role"],
                site=account.get("site"),
                provider_id=account.get("provider_id"),
                password_hash=password_hash(),
                created_at=CREATED,
            )
        )
    session.commit()


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture(scope="module")
def db_url(module_db: ModuleDb) -> str:
    """One seeded database per backend, shared by the module's tests (they only read)."""
    with Session(engine(module_db.url)) as session:
        seed(session)
    return module_db.url


@pytest.fixture(scope="module")
def client_for(db_url: str) -> Iterator[Callable[[str], TestClient]]:
    """`client_for(username)`: a client logged in through the dashboard's login form."""
    app = create_app(
        Settings(database_url=db_url, jwt_secret=JWT_SECRET),
        clock=FakeClock(at(TODAY)),
        trigger=InProcess(),
    )
    clients: dict[str, TestClient] = {}

    def make(username: str) -> TestClient:
        if username not in clients:
            client = TestClient(app)
            answer = sign_in(client, username, PASSWORD, next="/dashboard")
            assert answer.status_code == 303, answer.text
            clients[username] = client
        return clients[username]

    yield make
    for client in clients.values():
        client.close()


# --- helpers --------------------------------------------------------------------------------


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))


def svgs(html: str) -> list[ET.Element]:
    """Every inline SVG of the page, parsed (so it is well-formed XML)."""
    found = []
    rest = html
    while "<svg" in rest:
        start = rest.index("<svg")
        end = rest.index("</svg>", start) + len("</svg>")
        found.append(ET.fromstring(rest[start:end]))
        rest = rest[end:]
    return found


def by_provider(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["Träger"]: row for row in rows}


# --- Träger ---------------------------------------------------------------------------------


def test_the_providers_page_needs_a_login(db_url: str) -> None:
    app = create_app(Settings(database_url=db_url, jwt_secret=JWT_SECRET), trigger=InProcess())
    with TestClient(app) as anonymous:
        answer = anonymous.get("/dashboard/traeger", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/dashboard/anmelden")


def test_providers_csv_gives_load_waiting_time_punctuality_and_escalations(
    client_for: Callable[[str], TestClient],
) -> None:
    answer = client_for("koordination").get("/dashboard/traeger?format=csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = by_provider(read_csv(answer.content))
    assert list(rows) == ["Caritas", "Diakonie", "Alle Träger"]
    caritas = rows["Caritas"]
    assert caritas["Kapazität je Monat"] == "10"
    assert caritas["Neue Zuweisungen im Monat"] == "2"
    assert caritas["Auslastung"] == "20,0 %"
    assert caritas["In Beratung"] == "2"
    assert caritas["Erstgespräche im Zeitraum"] == "4"
    assert caritas["Tage Gutschein bis Erstgespräch Median"] == "9,5"
    assert caritas["Tage Gutschein bis Erstgespräch 90. Perzentil"] == "40,0"
    assert (caritas["Rückmeldefristen fällig"], caritas["davon pünktlich"]) == ("4", "2")
    assert caritas["Pünktlichkeit"] == "50,0 %"
    assert caritas["Offene Eskalationen"] == "1"
    diakonie = rows["Diakonie"]
    assert (diakonie["Neue Zuweisungen im Monat"], diakonie["Auslastung"]) == ("1", "25,0 %")
    assert diakonie["Tage Gutschein bis Erstgespräch Median"] == "20,0"
    assert diakonie["Pünktlichkeit"] == "100,0 %"
    assert diakonie["Offene Eskalationen"] == "0"
    total = rows["Alle Träger"]
    assert total["Tage Gutschein bis Erstgespräch Median"] == "12,0"  # 5, 7, 12, 20, 40
    assert total["Pünktlichkeit"] == "60,0 %"  # 3 of 5


def test_providers_page_shows_the_table_and_the_waiting_time_histogram(
    client_for: Callable[[str], TestClient],
) -> None:
    answer = client_for("koordination").get("/dashboard/traeger")
    assert answer.status_code == 200
    html = answer.text
    assert 'aria-current="page">Träger</a>' in html
    assert '<tr data-traeger="Caritas">' in html and '<tr data-traeger="Diakonie">' in html
    [chart] = svgs(html)
    assert chart.get("role") == "img"
    title = chart.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and (title.text or "").startswith("Wartezeit Gutschein bis")
    heights = [
        float(rect.get("height", "0"))
        for rect in chart.iter("{http://www.w3.org/2000/svg}rect")
        if rect.get("data-wert") is not None
    ]
    values = [
        float(rect.get("data-wert", "0"))
        for rect in chart.iter("{http://www.w3.org/2000/svg}rect")
        if rect.get("data-wert") is not None
    ]
    # 5, 7 | 12 | 20 | 40: bins 0–7, 8–14, 15–21, 22–42, then three empty ones
    assert values == [2, 1, 1, 1, 0, 0, 0]
    assert heights[0] == pytest.approx(2 * heights[1])
    assert '<th scope="row">0–7</th><td class="zahl">2</td>' in html


def test_a_provider_sees_only_its_own_row(client_for: Callable[[str], TestClient]) -> None:
    client = client_for("traeger.caritas")
    rows = read_csv(client.get("/dashboard/traeger?format=csv").content)
    assert [row["Träger"] for row in rows] == ["Caritas"]
    html = client.get("/dashboard/traeger").text
    assert "Diakonie" not in html
    [chart] = svgs(html)
    values = [
        float(r.get("data-wert", "0"))
        for r in chart.iter("{http://www.w3.org/2000/svg}rect")
        if r.get("data-wert") is not None
    ]
    assert values == [2, 1, 0, 1, 0, 0, 0]  # without Diakonie's 20 days


def test_a_caseworker_sees_the_cases_of_their_site(
    client_for: Callable[[str], TestClient],
) -> None:
    rows = by_provider(
        read_csv(client_for("ifk.eschweiler").get("/dashboard/traeger?format=csv").content)
    )
    assert list(rows) == ["Caritas", "Diakonie", "Alle Träger"]
    assert rows["Caritas"]["Neue Zuweisungen im Monat"] == "1"  # R5 only
    assert rows["Caritas"]["Erstgespräche im Zeitraum"] == "0"
    assert rows["Diakonie"]["Erstgespräche im Zeitraum"] == "1"


def test_the_period_limits_waiting_times_and_deadlines(
    client_for: Callable[[str], TestClient],
) -> None:
    answer = client_for("koordination").get(
        "/dashboard/traeger?von=2026-03-01&bis=2026-06-30&format=csv"
    )
    caritas = by_provider(read_csv(answer.content))["Caritas"]
    assert caritas["Erstgespräche im Zeitraum"] == "2"  # 10.04. (40 days), 08.05. (7 days)
    assert caritas["Tage Gutschein bis Erstgespräch Median"] == "23,5"
    assert (caritas["Rückmeldefristen fällig"], caritas["davon pünktlich"]) == ("1", "0")


def test_a_reversed_period_is_refused_with_a_message(
    client_for: Callable[[str], TestClient],
) -> None:
    answer = client_for("koordination").get("/dashboard/traeger?von=2026-05-01&bis=2026-04-01")
    assert answer.status_code == 400
    assert 'role="alert"' in answer.text and "vor seinem Beginn" in answer.text


# --- Kennzahlen -----------------------------------------------------------------------------


def test_kennzahlen_default_to_this_year_and_show_table_and_chart(
    client_for: Callable[[str], TestClient],
) -> None:
    answer = client_for("koordination").get("/dashboard/kennzahlen")
    assert answer.status_code == 200
    html = answer.text
    assert "Kennzahlen je Träger, 01.01.2026 – 15.07.2026, alle Standorte" in html
    for header in ("Gutscheine ausgegeben", "davon eingelöst", "Tage bis Erstgespräch Median"):
        assert f">{header}</th>" in html
    assert '<option value="Eschweiler">Eschweiler</option>' in html
    [chart] = svgs(html)
    assert chart.get("role") == "img"
    assert "Fälle nach Zustand im Zeitverlauf" in (
        chart.findtext("{http://www.w3.org/2000/svg}title") or ""
    )
    desc = chart.findtext("{http://www.w3.org/2000/svg}desc") or ""
    # June: R1, R3, R6 in counselling at the month's end; R2 closed 31.05., R8 20.06.
    assert "in Beratung: " in desc and "Jun 2026 3 Fälle" in desc


def test_kennzahlen_csv_for_a_period_and_a_site(
    client_for: Callable[[str], TestClient],
) -> None:
    client = client_for("koordination")
    rows = by_provider(
        read_csv(
            client.get("/dashboard/kennzahlen?von=2026-01-01&bis=2026-07-15&format=csv").content
        )
    )
    assert list(rows) == ["Caritas", "Diakonie", "Gesamt"]
    caritas = rows["Caritas"]
    assert caritas["Gutscheine ausgegeben"] == "6"
    assert caritas["davon eingelöst"] == "4"
    assert caritas["davon Beratung noch nicht eingeleitet"] == "2"
    assert caritas["Kunden in Beratung"] == "2"
    assert caritas["Tage bis Erstgespräch Median"] == "9,5"
    assert caritas["Tage bis Erstgespräch 90. Perzentil"] == "40,0"
    assert rows["Gesamt"]["> 90 Tage: In Beratung"] == "3"  # R1 10.01., R6 30.01., R3 10.04.

    eschweiler = by_provider(
        read_csv(client.get("/dashboard/kennzahlen?standort=Eschweiler&format=csv").content)
    )
    assert eschweiler["Caritas"]["Gutscheine ausgegeben"] == "1"
    assert eschweiler["Diakonie"]["Gutscheine ausgegeben"] == "2"


def test_kennzahlen_for_a_provider_show_its_own_row_only(
    client_for: Callable[[str], TestClient],
) -> None:
    client = client_for("traeger.caritas")
    rows = read_csv(client.get("/dashboard/kennzahlen?format=csv").content)
    assert [row["Träger"] for row in rows] == ["Caritas", "Gesamt"]
    assert "Diakonie" not in client.get("/dashboard/kennzahlen").text


def test_cases_by_state_counts_stocks_at_month_end_and_closures_in_the_month() -> None:
    def fact(started: date, first: date | None = None, closed: date | None = None) -> CaseFacts:
        return CaseFacts(
            1, "X", "schulden", "Aachen", "u25", "s", started, started, first, closed, None
        )

    cases = [
        fact(date(2026, 1, 5)),  # waiting throughout
        fact(date(2026, 1, 20), date(2026, 2, 3)),  # counselling from February
        fact(date(2026, 1, 25), None, date(2026, 2, 10)),  # voucher expired in February
        fact(date(2026, 1, 2), date(2026, 1, 9), date(2026, 3, 1)),  # closed in March
    ]
    series = cases_by_state(cases, month_ends(date(2026, 1, 1), date(2026, 3, 15)))
    assert series == {
        "vor Beratung (Gutschein/Termin)": [3, 1, 1],
        "in Beratung": [1, 2, 1],
        "abgeschlossen im Monat": [0, 1, 1],
    }


# --- Halbjahresbericht ----------------------------------------------------------------------


def test_half_year_report_per_provider_and_need_group(
    client_for: Callable[[str], TestClient],
) -> None:
    client = client_for("koordination")
    rows = read_csv(
        client.get("/dashboard/halbjahresbericht?jahr=2026&halbjahr=1&format=csv").content
    )
    table = {(r["Träger"], r["Hilfebedarfsgruppe"]): r for r in rows}
    hbg2 = table["Caritas", "Hilfebedarfsgruppe 2"]
    assert (hbg2["Bearbeitete Fälle"], hbg2["Abgeschlossene Fälle"]) == ("2", "1")
    assert (hbg2["Geleistete Stunden"], hbg2["Ø Stunden je Fall"]) == ("17,0", "8,5")
    hbg3 = table["Caritas", "Hilfebedarfsgruppe 3"]  # R3 counts as HBG 3 until 30.6.
    assert (hbg3["Bearbeitete Fälle"], hbg3["Abgeschlossene Fälle"]) == ("2", "1")
    assert (hbg3["Geleistete Stunden"], hbg3["Ø Stunden je Fall"]) == ("10,0", "5,0")
    assert ("Caritas", "Hilfebedarfsgruppe 4") not in table
    caritas = table["Caritas", "alle Hilfebedarfsgruppen"]
    assert (caritas["Bearbeitete Fälle"], caritas["Abgeschlossene Fälle"]) == ("4", "2")
    assert caritas["Geleistete Stunden"] == "27,0"
    diakonie = table["Diakonie", "Hilfebedarfsgruppe 1"]
    assert (diakonie["Bearbeitete Fälle"], diakonie["Ø Stunden je Fall"]) == ("1", "2,5")
    assert hbg2["Leistungsart"] == "Schuldnerberatung"


def test_half_year_page_names_stichtag_and_due_date(
    client_for: Callable[[str], TestClient],
) -> None:
    html = client_for("koordination").get("/dashboard/halbjahresbericht?jahr=2026&halbjahr=1").text
    assert "<dt>Stichtag</dt><dd>30.06.2026</dd>" in html
    assert "<dt>Bericht fällig bis</dt><dd>31.07.2026" in html
    assert "Vorläufig" not in html
    assert '<tbody data-traeger="Caritas">' in html

    second = client_for("koordination").get("/dashboard/halbjahresbericht").text
    assert "<dt>Stichtag</dt><dd>31.12.2026</dd>" in second  # default: the running half-year
    assert "Vorläufig" in second


def test_half_year_report_of_a_provider_has_its_own_rows_only(
    client_for: Callable[[str], TestClient],
) -> None:
    client = client_for("traeger.caritas")
    rows = read_csv(
        client.get("/dashboard/halbjahresbericht?jahr=2026&halbjahr=1&format=csv").content
    )
    assert {row["Träger"] for row in rows} == {"Caritas"}
    assert "Diakonie" not in client.get("/dashboard/halbjahresbericht?jahr=2026&halbjahr=1").text


def test_half_year_second_half_counts_july_hours_and_new_classification(
    client_for: Callable[[str], TestClient],
) -> None:
    rows = read_csv(
        client_for("koordination")
        .get("/dashboard/halbjahresbericht?jahr=2026&halbjahr=2&format=csv")
        .content
    )
    table = {(r["Träger"], r["Hilfebedarfsgruppe"]): r for r in rows}
    hbg4 = table["Caritas", "Hilfebedarfsgruppe 4"]
    assert (hbg4["Bearbeitete Fälle"], hbg4["Geleistete Stunden"]) == ("1", "10,0")
    assert ("Caritas", "Hilfebedarfsgruppe 3") not in table  # R8 closed in June


def test_half_year_refuses_a_bad_half(client_for: Callable[[str], TestClient]) -> None:
    answer = client_for("koordination").get("/dashboard/halbjahresbericht?jahr=2026&halbjahr=3")
    assert answer.status_code == 400
    assert 'role="alert"' in answer.text


def test_report_due_is_the_last_working_day_of_the_next_month() -> None:
    assert half_year(2026, 2) == (date(2026, 7, 1), date(2026, 12, 31))
    assert report_due(date(2026, 6, 30)) == date(2026, 7, 31)  # a Friday
    assert report_due(date(2026, 12, 31)) == date(2027, 1, 29)  # 31.01.2027 is a Sunday


def test_need_groups_take_title_and_guideline_from_the_catalog() -> None:
    registry = load_registry()
    assert catalog_titles(registry, "sucht", 2)[1:] == (
        "Hilfebedarfsgruppe 2",
        "22 E-Stunden + 13 Grp-Sitzungen",
    )
    assert catalog_titles(registry, "schulden", 0)[1] == "ohne Einstufung"


# --- small cells (statistical secrecy) and audited reads -----------------------------------

SMALL = "< 3"


def small_cells(html: str) -> int:
    return html.count('<td class="zahl">&lt; 3</td>')


def report_reads(db_url: str) -> list[AuditEvent]:
    with Session(engine(db_url)) as session:
        query = select(AuditEvent).where(AuditEvent.action == "report_read")
        return list(session.exec(query.order_by(col(AuditEvent.id))).all())


def test_a_caseworker_sees_kennzahlen_cells_of_one_or_two_cases_as_less_than_three(
    client_for: Callable[[str], TestClient],
) -> None:
    client = client_for("ifk.eschweiler")  # R5 (Caritas), R6 and R7 (Diakonie)

    rows = by_provider(read_csv(client.get("/dashboard/kennzahlen?format=csv").content))

    assert rows["Caritas"]["Gutscheine ausgegeben"] == SMALL  # 1
    assert rows["Caritas"]["davon eingelöst"] == "0"  # 0 is shown
    assert rows["Diakonie"]["Gutscheine ausgegeben"] == SMALL  # 2
    assert rows["Diakonie"]["Tage bis Erstgespräch Median"] == SMALL  # over R6 alone
    total = rows["Gesamt"]
    assert (total["Gutscheine ausgegeben"], total["davon eingelöst"]) == ("3", SMALL)
    assert total["Kunden in Beratung"] == SMALL
    assert total["Anteil U25"] == "0,0 %"  # a share over 3 started cases
    html = client.get("/dashboard/kennzahlen").text
    assert small_cells(html) >= 5
    assert "weniger als drei Fälle" in html


def test_a_provider_sees_its_own_small_kennzahlen_cells_as_less_than_three(
    client_for: Callable[[str], TestClient],
) -> None:
    rows = by_provider(
        read_csv(client_for("traeger.caritas").get("/dashboard/kennzahlen?format=csv").content)
    )

    caritas = rows["Caritas"]
    assert (caritas["Gutscheine ausgegeben"], caritas["davon eingelöst"]) == ("6", "4")
    assert caritas["davon Beratung noch nicht eingeleitet"] == SMALL
    assert caritas["Kunden in Beratung"] == SMALL
    assert caritas["Tage bis Erstgespräch Median"] == "9,5"  # over 4 cases


def test_the_coordination_sees_exact_kennzahlen_of_one_or_two_cases(
    client_for: Callable[[str], TestClient],
) -> None:
    client = client_for("koordination")

    rows = by_provider(
        read_csv(client.get("/dashboard/kennzahlen?standort=Eschweiler&format=csv").content)
    )

    assert rows["Caritas"]["Gutscheine ausgegeben"] == "1"
    assert rows["Diakonie"]["Tage bis Erstgespräch Median"] == "20,0"
    html = client.get("/dashboard/kennzahlen?standort=Eschweiler").text
    assert small_cells(html) == 0 and "weniger als drei Fälle" not in html


def test_half_year_cells_of_one_or_two_cases_are_less_than_three_for_a_caseworker(
    client_for: Callable[[str], TestClient],
) -> None:
    client = client_for("ifk.eschweiler")
    url = "/dashboard/halbjahresbericht?jahr=2026&halbjahr=1"

    rows = read_csv(client.get(url + "&format=csv").content)

    (hbg1,) = [r for r in rows if r["Hilfebedarfsgruppe"] == "Hilfebedarfsgruppe 1"]  # R6
    assert hbg1["Bearbeitete Fälle"] == SMALL
    assert (hbg1["Geleistete Stunden"], hbg1["Ø Stunden je Fall"]) == (SMALL, SMALL)
    assert hbg1["Abgeschlossene Fälle"] == "0"
    assert "2,5" not in client.get(url + "&format=csv").text
    html = client.get(url).text
    assert small_cells(html) == 6  # HBG 1 and its total: cases, hours, average
    assert "weniger als drei Fälle" in html


def test_half_year_cells_for_a_provider_hide_small_groups_but_show_larger_ones(
    client_for: Callable[[str], TestClient],
) -> None:
    rows = read_csv(
        client_for("traeger.caritas")
        .get("/dashboard/halbjahresbericht?jahr=2026&halbjahr=1&format=csv")
        .content
    )

    table = {r["Hilfebedarfsgruppe"]: r for r in rows}
    hbg2 = table["Hilfebedarfsgruppe 2"]
    assert [hbg2[h] for h in HALF_YEAR_FIGURES] == [SMALL] * 4
    total = table["alle Hilfebedarfsgruppen"]
    assert [total[h] for h in HALF_YEAR_FIGURES] == ["4", SMALL, "27,0", "6,8"]


HALF_YEAR_FIGURES = (
    "Bearbeitete Fälle",
    "Abgeschlossene Fälle",
    "Geleistete Stunden",
    "Ø Stunden je Fall",
)


@pytest.mark.parametrize(
    ("url", "report", "parameters", "format"),
    [
        (
            "/dashboard/kennzahlen?von=2026-02-01&bis=2026-06-30&standort=Aachen",
            "kennzahlen",
            {"von": "2026-02-01", "bis": "2026-06-30", "standort": "Aachen"},
            "html",
        ),
        (
            "/dashboard/kennzahlen?format=csv",
            "kennzahlen",
            {"von": "2026-01-01", "bis": "2026-07-15", "standort": None},
            "csv",
        ),
        (
            "/dashboard/halbjahresbericht?jahr=2026&halbjahr=1",
            "halbjahresbericht",
            {"jahr": 2026, "halbjahr": 1},
            "html",
        ),
        (
            "/dashboard/halbjahresbericht?jahr=2026&halbjahr=2&format=csv",
            "halbjahresbericht",
            {"jahr": 2026, "halbjahr": 2},
            "csv",
        ),
        (
            "/dashboard/traeger?von=2026-03-01&bis=2026-06-30",
            "traeger",
            {"von": "2026-03-01", "bis": "2026-06-30"},
            "html",
        ),
        (
            "/dashboard/traeger?format=csv",
            "traeger",
            {"von": "2025-08-01", "bis": "2026-07-15"},
            "csv",
        ),
    ],
)
def test_every_report_read_is_audited_with_report_parameters_and_format(
    client_for: Callable[[str], TestClient],
    db_url: str,
    url: str,
    report: str,
    parameters: dict[str, Any],
    format: str,
) -> None:
    before = len(report_reads(db_url))

    assert client_for("ifk.eschweiler").get(url).status_code == 200

    reads = report_reads(db_url)
    assert len(reads) == before + 1
    read = reads[-1]
    assert (read.actor, read.role, read.referral_id) == ("ifk.eschweiler", "caseworker", None)
    assert read.detail == {"report": report, "parameters": parameters, "format": format}


def test_a_refused_report_request_is_not_audited_as_a_read(
    client_for: Callable[[str], TestClient], db_url: str
) -> None:
    before = len(report_reads(db_url))

    answer = client_for("koordination").get("/dashboard/halbjahresbericht?jahr=2026&halbjahr=3")

    assert answer.status_code == 400
    assert len(report_reads(db_url)) == before
