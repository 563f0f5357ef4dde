"""Referrals without Schweigepflichtentbindung, rule by rule (issue 10, point 6).

Seed 003 (Wiesbaden, Suchtberatung): "Stimmt der eHb dem schriftlichen Austausch der
beratungsrelevanten Daten nicht zu, so wird in der EV lediglich vereinbart, dass der eHb
das Formular ‚Sachstandsbericht' ausfüllen zu lassen [hat]". The standards say so with
``consent: status_without`` for Sucht: the referral starts without consent, and as long as
no consent of scope content names the provider, its reports carry the Sachstand only
(appointment kept / counselling ongoing / ended); content is refused with a German 422.
Psychosoziale Betreuung keeps ``consent: required`` (seed 003 names Sucht only).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from api.main import create_app
from api.security import hash_password, start_session
from api.trigger import InProcess
from demo.behaviour import plan_year
from models.clock import FakeClock
from models.commands import ConsentGrant
from models.process import load_registry
from models.settings import Settings
from models.tables import Command, CommandStatus, Feedback, Provider, Referral, Site, User
from tests.dashboard.forms import FormClient, sign_in
from tests.factories import World, at, provider, start_referral, world

JWT_SECRET = "9b1e4c7a2d5f8e0b3a6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a"
PASSWORD = "Sachstand-2026!"
STARTED = date(2026, 3, 2)
REPORTED = date(2026, 3, 9)
SACHSTAND = {"appointment_kept": True, "counselling_ongoing": True}


@pytest.fixture
def kel(db_url: str) -> World:
    w = world(db_url)
    w.add(
        Site(code="Aachen", name="Aachen-Mitte", jobcenter="Jobcenter StädteRegion Aachen"),
        provider("SUCHT-CARITAS", ("sucht",), sites=["Aachen"]),
        provider("SUCHT-AWO", ("sucht",), sites=["Aachen"]),
        provider("PSY-AWO", ("psychosozial",), sites=["Aachen"]),
        provider("SB-CARITAS", ("schulden",), sites=["Aachen"]),
    )
    return w


def sucht_without_consent(kel: World, reference: str = "S-1") -> None:
    payload = start_referral("sucht", "SUCHT-CARITAS").model_copy(update={"consent": None})
    kel.record("start_referral", reference, STARTED, payload)
    assert kel.apply(at(STARTED)).applied == 1


def last_command(kel: World) -> Command:
    with kel.session() as s:
        found = s.exec(select(Command).order_by(Command.id.desc())).first()  # type: ignore[union-attr]
    assert found is not None
    return found


def feedback_rows(kel: World) -> list[Feedback]:
    with kel.session() as s:
        return list(s.exec(select(Feedback)))


# --- the start --------------------------------------------------------------------------


def test_a_sucht_referral_without_consent_starts_with_its_voucher(kel: World) -> None:
    sucht_without_consent(kel)

    with kel.session() as s:
        referral = s.exec(select(Referral)).one()
    assert (referral.service_type, referral.state) == ("sucht", "voucher_issued")


def test_a_psychosozial_referral_without_consent_is_still_refused(kel: World) -> None:
    payload = start_referral("psychosozial", "PSY-AWO").model_copy(update={"consent": None})
    kel.record("start_referral", "P-1", STARTED, payload)

    applied = kel.apply(at(STARTED))

    assert (applied.applied, applied.rejected) == (0, 1)
    error = last_command(kel).error
    assert error is not None and "Schweigepflichtentbindung" in error


# --- the provider's reports -------------------------------------------------------------


def test_without_consent_a_sucht_report_with_the_sachstand_only_is_accepted(kel: World) -> None:
    sucht_without_consent(kel)

    applied = kel.event("S-1", REPORTED, "first_feedback", feedback=SACHSTAND)

    assert applied.applied == 1
    [stored] = feedback_rows(kel)
    assert (stored.appointment_kept, stored.counselling_ongoing) == (True, True)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"need_group": 1}, "need_group"),
        ({"modules": [{"code": 1, "hours": 1.0}]}, "modules"),
        ({"content": {"ziele": "Abstinenz"}}, "content.ziele"),
    ],
)
def test_without_consent_every_content_field_of_a_sucht_report_is_refused(
    kel: World, content: dict[str, Any], field: str
) -> None:
    sucht_without_consent(kel)

    applied = kel.event("S-1", REPORTED, "first_feedback", feedback=SACHSTAND | content)

    assert (applied.applied, applied.rejected) == (0, 1)
    command = last_command(kel)
    assert command.status == CommandStatus.rejected
    assert command.error is not None
    assert command.error.startswith(f"{field}: ")
    assert "nur der Sachstand" in command.error
    assert feedback_rows(kel) == []


def test_a_consent_of_scope_status_only_keeps_the_report_to_the_sachstand(kel: World) -> None:
    status = ConsentGrant(form="written", granted_on=STARTED, scope="status")
    kel.record(
        "start_referral", "S-1", STARTED, start_referral("sucht", "SUCHT-CARITAS", consent=status)
    )
    kel.apply(at(STARTED))

    applied = kel.event("S-1", REPORTED, "first_feedback", feedback=SACHSTAND | {"need_group": 1})

    assert applied.rejected == 1


def test_a_content_consent_naming_another_provider_keeps_the_report_to_the_sachstand(
    kel: World,
) -> None:
    other = ConsentGrant(form="written", granted_on=STARTED, provider_code="SUCHT-AWO")
    kel.record(
        "start_referral", "S-1", STARTED, start_referral("sucht", "SUCHT-CARITAS", consent=other)
    )
    kel.apply(at(STARTED))

    applied = kel.event("S-1", REPORTED, "first_feedback", feedback=SACHSTAND | {"need_group": 1})

    assert applied.rejected == 1


def test_with_a_content_consent_naming_the_provider_the_full_report_is_accepted(
    kel: World,
) -> None:
    kel.start("S-1", STARTED, service_type="sucht", provider_code="SUCHT-CARITAS")
    report = SACHSTAND | {"need_group": 1, "content": {"ziele": "Abstinenz"}}

    applied = kel.event("S-1", REPORTED, "first_feedback", feedback=report)

    assert applied.applied == 1
    [stored] = feedback_rows(kel)
    assert (stored.need_group, stored.content["ziele"]) == (1, "Abstinenz")


def test_after_the_consent_is_withdrawn_the_report_is_the_sachstand_only(kel: World) -> None:
    kel.start("S-1", STARTED, service_type="sucht", provider_code="SUCHT-CARITAS")
    kel.event("S-1", date(2026, 3, 5), "consent_withdrawn")

    applied = kel.event("S-1", REPORTED, "first_feedback", feedback=SACHSTAND | {"need_group": 1})

    assert applied.rejected == 1


def test_an_optional_consent_service_still_stores_content_without_consent(kel: World) -> None:
    """Schuldnerberatung (``consent: optional``): unchanged, the content is stored and
    withheld from the jobcenter on reading (tasks/visibility.py)."""
    kel.start("D-1", STARTED)

    applied = kel.event("D-1", REPORTED, "first_feedback", feedback=SACHSTAND | {"need_group": 1})

    assert applied.applied == 1


# --- API and dashboard ------------------------------------------------------------------


@pytest.fixture
def app(kel: World) -> FastAPI:
    settings = Settings(database_url=kel.url, jwt_secret=JWT_SECRET)
    with kel.session() as s:
        providers = {p.code: p.id for p in s.exec(select(Provider))}
        s.add(
            User(
                username="ifk.aachen",
                role="caseworker",
                site="Aachen",
                email="ifk.aachen@jc.example",
                password_hash=hash_password(PASSWORD),
                created_at=at(STARTED),
            )
        )
        s.add(
            User(
                username="traeger.sucht",
                role="provider",
                provider_id=providers["SUCHT-CARITAS"],
                password_hash="-",
                created_at=at(STARTED),
            )
        )
    return create_app(settings, clock=FakeClock(at(REPORTED, 10)), trigger=InProcess())


@pytest.fixture
def dashboard(app: FastAPI) -> Iterator[TestClient]:
    with FormClient(app) as client:
        assert sign_in(client, "ifk.aachen", PASSWORD).status_code == 303
        yield client


def api_client(app: FastAPI, kel: World, username: str) -> TestClient:
    settings = Settings(database_url=kel.url, jwt_secret=JWT_SECRET)
    with kel.session() as s:
        user = s.exec(select(User).where(User.username == username)).one()
        token = start_session(s, user, settings, at(REPORTED, 10))
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_the_api_refuses_content_without_consent_with_a_german_422(
    app: FastAPI, kel: World
) -> None:
    sucht_without_consent(kel)
    body = {"event": "first_feedback", "feedback": SACHSTAND | {"content": {"ziele": "x"}}}

    with api_client(app, kel, "traeger.sucht") as client:
        answer = client.post(
            "/api/v1/referrals/S-1/events",
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )

    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert "nur der Sachstand" in problem["detail"]
    assert problem["errors"][0]["field"] == "content.ziele"
    assert feedback_rows(kel) == []


def test_the_dashboard_starts_a_sucht_referral_without_consent(
    dashboard: TestClient, kel: World
) -> None:
    answer = dashboard.post(
        "/dashboard/zuweisung/neu",
        data={
            "form_key": "formular-0001",
            "leistungsart": "sucht",
            "standort": "Aachen",
            "aktenzeichen": "S-NEU",
            "kundennummer": "K-4711",
            "altersgruppe": "25-49",
            "traeger": "SUCHT-CARITAS",
            "ifk_email": "ifk.aachen@jc.example",
            "kontakt_email": "",
            "einwilligung_form": "",
            "einwilligung_umfang": "content",
            "einwilligung_am": "",
            "einwilligung_bis": "",
        },
        follow_redirects=False,
    )

    assert answer.status_code == 303, answer.text
    with kel.session() as s:
        started = s.exec(select(Referral).where(Referral.reference == "S-NEU")).one()
    assert started.service_type == "sucht"


def test_the_case_page_says_only_the_sachstand_is_exchanged(
    dashboard: TestClient, kel: World
) -> None:
    sucht_without_consent(kel)
    kel.start(
        "S-2", STARTED, service_type="sucht", customer_number="K2", provider_code="SUCHT-CARITAS"
    )

    without = dashboard.get("/dashboard/faelle/S-1")
    with_consent = dashboard.get("/dashboard/faelle/S-2")

    assert without.status_code == 200
    assert "ohne Schweigepflichtentbindung: nur Sachstand" in without.text
    assert "ohne Schweigepflichtentbindung: nur Sachstand" not in with_consent.text
    assert "<dd>gültig</dd>" in with_consent.text


def test_the_demo_sends_sucht_reports_without_consent_as_sachstand_only() -> None:
    plan = plan_year(load_registry(), date(2026, 1, 5), 12, 0.3, seed=7)
    starts = {
        c.reference: c.payload
        for c in plan.commands
        if c.kind == "start_referral" and c.payload["service_type"] == "sucht"
    }
    without = {ref for ref, payload in starts.items() if payload["consent"] is None}
    reports = [
        c.payload["feedback"]
        for c in plan.commands
        if c.reference in without and "feedback" in c.payload
    ]

    assert without and reports
    assert all(set(r) <= {"appointment_kept", "counselling_ongoing", "ended"} for r in reports)
