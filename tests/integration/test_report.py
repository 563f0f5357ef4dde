import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, SQLModel, create_engine

import models.tables  # noqa: F401 - registers the tables
from demo.report import write_report
from models.figures.states import registry_states
from models.kennzahlen import kennzahlen
from models.process import load_registry
from models.tables import Customer, Deadline, Escalation, Provider, Referral, Voucher
from tasks.kennzahlen import load_case_facts

START = date(2026, 1, 1)
END = date(2026, 12, 31)
NOW = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
STATES = registry_states(load_registry())  # the shipped process's states


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'kel.db'}")
    SQLModel.metadata.create_all(eng)
    yield eng
    eng.dispose()


def referral(rid: int, customer_id: int, provider_id: int | None, **kw: Any) -> Referral:
    values: dict[str, Any] = {
        "id": rid,
        "reference": f"REF-{rid:05d}",
        "customer_id": customer_id,
        "provider_id": provider_id,
        "service_type": "schulden",
        "site": "Aachen",
        "caseworker_email": "ifk@jobcenter.example",
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(kw)
    return Referral(**values)


def voucher(number: str, rid: int, provider_id: int, issued_on: date, status: str) -> Voucher:
    return Voucher(
        number=number, referral_id=rid, provider_id=provider_id, issued_on=issued_on, status=status
    )


def escalation(eid: int, rid: int, state: str) -> list[Any]:
    deadline = Deadline(
        id=eid,
        referral_id=rid,
        kind="first_feedback",
        title="1. Rückmeldung",
        period="P14D",
        started_on=date(2026, 4, 1),
        due_on=date(2026, 4, 15),
    )
    return [
        deadline,
        Escalation(
            referral_id=rid,
            deadline_id=eid,
            reason="Frist überschritten",
            created_at=NOW,
            state=state,
        ),
    ]


def seed(session: Session) -> None:
    session.add_all(
        [
            Provider(id=1, code="CAR", name="Caritas", email="car@example.org"),
            Provider(id=2, code="DIA", name="Diakonie", email="dia@example.org"),
            Provider(id=3, code="SE1", name="St. Elisabeth", email="se1@example.org"),
            Provider(id=4, code="SE2", name="St. Elisabeth", email="se2@example.org"),
            Customer(id=1, customer_number="K1", site="Aachen", age_group="u25"),
            Customer(id=2, customer_number="K2", site="Aachen", age_group="50+"),
            Customer(id=3, customer_number="K3", site="Eschweiler", age_group="25-49"),
            Customer(id=4, customer_number="K4", site="Eschweiler", age_group="u25"),
        ]
    )
    session.flush()
    session.add_all(
        [
            # in counselling at Caritas since 10.03.
            referral(
                1,
                1,
                1,
                state="in_counselling",
                state_since=date(2026, 3, 10),
                started_on=date(2026, 2, 1),
                first_appointment_on=date(2026, 3, 10),
            ),
            # rerouted from Caritas to Diakonie
            referral(
                2,
                2,
                2,
                state="in_counselling",
                state_since=date(2026, 4, 15),
                started_on=date(2026, 3, 1),
                first_appointment_on=date(2026, 4, 15),
            ),
            # voucher issued 01.06., nothing since: open > 90 days
            referral(
                3,
                3,
                3,
                site="Eschweiler",
                state="voucher_issued",
                state_since=date(2026, 6, 1),
                started_on=date(2026, 6, 1),
            ),
            # closed after three months
            referral(
                4,
                4,
                4,
                site="Eschweiler",
                state="closed",
                state_since=date(2026, 9, 30),
                started_on=date(2026, 6, 20),
                first_appointment_on=date(2026, 7, 1),
                closed_on=date(2026, 9, 30),
                outcome="regulär beendet",
            ),
            # staged, no provider yet
            referral(
                5,
                1,
                None,
                service_type="psychosozial",
                state="staged",
                state_since=date(2026, 1, 15),
                started_on=date(2026, 1, 15),
            ),
        ]
    )
    session.flush()
    session.add_all(
        [
            voucher("GS-1", 1, 1, date(2026, 2, 1), "redeemed"),
            voucher("GS-2", 2, 1, date(2026, 3, 1), "expired"),
            voucher("GS-3", 2, 2, date(2026, 4, 1), "redeemed"),
            voucher("GS-4", 3, 3, date(2026, 6, 1), "issued"),
            voucher("GS-5", 4, 4, date(2026, 6, 20), "redeemed"),
            voucher("GS-6", 4, 4, date(2025, 12, 1), "returned_invalid"),  # before the period
            *escalation(1, 1, "resolved"),
            *escalation(2, 2, "open"),
            *escalation(3, 2, "acknowledged"),
        ]
    )
    session.commit()


def test_report_from_the_database(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        seed(session)
        facts = load_case_facts(session)

    assert [f.referral_id for f in facts] == [1, 2, 3, 4, 5]
    assert [v.provider for v in facts[1].vouchers] == ["Caritas", "Diakonie"]
    assert facts[4].provider == "–"
    assert (facts[1].escalations, facts[1].open_escalations) == (2, 2)

    rows = kennzahlen(facts, START, END, STATES)
    by = {row.provider: row for row in rows}
    assert [row.provider for row in rows] == [
        "Caritas",
        "Diakonie",
        "St. Elisabeth (SE1)",
        "St. Elisabeth (SE2)",
        "–",
        "Gesamt",
    ]
    caritas, diakonie, total = by["Caritas"], by["Diakonie"], by["Gesamt"]
    assert (caritas.vouchers_issued, caritas.vouchers_redeemed, caritas.vouchers_not_started) == (
        2,
        1,
        1,
    )
    assert caritas.customers_in_counselling == 1
    assert caritas.counselling_days_mean == 296.0
    assert caritas.first_appointment_days_median == 37.0
    assert (diakonie.vouchers_issued, diakonie.vouchers_redeemed) == (1, 1)
    assert (diakonie.escalations, diakonie.open_escalations) == (2, 2)
    assert diakonie.first_appointment_days_median == 14.0
    assert by["St. Elisabeth (SE1)"].open_over_90_days == {"voucher_issued": 1}
    assert by["St. Elisabeth (SE2)"].counselling_days_median == 91.0
    assert by["St. Elisabeth (SE2)"].vouchers_returned_invalid == 0
    assert by["–"].open_over_90_days == {"staged": 1}

    assert total.vouchers_issued == 5
    assert (total.vouchers_redeemed, total.vouchers_not_started) == (3, 2)
    assert total.customers_in_counselling == 2
    assert total.share_u25 == pytest.approx(0.6)
    assert total.counselling_days_mean == pytest.approx((296 + 260 + 91) / 3)
    assert total.counselling_days_median == 260.0
    assert (total.escalations, total.open_escalations) == (3, 2)
    assert total.first_appointment_days_median == 14.0
    assert total.first_appointment_days_p90 == 37.0
    # in counselling since March/April: also more than 90 days in that phase
    assert total.open_over_90_days == {"staged": 1, "voucher_issued": 1, "in_counselling": 2}
    assert caritas.open_over_90_days == {"in_counselling": 1}

    html_path, csv_path = write_report(
        rows,
        tmp_path / "out",
        title="Schuldnerberatung – Kennzahlen 2026",
        period_start=START,
        period_end=END,
        states=STATES,
        extra={"Laufzeit": "1,2 s", "Anzahl Fälle": "5", "E-Mails": "0"},
    )

    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        table = list(csv.DictReader(fh, delimiter=";"))
    assert len(table) == 6
    gesamt = table[-1]
    assert gesamt["Träger"] == "Gesamt"
    assert gesamt["Gutscheine ausgegeben"] == "5"
    assert gesamt["davon eingelöst"] == "3"
    assert gesamt["davon Beratung noch nicht eingeleitet"] == "2"
    assert gesamt["Anteil U25"] == "60,0 %"
    assert gesamt["Beratungsdauer Ø Tage"] == "215,7"
    assert gesamt["Beratungsdauer Median Tage"] == "260,0"
    assert gesamt["> 90 Tage: Gestuft – wartet auf vorrangige Leistung"] == "1"
    assert gesamt["> 90 Tage: Gutschein ausgegeben"] == "1"
    assert gesamt["> 90 Tage: In Beratung"] == "2"
    assert table[0]["> 90 Tage: Gutschein ausgegeben"] == "0"
    assert gesamt["Tage bis Erstgespräch 90. Perzentil"] == "37,0"
    assert "Fälle > 90 Tage offen (je Phase)" not in gesamt  # flattened per phase
    assert table[0]["Beratungsdauer Median Tage"] == "296,0"
    assert table[2]["Beratungsdauer Median Tage"] == ""  # SE1: no counselling

    html = html_path.read_text(encoding="utf-8")
    assert '<html lang="de">' in html
    assert "<caption>Kennzahlen je Träger, 01.01.2026 – 31.12.2026</caption>" in html
    assert "Schuldnerberatung – Kennzahlen 2026" in html
    for header in (
        "Gutscheine ausgegeben",
        "davon Beratung noch nicht eingeleitet",
        "Anteil U25",
        "Tage bis Erstgespräch 90. Perzentil",
        "Gestuft – wartet auf vorrangige Leistung",
    ):
        assert f">{header}</th>" in html
    assert '<th scope="colgroup" colspan="3">Fälle &gt; 90 Tage offen (je Phase)</th>' in html
    assert '<th scope="row">Gesamt</th>' in html
    assert "<dt>Anzahl Fälle</dt><dd>5</dd>" in html
    assert "seed 002 §4.1 (Bericht 01, JC StädteRegion Aachen)" in html
    assert "<link" not in html and "<script" not in html and "http" not in html


def test_html_escapes_and_reports_without_overdue_cases(tmp_path: Path) -> None:
    html_path, csv_path = write_report(
        kennzahlen([], START, END, STATES),
        tmp_path,
        title="<b>Test</b>",
        period_start=START,
        period_end=END,
        states=STATES,
    )
    html = html_path.read_text(encoding="utf-8")
    assert "&lt;b&gt;Test&lt;/b&gt;" in html
    assert "<dl>" not in html
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        [header, gesamt] = list(csv.reader(fh, delimiter=";"))
    assert gesamt[header.index("Fälle > 90 Tage offen (je Phase)")] == "0"
    assert gesamt[header.index("Anteil U25")] == "0,0 %"


def test_load_case_facts_uses_a_few_queries_not_one_per_referral(engine: Engine) -> None:
    n = 2_000
    with Session(engine) as session:
        session.add(Provider(id=1, code="CAR", name="Caritas", email="car@example.org"))
        session.add_all(
            Customer(id=i, customer_number=f"K{i}", site="Aachen", age_group="u25")
            for i in range(1, n + 1)
        )
        session.flush()
        session.add_all(
            referral(
                i,
                i,
                1,
                state="voucher_issued",
                state_since=date(2026, 2, 1),
                started_on=date(2026, 2, 1),
            )
            for i in range(1, n + 1)
        )
        session.flush()
        session.add_all(
            voucher(f"GS-{i}", i, 1, date(2026, 2, 1), "issued") for i in range(1, n + 1)
        )
        session.commit()

    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        with Session(engine) as session:
            facts = load_case_facts(session)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(facts) == n
    assert all(len(f.vouchers) == 1 for f in facts)
    assert len(statements) <= 5
