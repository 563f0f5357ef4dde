"""Data in its scope (issue 7, point 4; seed 003; § 67b SGB X; § 203 StGB).

* A provider reads content and need group of the reports it wrote; after a reroute the new
  provider reads the earlier provider's reports as status only, unless a consent of scope
  content names the new provider.
* The jobcenter reads a report's content only with a content consent naming the provider
  who wrote it.
* An answer about a reference outside the caller's scope is byte for byte the answer
  about a reference that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
from sqlmodel import select

from api.dashboard.web import COOKIE
from models.tables import Consent, Provider
from tests.api.conftest import ApiClient, feedback_event
from tests.factories import World

ClientFor = Callable[[str], ApiClient]
CARITAS_CONTENT = {"ausgangssituation": "Zwölf Gläubiger", "ziele": "Schuldenbereinigungsplan"}
DIAKONIE_CONTENT = {"ausgangssituation": "Mietschulden", "ziele": "Ratenzahlung"}


def write(client_for: ClientFor, user: str, url: str, body: dict[str, Any]) -> httpx.Response:
    answer = client_for(user).write(url, body)
    assert answer.status_code in (200, 201, 202), answer.text
    return answer


def grant(client_for: ClientFor, reference: str, **consent: Any) -> httpx.Response:
    body = {"form": "written", "granted_on": "2026-03-02"} | consent
    return write(client_for, "ifk.aachen", f"/api/v1/referrals/{reference}/consent", body)


def case_seen_by(client_for: ClientFor, user: str, reference: str) -> dict[str, Any]:
    answer = client_for(user).get(f"/api/v1/referrals/{reference}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def reports_seen_by(client_for: ClientFor, user: str, reference: str) -> list[dict[str, Any]]:
    return list(case_seen_by(client_for, user, reference)["feedback"])


def released(report: dict[str, Any]) -> bool:
    """Content, modules and need group present, and not flagged as withheld."""
    present = report["content"] is not None and report["need_group"] is not None
    assert present != report["content_withheld"], report
    return present


@pytest.fixture
def caritas_reported(client_for: ClientFor, case: str) -> str:
    """AC-CAR-1 with a Rückmeldung of SB-CARITAS (HBG 2, content) on 2.3."""
    write(
        client_for,
        "traeger.caritas",
        f"/api/v1/referrals/{case}/events",
        feedback_event(content=CARITAS_CONTENT),
    )
    return case


def reroute_to_diakonie(client_for: ClientFor, reference: str) -> None:
    write(
        client_for,
        "traeger.caritas",
        f"/api/v1/referrals/{reference}/events",
        {"event": "provider_declined"},
    )
    write(
        client_for,
        "ifk.aachen",
        f"/api/v1/referrals/{reference}/events",
        {"event": "provider_assigned", "provider_code": "SB-DIAKONIE"},
    )


@pytest.fixture
def rerouted(client_for: ClientFor, caritas_reported: str) -> str:
    """`caritas_reported`, then declined by SB-CARITAS and assigned to SB-DIAKONIE."""
    reroute_to_diakonie(client_for, caritas_reported)
    return caritas_reported


@pytest.fixture
def both_reported(client_for: ClientFor, rerouted: str) -> str:
    """`rerouted`, then a Rückmeldung of SB-DIAKONIE (HBG 3, its own content)."""
    write(
        client_for,
        "traeger.diakonie",
        f"/api/v1/referrals/{rerouted}/events",
        feedback_event(need_group=3, content=DIAKONIE_CONTENT),
    )
    return rerouted


# --- reroute: the new provider ------------------------------------------------------------


def test_after_a_reroute_the_new_provider_reads_the_earlier_report_as_status_only(
    client_for: ClientFor, rerouted: str
) -> None:
    case = case_seen_by(client_for, "traeger.diakonie", rerouted)

    (report,) = case["feedback"]
    assert report["kind"] == "first_feedback"
    assert (report["appointment_kept"], report["counselling_ongoing"]) == (True, True)
    assert (report["content"], report["modules"], report["need_group"]) == (None, None, None)
    assert report["content_withheld"] is True
    assert case["need_group"] is None
    assert "Gläubiger" not in str(case)


def test_a_consent_naming_the_new_provider_releases_the_earlier_report_to_it(
    client_for: ClientFor, rerouted: str
) -> None:
    grant(client_for, rerouted, provider_code="SB-DIAKONIE")

    case = case_seen_by(client_for, "traeger.diakonie", rerouted)

    (report,) = case["feedback"]
    assert released(report)
    assert report["content"]["ausgangssituation"] == "Zwölf Gläubiger"
    assert report["need_group"] == 2
    assert case["need_group"] == 2


def test_a_consent_naming_the_earlier_provider_does_not_release_to_the_new_one(
    client_for: ClientFor, caritas_reported: str
) -> None:
    grant(client_for, caritas_reported)  # before the reroute: names SB-CARITAS
    reroute_to_diakonie(client_for, caritas_reported)

    case = case_seen_by(client_for, "traeger.diakonie", caritas_reported)

    assert [released(r) for r in case["feedback"]] == [False]
    assert case["need_group"] is None
    assert case["consent_valid"] is False  # no content consent for the current provider


def test_a_status_consent_naming_the_new_provider_releases_nothing(
    client_for: ClientFor, rerouted: str
) -> None:
    grant(client_for, rerouted, provider_code="SB-DIAKONIE", scope="status")

    assert [released(r) for r in reports_seen_by(client_for, "traeger.diakonie", rerouted)] == [
        False
    ]


def test_the_new_provider_reads_its_own_report_and_the_need_group_it_set(
    client_for: ClientFor, both_reported: str
) -> None:
    case = case_seen_by(client_for, "traeger.diakonie", both_reported)

    caritas, diakonie = case["feedback"]
    assert (released(caritas), released(diakonie)) == (False, True)
    assert diakonie["content"]["ausgangssituation"] == "Mietschulden"
    assert case["need_group"] == 3


def test_the_earlier_provider_no_longer_sees_the_case_at_all(
    client_for: ClientFor, rerouted: str
) -> None:
    assert client_for("traeger.caritas").get(f"/api/v1/referrals/{rerouted}").status_code == 404


# --- the jobcenter --------------------------------------------------------------------------


def test_a_caseworker_with_a_consent_naming_caritas_reads_caritas_content_only(
    client_for: ClientFor, both_reported: str
) -> None:
    grant(client_for, both_reported, provider_code="SB-CARITAS")

    case = case_seen_by(client_for, "ifk.aachen", both_reported)

    caritas, diakonie = case["feedback"]
    assert (released(caritas), released(diakonie)) == (True, False)
    assert caritas["content"]["ziele"] == "Schuldenbereinigungsplan"
    assert "Mietschulden" not in str(case)
    assert case["need_group"] is None  # set by Diakonie's report, which is withheld


@pytest.mark.parametrize("user", ["ifk.aachen", "koordination", "admin"])
def test_a_consent_naming_diakonie_releases_diakonies_report_to_the_jobcenter(
    client_for: ClientFor, both_reported: str, user: str
) -> None:
    grant(client_for, both_reported, provider_code="SB-DIAKONIE")

    case = case_seen_by(client_for, user, both_reported)

    assert [released(r) for r in case["feedback"]] == [False, True]
    assert case["need_group"] == 3
    assert case["consent_valid"] is True


def test_a_content_read_by_the_new_provider_is_audited(
    client_for: ClientFor, rerouted: str
) -> None:
    grant(client_for, rerouted, provider_code="SB-DIAKONIE")

    reports_seen_by(client_for, "traeger.diakonie", rerouted)

    entries = client_for("koordination").get("/api/v1/audit?actor=traeger.diakonie").json()
    assert [e["action"] for e in entries] == ["feedback_content_read"]


# --- the consent endpoint -------------------------------------------------------------------


def test_a_consent_without_a_provider_names_the_current_provider(
    client_for: ClientFor, kel: World, case: str
) -> None:
    answer = grant(client_for, case)

    assert answer.json()["provider_code"] == "SB-CARITAS"
    with kel.session() as s:
        caritas = s.exec(select(Provider).where(Provider.code == "SB-CARITAS")).one()
        assert s.exec(select(Consent)).one().provider_id == caritas.id
    audit = client_for("koordination").get("/api/v1/audit?actor=ifk.aachen").json()
    granted = [e for e in audit if e["action"] == "consent_granted"]
    assert granted[0]["detail"]["provider_id"] == caritas.id


@pytest.mark.parametrize("code", ["SB-UNBEKANNT", "SUCHT-CARITAS"])
def test_a_consent_for_an_unknown_or_unfitting_provider_is_refused(
    client_for: ClientFor, kel: World, case: str, code: str
) -> None:
    answer = client_for("ifk.aachen").write(
        f"/api/v1/referrals/{case}/consent",
        {"form": "written", "granted_on": "2026-03-02", "provider_code": code},
    )

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    with kel.session() as s:
        assert s.exec(select(Consent)).all() == []


def test_a_legacy_consent_without_a_provider_names_the_provider_the_case_started_with(
    client_for: ClientFor, kel: World, caritas_reported: str
) -> None:
    kel.add(Consent(referral_id=1, form="written", granted_on=date(2026, 3, 2)))
    assert [released(r) for r in reports_seen_by(client_for, "ifk.aachen", caritas_reported)] == [
        True
    ]

    reroute_to_diakonie(client_for, caritas_reported)

    assert [
        released(r) for r in reports_seen_by(client_for, "traeger.diakonie", caritas_reported)
    ] == [False]


# --- "outside your scope" looks exactly like "does not exist" -------------------------------

MISSING = "AC-FEHLT-9"
_VOLATILE = re.compile(rb'(name="(?:csrf[^"]*|form_key)" value=")[^"]*|(nonce=")[^"]*')


def normalised(answer: httpx.Response, *references: str) -> tuple[int, str, bytes]:
    """Status, content type and body without the requested references and per-response
    tokens (CSRF form keys, CSP nonces)."""
    body = answer.content
    for reference in references:
        body = body.replace(reference.encode(), b"<REF>")
    body = _VOLATILE.sub(lambda m: m.group(1) or m.group(2), body)
    return answer.status_code, answer.headers.get("content-type", ""), body


def dashboard(client_for: ClientFor, user: str) -> ApiClient:
    """The user's client with its token also as the dashboard's session cookie."""
    client = client_for(user)
    token = client.headers["Authorization"].removeprefix("Bearer ")
    client.cookies.set(COOKIE, token)
    return client


Probe = Callable[[ClientFor, str], httpx.Response]
PROBES: dict[str, tuple[str, Probe]] = {
    "read referral (other site)": (
        "ifk.eschweiler",
        lambda c, ref: c("ifk.eschweiler").get(f"/api/v1/referrals/{ref}"),
    ),
    "read referral (other provider)": (
        "traeger.diakonie",
        lambda c, ref: c("traeger.diakonie").get(f"/api/v1/referrals/{ref}"),
    ),
    "report event": (
        "traeger.diakonie",
        lambda c, ref: c("traeger.diakonie").write(
            f"/api/v1/referrals/{ref}/events", {"event": "appointment_kept"}
        ),
    ),
    "report event (caseworker)": (
        "ifk.eschweiler",
        lambda c, ref: c("ifk.eschweiler").write(
            f"/api/v1/referrals/{ref}/events", {"event": "customer_withdrew"}
        ),
    ),
    "grant consent": (
        "ifk.eschweiler",
        lambda c, ref: c("ifk.eschweiler").write(
            f"/api/v1/referrals/{ref}/consent",
            {"form": "written", "granted_on": "2026-03-02"},
        ),
    ),
    "grant consent (provider)": (
        "traeger.diakonie",
        lambda c, ref: c("traeger.diakonie").write(
            f"/api/v1/referrals/{ref}/consent",
            {"form": "written", "granted_on": "2026-03-02"},
        ),
    ),
    "dashboard case page": (
        "ifk.eschweiler",
        lambda c, ref: dashboard(c, "ifk.eschweiler").get(f"/dashboard/faelle/{ref}"),
    ),
    "dashboard case page (provider)": (
        "traeger.diakonie",
        lambda c, ref: dashboard(c, "traeger.diakonie").get(f"/dashboard/faelle/{ref}"),
    ),
    "report pdf": (
        "ifk.eschweiler",
        lambda c, ref: dashboard(c, "ifk.eschweiler").get(
            f"/dashboard/faelle/{ref}/berichte/1.pdf"
        ),
    ),
}


@pytest.mark.parametrize("probe", list(PROBES))
def test_a_reference_outside_the_scope_answers_exactly_like_one_that_does_not_exist(
    client_for: ClientFor, caritas_reported: str, probe: str
) -> None:
    _, ask = PROBES[probe]

    outside = ask(client_for, caritas_reported)
    missing = ask(client_for, MISSING)

    assert outside.status_code in (403, 404), outside.text
    assert normalised(outside, caritas_reported) == normalised(missing, MISSING)


def test_a_report_of_another_case_answers_like_a_report_that_does_not_exist(
    client_for: ClientFor, caritas_reported: str, create_referral: Callable[..., httpx.Response]
) -> None:
    assert create_referral("AC-CAR-2").status_code == 202
    browser = dashboard(client_for, "ifk.aachen")

    other_case = browser.get("/dashboard/faelle/AC-CAR-2/berichte/1.pdf")
    missing = browser.get("/dashboard/faelle/AC-CAR-2/berichte/999.pdf")

    assert other_case.status_code == 404
    assert normalised(other_case, "1.pdf") == normalised(missing, "999.pdf")


@pytest.mark.parametrize("action", ["acknowledge", "assign", "resolve"])
def test_escalation_actions_answer_a_caseworker_the_same_for_existing_and_missing_ids(
    client_for: ClientFor, escalated_case: str, action: str
) -> None:
    caseworker = client_for("ifk.eschweiler")

    existing = caseworker.write(f"/api/v1/escalations/1/{action}", {"assigned_to": "x"})
    missing = caseworker.write(f"/api/v1/escalations/999/{action}", {"assigned_to": "x"})

    assert existing.status_code == 403
    assert normalised(existing) == normalised(missing)


def test_an_escalation_id_that_does_not_exist_is_404_for_the_coordinator(
    client_for: ClientFor, escalated_case: str
) -> None:
    missing = client_for("koordination").write("/api/v1/escalations/999/acknowledge")

    assert missing.status_code == 404


def test_the_audit_trail_by_referral_answers_a_caseworker_the_same_for_any_id(
    client_for: ClientFor, caritas_reported: str
) -> None:
    caseworker = client_for("ifk.eschweiler")

    existing = caseworker.get("/api/v1/audit?referral_id=1")
    missing = caseworker.get("/api/v1/audit?referral_id=999")

    assert existing.status_code == 403
    assert normalised(existing) == normalised(missing)
