"""Leistungsabschnitte through the REST API (issue 10, point 6; seed 002 §4.1): the
provider reports a phase with ``phase_reported`` on the one path; refusals are problems
with a German ``detail`` (422 for what the rules refuse, 409 for a state that allows no
phase, 404 outside the caller's view, 403 for a role that may not report it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import select

from models.tables import ReferralPhase
from tests.api.conftest import STARTED, ApiClient
from tests.factories import World

ClientFor = Callable[[str], ApiClient]


def phase(code: str, step: str, **more: Any) -> dict[str, Any]:
    return {"event": "phase_reported", "phase": code, "phase_step": step, **more}


def in_counselling(client_for: ClientFor, case: str) -> ApiClient:
    caritas = client_for("traeger.caritas")
    day = STARTED.isoformat()
    later = (STARTED + timedelta(days=3)).isoformat()
    for body in (
        {"event": "appointment_booked", "appointment_on": later, "occurred_on": day},
        {"event": "appointment_kept", "occurred_on": day},
    ):
        assert caritas.write(f"/api/v1/referrals/{case}/events", body).status_code == 202
    return caritas


def problem(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    return str(answer.json()["detail"])


def test_a_provider_reports_a_phase_and_the_state_stays(
    client_for: ClientFor, case: str, kel: World
) -> None:
    caritas = in_counselling(client_for, case)
    answer = caritas.write(f"/api/v1/referrals/{case}/events", phase("LA1", "begun"))
    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] == "in_counselling"
    with kel.session() as s:
        rows = [(r.phase, r.begun_on, r.completed_on) for r in s.exec(select(ReferralPhase))]
    assert rows == [("LA1", STARTED, None)]


def test_refusals_are_problems_in_german(client_for: ClientFor, case: str, kel: World) -> None:
    url = f"/api/v1/referrals/{case}/events"
    caritas = client_for("traeger.caritas")
    assert "voucher_issued" in problem(caritas.write(url, phase("LA1", "begun")), 409)
    in_counselling(client_for, case)
    assert "ist nicht begonnen" in problem(caritas.write(url, phase("LA2", "completed")), 422)
    assert "Unbekannte Phase 'LA7'" in problem(caritas.write(url, phase("LA7", "begun")), 422)
    half = caritas.write(url, {"event": "phase_reported", "phase": "LA1"})
    assert problem(half, 422)
    assert problem(client_for("traeger.diakonie").write(url, phase("LA1", "begun")), 404)
    assert problem(client_for("ifk.aachen").write(url, phase("LA1", "begun")), 403)
    with kel.session() as s:
        assert s.exec(select(ReferralPhase)).first() is None
