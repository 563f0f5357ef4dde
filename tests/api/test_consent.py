"""Consent gating (issue 3.4; seed 003, Wiesbaden; § 67b SGB X).

Without a valid Schweigepflichtentbindung the provider's Rückmeldung is stored, but the
jobcenter sees only its status fields; the provider who wrote it always sees it; every
read of content is written to the audit trail. A consent names one provider (by default
the case's current one); the per-provider rule after a reroute is tested in
`tests/api/test_data_scope.py`. Health-related services (Sucht) cannot
start without consent on record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from models.clock import FakeClock
from models.tables import AuditEvent, Command, Feedback, IdempotencyRecord, Referral
from tests.api.conftest import ApiClient, count, feedback_event, referral_body
from tests.factories import World, provider

ClientFor = Callable[[str], ApiClient]
WITHHELD = {"need_group": None, "modules": None, "content": None, "content_withheld": True}
CONTENT = {
    "need_group": 2,
    "modules": [{"code": 1, "hours": 1.5}],
    "content_withheld": False,
}


@pytest.fixture
def reported(client_for: ClientFor, case: str) -> str:
    """AC-CAR-1 (schulden, no consent) with a first Rückmeldung of SB-CARITAS on 2.3."""
    answer = client_for("traeger.caritas").write(
        f"/api/v1/referrals/{case}/events", feedback_event()
    )
    assert answer.status_code == 202, answer.text
    return case


def feedback_seen_by(client_for: ClientFor, user: str, reference: str) -> dict[str, Any]:
    answer = client_for(user).get(f"/api/v1/referrals/{reference}")
    assert answer.status_code == 200, answer.text
    (feedback,) = answer.json()["feedback"]
    return dict(feedback)


def grant(client_for: ClientFor, reference: str, **consent: Any) -> None:
    body = {"form": "written", "granted_on": "2026-03-02"} | consent
    answer = client_for("ifk.aachen").write(f"/api/v1/referrals/{reference}/consent", body)
    assert answer.status_code == 201, answer.text


def content_reads(client_for: ClientFor) -> list[dict[str, Any]]:
    entries = client_for("koordination").get("/api/v1/audit").json()
    return [e for e in entries if e["action"] == "feedback_content_read"]


def test_without_consent_the_feedback_is_stored_but_the_caseworker_sees_only_status(
    client_for: ClientFor, reported: str, kel: World
) -> None:
    seen = feedback_seen_by(client_for, "ifk.aachen", reported)

    assert (
        seen
        == {
            "id": 1,
            "kind": "first_feedback",
            "received_on": "2026-03-02",
            "appointment_kept": True,
            "counselling_ongoing": True,
            "ended": None,
        }
        | WITHHELD
    )
    with kel.session() as s:
        stored = s.exec(select(Feedback)).one()
    assert stored.content["ausgangssituation"] == "Zwölf Gläubiger"
    assert stored.need_group == 2


def test_without_consent_the_caseworker_does_not_see_the_need_group_on_the_case_either(
    client_for: ClientFor, reported: str
) -> None:
    case = client_for("ifk.aachen").get(f"/api/v1/referrals/{reported}").json()

    assert case["consent_valid"] is False
    assert case["need_group"] is None


@pytest.mark.parametrize("user", ["ifk.aachen", "koordination", "admin"])
def test_without_consent_no_jobcenter_role_sees_the_content(
    client_for: ClientFor, reported: str, user: str
) -> None:
    seen = feedback_seen_by(client_for, user, reported)

    assert {k: seen[k] for k in WITHHELD} == WITHHELD


def test_with_consent_granted_through_the_api_the_caseworker_sees_the_content(
    client_for: ClientFor, reported: str
) -> None:
    grant(client_for, reported)

    seen = feedback_seen_by(client_for, "ifk.aachen", reported)

    assert {k: seen[k] for k in CONTENT} == CONTENT
    assert seen["content"]["ausgangssituation"] == "Zwölf Gläubiger"
    assert client_for("ifk.aachen").get(f"/api/v1/referrals/{reported}").json()["consent_valid"]


def test_after_consent_is_withdrawn_the_content_is_withheld_again(
    client_for: ClientFor, reported: str, clock: FakeClock
) -> None:
    grant(client_for, reported)
    assert feedback_seen_by(client_for, "ifk.aachen", reported)["content"] is not None
    clock.advance(timedelta(days=8))  # 10.3.2026

    withdrawn = client_for("ifk.aachen").write(
        f"/api/v1/referrals/{reported}/events",
        {"event": "consent_withdrawn", "occurred_on": "2026-03-06"},
    )

    assert withdrawn.status_code == 202, withdrawn.text
    seen = feedback_seen_by(client_for, "ifk.aachen", reported)
    assert {k: seen[k] for k in WITHHELD} == WITHHELD


def test_a_withdrawal_takes_effect_on_its_own_date(
    client_for: ClientFor, reported: str, clock: FakeClock
) -> None:
    grant(client_for, reported)
    clock.advance(timedelta(days=3))

    client_for("ifk.aachen").write(
        f"/api/v1/referrals/{reported}/events", {"event": "consent_withdrawn"}
    )

    assert feedback_seen_by(client_for, "ifk.aachen", reported)["content_withheld"] is True


def test_an_expired_consent_no_longer_releases_the_content(
    client_for: ClientFor, reported: str, clock: FakeClock
) -> None:
    grant(client_for, reported, expires_on="2026-03-05")
    clock.advance(timedelta(days=3))  # 5.3.: last day of the consent
    on_last_day = feedback_seen_by(client_for, "ifk.aachen", reported)
    clock.advance(timedelta(days=1))  # 6.3.

    after = feedback_seen_by(client_for, "ifk.aachen", reported)

    assert (on_last_day["content_withheld"], after["content_withheld"]) == (False, True)


def test_a_consent_limited_to_status_does_not_release_the_content(
    client_for: ClientFor, reported: str
) -> None:
    grant(client_for, reported, scope="status")

    assert feedback_seen_by(client_for, "ifk.aachen", reported)["content_withheld"] is True


def test_the_provider_who_wrote_the_feedback_always_sees_its_content(
    client_for: ClientFor, reported: str, clock: FakeClock
) -> None:
    grant(client_for, reported)
    clock.advance(timedelta(days=3))
    client_for("ifk.aachen").write(
        f"/api/v1/referrals/{reported}/events", {"event": "consent_withdrawn"}
    )

    seen = feedback_seen_by(client_for, "traeger.caritas", reported)

    assert {k: seen[k] for k in CONTENT} == CONTENT
    assert seen["content"]["ziele"] == "Schuldenbereinigungsplan"


def test_a_provider_assigned_later_does_not_see_the_previous_providers_content(
    client_for: ClientFor, reported: str
) -> None:
    declined = client_for("traeger.caritas").write(
        f"/api/v1/referrals/{reported}/events", {"event": "provider_declined"}
    )
    assigned = client_for("ifk.aachen").write(
        f"/api/v1/referrals/{reported}/events",
        {"event": "provider_assigned", "provider_code": "SB-DIAKONIE"},
    )
    assert (declined.status_code, assigned.status_code) == (202, 202)

    seen = feedback_seen_by(client_for, "traeger.diakonie", reported)

    assert seen["content_withheld"] is True
    case = client_for("traeger.diakonie").get(f"/api/v1/referrals/{reported}").json()
    assert case["need_group"] is None  # set by SB-CARITAS' report: not the new provider's


def test_each_read_of_content_is_audited_with_who_and_in_which_role(
    client_for: ClientFor, reported: str
) -> None:
    grant(client_for, reported)

    feedback_seen_by(client_for, "ifk.aachen", reported)
    feedback_seen_by(client_for, "ifk.aachen", reported)
    feedback_seen_by(client_for, "traeger.caritas", reported)

    reads = content_reads(client_for)
    assert [(r["actor"], r["role"]) for r in reads] == [
        ("traeger.caritas", "provider"),
        ("ifk.aachen", "caseworker"),
        ("ifk.aachen", "caseworker"),
    ]
    assert {r["referral_id"] for r in reads} == {1}
    assert all("Zwölf" not in str(r["detail"]) for r in reads)


def test_a_read_with_content_withheld_is_not_audited_as_a_content_read(
    client_for: ClientFor, reported: str
) -> None:
    feedback_seen_by(client_for, "ifk.aachen", reported)
    feedback_seen_by(client_for, "koordination", reported)

    assert content_reads(client_for) == []


def test_the_audit_trail_is_readable_for_the_admin_too(
    client_for: ClientFor, reported: str
) -> None:
    feedback_seen_by(client_for, "traeger.caritas", reported)

    entries = client_for("admin").get("/api/v1/audit?actor=traeger.caritas").json()

    assert [e["action"] for e in entries] == ["feedback_content_read", "first_feedback"]


def test_psychosozial_without_consent_cannot_be_created_and_nothing_is_recorded(
    client_for: ClientFor, app: Any, kel: World
) -> None:
    # Sucht may start without one since seed 003 (tests/integration/test_consent_rules.py)
    kel.add(provider("PSY-AWO", ("psychosozial",)))
    tables = (Command, Referral, AuditEvent, IdempotencyRecord)
    before = {t.__name__: count(kel, t) for t in tables}

    answer = client_for("ifk.aachen").write(
        "/api/v1/referrals",
        referral_body("AC-PSY-1", service_type="psychosozial", provider_code="PSY-AWO"),
    )

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "Schweigepflichtentbindung" in answer.json()["detail"]
    assert {t.__name__: count(kel, t) for t in tables} == before


def test_sucht_with_consent_on_record_starts_and_its_content_is_visible(
    client_for: ClientFor, app: Any
) -> None:
    answer = client_for("ifk.aachen").write(
        "/api/v1/referrals",
        referral_body(
            "AC-SUCHT-1",
            service_type="sucht",
            provider_code="SUCHT-CARITAS",
            consent={"form": "electronic", "granted_on": "2026-03-01"},
        ),
    )

    assert answer.status_code == 202, answer.text
    case = client_for("ifk.aachen").get("/api/v1/referrals/AC-SUCHT-1").json()
    assert (case["state"], case["consent_valid"]) == ("voucher_issued", True)
