"""Master data stays in its site: a caseworker never changes (or learns of) another site's
customer; changes of master data are audited by field name, never by value."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlmodel import col, select

from models.tables import AuditEvent, Customer, CustomerContact, Referral
from tasks.commands import REFERENCE_TAKEN
from tests.factories import World


def customer(kel: World, number: str) -> tuple[Customer, CustomerContact | None]:
    with kel.session() as s:
        found = s.exec(select(Customer).where(Customer.customer_number == number)).one()
        return found, s.get(CustomerContact, found.id)


def test_a_referral_for_another_sites_customer_is_refused_and_changes_nothing(
    kel: World, create_referral: Callable[..., httpx.Response]
) -> None:
    first = create_referral(
        "AC-1",
        customer_number="K-SHARED",
        contact_email="kunde@example.org",
        reminders_consented=True,
    )
    assert first.status_code == 202, first.text

    answer = create_referral(
        "ES-1",
        as_user="ifk.eschweiler",
        site="Eschweiler",
        customer_number="K-SHARED",
        age_group="u25",
        contact_email="angreifer@example.org",
        reminders_consented=False,
        caseworker_email="ifk.eschweiler@jobcenter.example",
    )

    assert answer.status_code == 422
    assert "Aachen" not in answer.text and "kunde@" not in answer.text
    found, contact = customer(kel, "K-SHARED")
    assert (found.site, found.age_group) == ("Aachen", "25-49")
    assert contact is not None
    assert (contact.email, contact.reminders_consented) == ("kunde@example.org", True)
    with kel.session() as s:
        assert s.exec(select(Referral).where(Referral.reference == "ES-1")).first() is None


def test_an_intake_for_another_sites_customer_does_not_move_the_customer(
    kel: World, create_referral: Callable[..., httpx.Response], client_for: Callable
) -> None:
    assert create_referral("AC-2", customer_number="K-MOVE").status_code == 202
    answer = client_for("ifk.eschweiler").write(
        "/api/v1/intake",
        {
            "customer_number": "K-MOVE",
            "site": "Eschweiler",
            "facts": {"case": "new_or_reactivated", "age": 22},
        },
    )
    assert answer.status_code == 422
    assert customer(kel, "K-MOVE")[0].site == "Aachen"


def test_a_change_of_contact_data_is_audited_by_field_name_without_the_address(
    kel: World, create_referral: Callable[..., httpx.Response]
) -> None:
    assert create_referral("AC-3", customer_number="K-C").status_code == 202
    second = create_referral(
        "AC-4",
        customer_number="K-C",
        age_group="50+",
        contact_email="neu@example.org",
        reminders_consented=True,
    )
    assert second.status_code == 202, second.text

    with kel.session() as s:
        changes = s.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "customer_updated")
            .order_by(col(AuditEvent.id))
        ).all()
    fields = sorted(f for a in changes for f in a.detail["fields"])
    assert fields == ["age_group", "contact_email", "reminders_consented"]
    assert all(a.actor == "ifk.aachen" for a in changes)
    assert "neu@example.org" not in repr([a.detail for a in changes])


def test_a_taken_reference_answers_the_same_whichever_site_holds_it(
    create_referral: Callable[..., httpx.Response],
) -> None:
    assert create_referral("AC-5").status_code == 202
    own = create_referral("AC-5", customer_number="K-OTHER")
    other = create_referral(
        "AC-5",
        as_user="ifk.eschweiler",
        site="Eschweiler",
        customer_number="K-ES",
        caseworker_email="ifk.eschweiler@jobcenter.example",
    )
    assert own.status_code == other.status_code == 409
    assert own.json()["detail"] == other.json()["detail"] == REFERENCE_TAKEN


def test_a_staged_answer_never_comes_from_another_sites_referral(
    kel: World, create_referral: Callable[..., httpx.Response]
) -> None:
    """Sucht before Schulden (seed 002 §4.2) holds within the customer's own site only."""
    sucht = create_referral(
        "AC-S",
        customer_number="K-ST",
        service_type="sucht",
        provider_code="SUCHT-CARITAS",
        consent={"form": "written", "granted_on": "2026-03-01"},
    )
    assert sucht.status_code == 202, sucht.text
    schulden = create_referral("AC-D", customer_number="K-ST")
    assert schulden.json()["state"] == "staged"  # own site: visible and staged
    elsewhere = create_referral(
        "ES-D",
        as_user="ifk.eschweiler",
        site="Eschweiler",
        customer_number="K-ST",
        caseworker_email="ifk.eschweiler@jobcenter.example",
    )
    assert elsewhere.status_code == 422
    assert "staged" not in elsewhere.text and "Sucht" not in elsewhere.text
