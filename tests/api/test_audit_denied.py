"""Denied requests in the audit trail (issue 7, point 5; api.denials).

Every 403 and 404 answered to a signed-in user is appended as ``access_denied`` (user,
role, status, method, path template, path parameters) in a transaction of its own, so a
denial whose request rolled back is recorded too; the hash chain stays intact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from api.dashboard.web import COOKIE
from models.tables import AuditEvent, Referral
from tasks.audit_trail import verify_chain
from tests.api.conftest import ApiClient, count, login, referral_body
from tests.factories import World

ClientFor = Callable[[str], ApiClient]


def denials(kel: World) -> list[AuditEvent]:
    with kel.session() as s:
        query = select(AuditEvent).where(AuditEvent.action == "access_denied")
        return list(s.exec(query.order_by(col(AuditEvent.seq))))


def chain_intact(kel: World) -> bool:
    with kel.session() as s:
        return verify_chain(s).intact


def test_a_case_outside_the_users_site_answers_404_and_is_audited(
    kel: World, client_for: ClientFor, case: str
) -> None:
    answer = client_for("ifk.eschweiler").get(f"/api/v1/referrals/{case}")

    assert answer.status_code == 404
    [denied] = denials(kel)
    assert (denied.actor, denied.role, denied.referral_id) == ("ifk.eschweiler", "caseworker", None)
    assert denied.detail == {
        "status": 404,
        "method": "GET",
        "path": "/api/v1/referrals/{reference}",
        "params": {"reference": case},
    }
    assert chain_intact(kel)


def test_a_reference_that_does_not_exist_is_audited_like_one_outside_the_scope(
    kel: World, client_for: ClientFor
) -> None:
    answer = client_for("traeger.caritas").get("/api/v1/referrals/GIBT-ES-NICHT")

    assert answer.status_code == 404
    [denied] = denials(kel)
    assert (denied.actor, denied.role) == ("traeger.caritas", "provider")
    assert denied.detail["params"] == {"reference": "GIBT-ES-NICHT"}


def test_an_event_the_role_may_not_report_answers_403_and_is_audited(
    kel: World, client_for: ClientFor, case: str
) -> None:
    answer = client_for("ifk.aachen").write(
        f"/api/v1/referrals/{case}/events",
        {"event": "appointment_booked", "appointment_on": "2026-03-10"},
    )

    assert answer.status_code == 403
    [denied] = denials(kel)
    assert denied.actor == "ifk.aachen"
    assert denied.detail == {
        "status": 403,
        "method": "POST",
        "path": "/api/v1/referrals/{reference}/events",
        "params": {"reference": case},
    }


def test_a_denied_write_whose_transaction_rolls_back_is_still_audited(
    kel: World, client_for: ClientFor
) -> None:
    body = referral_body("ES-NEU-1", site="Eschweiler")

    answer = client_for("ifk.aachen").write("/api/v1/referrals", body)

    assert answer.status_code == 403
    assert count(kel, Referral) == 0
    [denied] = denials(kel)
    assert (denied.actor, denied.detail["status"], denied.detail["path"]) == (
        "ifk.aachen",
        403,
        "/api/v1/referrals",
    )
    assert chain_intact(kel)


def test_a_role_refused_an_endpoint_is_audited(kel: World, client_for: ClientFor) -> None:
    answer = client_for("traeger.caritas").get("/api/v1/audit")

    assert answer.status_code == 403
    [denied] = denials(kel)
    assert (denied.actor, denied.detail["path"]) == ("traeger.caritas", "/api/v1/audit")


def test_answers_that_are_not_denials_and_anonymous_requests_are_not_audited_as_denied(
    app: FastAPI, kel: World, client_for: ClientFor, case: str
) -> None:
    assert client_for("ifk.aachen").get(f"/api/v1/referrals/{case}").status_code == 200
    with TestClient(app) as anonymous:
        assert anonymous.get(f"/api/v1/referrals/{case}").status_code == 401
        assert anonymous.get("/api/v1/gibt-es-nicht").status_code == 404

    assert denials(kel) == []


def test_a_dashboard_case_page_outside_the_scope_is_audited(
    app: FastAPI, kel: World, case: str
) -> None:
    token = login(app, "traeger.diakonie").json()["access_token"]
    with TestClient(app) as browser:
        browser.cookies.set(COOKIE, token)

        answer = browser.get(f"/dashboard/faelle/{case}")

    assert answer.status_code == 404
    [denied] = denials(kel)
    assert (denied.actor, denied.role) == ("traeger.diakonie", "provider")
    assert denied.detail["path"] == "/dashboard/faelle/{reference}"
    assert denied.detail["params"] == {"reference": case}


def test_each_denial_is_a_link_of_the_chain_in_order(
    kel: World, client_for: ClientFor, case: str
) -> None:
    for user in ("ifk.eschweiler", "traeger.diakonie", "ifk.eschweiler"):
        assert client_for(user).get(f"/api/v1/referrals/{case}").status_code == 404

    actors = [d.actor for d in denials(kel)]
    assert actors == ["ifk.eschweiler", "traeger.diakonie", "ifk.eschweiler"]
    with kel.session() as s:
        report = verify_chain(s)
        last = s.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc())).first()
    assert report.intact and last is not None
    assert report.count == last.seq


def test_a_long_path_parameter_is_cut_in_the_audit(kel: World, client_for: ClientFor) -> None:
    reference = "X" * 500

    client_for("ifk.aachen").get(f"/api/v1/referrals/{reference}")

    [denied] = denials(kel)
    params: dict[str, Any] = denied.detail["params"]
    assert params == {"reference": "X" * 120}
