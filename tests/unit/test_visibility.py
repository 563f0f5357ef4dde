"""Who reads report content (`tasks.visibility`; seed 003; § 67b SGB X): the rules alone."""

from __future__ import annotations

from datetime import date

import pytest

from models.tables import Consent, Feedback, Referral
from tasks.visibility import ContentScope, in_force

CARITAS, DIAKONIE, OTHER = 1, 2, 3


def scope(role: str, provider_id: int | None = None, *released: int) -> ContentScope:
    return ContentScope(role, provider_id, frozenset(released))


@pytest.mark.parametrize(
    ("reader", "author", "readable"),
    [
        (scope("provider", CARITAS), CARITAS, True),  # its own report
        (scope("provider", DIAKONIE), CARITAS, False),  # the earlier provider's report
        (scope("provider", DIAKONIE, CARITAS), CARITAS, False),  # consent names Caritas only
        (scope("provider", DIAKONIE, DIAKONIE), CARITAS, True),  # consent names Diakonie
        (scope("provider", CARITAS), None, False),  # author unknown
        (scope("caseworker"), CARITAS, False),  # no consent
        (scope("caseworker", None, CARITAS), CARITAS, True),
        (scope("caseworker", None, DIAKONIE), CARITAS, False),  # names another provider
        (scope("coordinator", None, CARITAS, DIAKONIE), DIAKONIE, True),
        (scope("admin", None, OTHER), CARITAS, False),
        (scope("admin", None, CARITAS), None, False),
    ],
)
def test_who_may_read_a_reports_content(
    reader: ContentScope, author: int | None, readable: bool
) -> None:
    assert reader.may_read(author) is readable


def report(author: int | None, need_group: int | None) -> Feedback:
    return Feedback(
        referral_id=1,
        provider_id=author,
        kind="first_feedback",
        received_on=date(2026, 3, 2),
        need_group=need_group,
    )


def test_the_case_need_group_follows_the_report_that_set_it() -> None:
    referral = Referral(need_group=3)
    reports = [report(CARITAS, 2), report(DIAKONIE, 3), report(CARITAS, None)]

    assert scope("provider", DIAKONIE).need_group(referral, reports) == 3
    assert scope("provider", CARITAS).need_group(referral, reports) is None
    assert scope("caseworker", None, CARITAS).need_group(referral, reports) is None
    assert scope("caseworker", None, DIAKONIE).need_group(referral, reports) == 3
    assert scope("coordinator", None, DIAKONIE).need_group(referral, []) is None  # no setter


def test_a_consent_is_in_force_from_grant_through_expiry_until_withdrawal() -> None:
    consent = Consent(
        referral_id=1,
        form="written",
        granted_on=date(2026, 3, 2),
        expires_on=date(2026, 3, 31),
        withdrawn_on=date(2026, 3, 20),
    )

    days = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 19), date(2026, 3, 20)]
    assert [in_force(consent, d) for d in days] == [False, True, True, False]
    consent.withdrawn_on = None
    assert [in_force(consent, d) for d in (date(2026, 3, 31), date(2026, 4, 1))] == [True, False]
