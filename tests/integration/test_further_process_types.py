"""The further Leistungstypen (issue 10.5) through tasks.commands on SQLite.

Hamburg's Ambulante Sozialpsychiatrie (seed 004) refuses excluded customers at the start
and forgets the facts it checked; the LVR's Hilfe nach § 67 SGB XII informs the
Leistungsträger of a crisis longer than four weeks (seed 001 §4 Nr. 2) and keeps a closed
case for the five years of its standards (seed 001 §5.2.3).

Dates: a Hamburg referral on Mon 2.11.2026 has its first contact due Mon 16.11.2026
(14 days, no holiday in HH). An LVR referral on Mon 2.3.2026 is admitted on Wed 11.3.2026;
a crisis from Mon 1.6.2026 lasts four weeks on Mon 29.6.2026, so the Leistungsträger is
informed at 00:00 of Tue 30.6.2026.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sqlmodel import SQLModel, col, select

from models.process import SHIPPED_DIR, load_registry
from models.tables import AuditEvent, Command, CommandStatus, Deadline, Notification, Referral
from tasks.commands import ExcludedAtEntry
from tasks.retention import anonymise_cases, anonymise_closed_cases
from tasks.sweep import fire_due_timers
from tests.factories import World, at, provider, start_referral, world

HAMBURG_DIR = SHIPPED_DIR / "kommunen" / "hamburg"
LVR_DIR = SHIPPED_DIR / "kommunen" / "lvr"
MONDAY = date(2026, 11, 2)
ADULT = {"acute_addiction": False, "age": 34, "gerontopsychiatric": False}
CONSENT = {"form": "written", "granted_on": "2026-10-01"}


def rows(kel: World, model: type[SQLModel], *where: Any) -> list[Any]:
    with kel.session() as s:
        return list(s.exec(select(model).where(*where).order_by(col(model.id))))  # type: ignore[attr-defined]


@pytest.fixture
def hamburg(db_url: str) -> World:
    w = replace(world(db_url), registry=load_registry(HAMBURG_DIR))
    w.add(provider("ASP-ALTONA", ("sozialpsychiatrie",)))
    return w


@pytest.fixture
def lvr(db_url: str) -> World:
    w = replace(world(db_url), registry=load_registry(LVR_DIR))
    w.add(provider("SAB-KOELN", ("beschaeftigung_67",)))
    return w


def asp_start(**facts: bool | int) -> Any:
    return start_referral(
        "sozialpsychiatrie", "ASP-ALTONA", consent=CONSENT, entry_facts=ADULT | facts
    )


def test_an_excluded_customer_is_refused_and_the_facts_are_not_kept(hamburg: World) -> None:
    hamburg.record("start_referral", "HH-1", MONDAY, asp_start(age=19))

    applied = hamburg.apply(at(MONDAY))

    assert (applied.applied, applied.rejected) == (0, 1)
    [command] = rows(hamburg, Command)
    assert command.status == CommandStatus.rejected
    assert command.error == (
        "Ambulante Sozialpsychiatrie: Personen unter 21 Jahren werden nicht betreut "
        "(Leistungsbeschreibung Ziff. 2)."
    )
    assert "entry_facts" not in command.payload  # checked once, then forgotten
    assert command.payload["service_type"] == "sozialpsychiatrie"
    assert rows(hamburg, Referral) == []
    [audit] = rows(hamburg, AuditEvent)
    assert audit.action == "command_rejected"
    assert "Jahren" not in str(audit.detail)  # codes only in the audit trail


def test_on_the_api_path_an_exclusion_writes_nothing(hamburg: World) -> None:
    with pytest.raises(ExcludedAtEntry, match="akuter Suchterkrankung"):
        hamburg.execute("start_referral", "HH-1", MONDAY, asp_start(acute_addiction=True))

    assert rows(hamburg, Command) == []
    assert rows(hamburg, Referral) == []


def test_an_admissible_customer_starts_without_voucher_and_waits_for_first_contact(
    hamburg: World,
) -> None:
    command = hamburg.execute("start_referral", "HH-1", MONDAY, asp_start())

    assert command.status == CommandStatus.applied
    assert "entry_facts" not in command.payload
    [referral] = rows(hamburg, Referral)
    assert (referral.state, referral.service_type) == ("referred", "sozialpsychiatrie")
    [deadline] = rows(hamburg, Deadline, Deadline.referral_id == referral.id)
    assert (deadline.kind, deadline.period, deadline.due_on) == (
        "first_contact",
        "P14D",
        date(2026, 11, 16),
    )

    hamburg.event("HH-1", date(2026, 12, 1), "person_related_approved")

    found = {
        d.kind: d.due_on
        for d in rows(hamburg, Deadline, Deadline.referral_id == referral.id)
        if d.state == "open"
    }
    # Tue 1.12.2026 + 12 months = Wed 1.12.2027; the report 2 months before: Fri 1.10.2027
    assert found == {"approval_period": date(2027, 12, 1), "social_report": date(2027, 10, 1)}


def lvr_case(kel: World, reference: str, customer: str = "K000001") -> None:
    kel.start(
        reference,
        date(2026, 3, 2),
        service_type="beschaeftigung_67",
        provider_code="SAB-KOELN",
        customer_number=customer,
    )
    kel.event(reference, date(2026, 3, 11), "admitted")


def funder_notices(kel: World) -> list[Notification]:
    return rows(kel, Notification, Notification.recipient_role == "funder")


def test_a_crisis_longer_than_four_weeks_mails_the_leistungstraeger(lvr: World) -> None:
    lvr_case(lvr, "LVR-1")
    lvr.event("LVR-1", date(2026, 6, 1), "crisis_started")

    fire_due_timers(lvr.session, lvr.registry, lvr.settings, at(date(2026, 6, 29), 23))
    assert funder_notices(lvr) == []  # four weeks, not yet more
    fire_due_timers(lvr.session, lvr.registry, lvr.settings, at(date(2026, 6, 30), 1))

    [notice] = funder_notices(lvr)
    assert (notice.template, notice.recipient) == (
        "funder_notice",
        "eingliederungshilfe@lvr.example",
    )
    assert notice.context["deadline_title"] == "Krisensituation länger als vier Wochen"
    assert notice.context["due_on"] == "2026-06-29"
    assert "funder_informed" in [a.action for a in rows(lvr, AuditEvent)]


def close_lvr_case(kel: World, reference: str, customer: str = "K000001") -> None:
    lvr_case(kel, reference, customer)
    kel.event(reference, date(2026, 6, 15), "left")
    kel.event(reference, date(2026, 7, 1), "closing_report_sent")


def test_the_retention_task_keeps_a_case_for_the_period_of_its_standards(lvr: World) -> None:
    close_lvr_case(lvr, "LVR-1")
    [closed] = rows(lvr, Referral)
    assert (closed.state, closed.closed_on) == ("closed", date(2026, 7, 1))
    one_year = lvr.settings.model_copy(update={"retention_years": 1, "process_dir": LVR_DIR})

    # the standards' retention P5Y, not KEL_RETENTION_YEARS (here 1): kept until 1.7.2031 ends
    assert anonymise_cases.fn(one_year, at(date(2027, 7, 2))).referrals == 0
    assert anonymise_cases.fn(one_year, at(date(2031, 7, 1))).referrals == 0
    assert anonymise_cases.fn(one_year, at(date(2031, 7, 2))).referrals == 1


def test_without_a_period_of_its_own_a_service_keeps_the_global_retention(lvr: World) -> None:
    close_lvr_case(lvr, "LVR-1")
    one_year = lvr.settings.model_copy(update={"retention_years": 1})

    assert anonymise_closed_cases(lvr.session, one_year, at(date(2027, 7, 1))).referrals == 0
    assert anonymise_closed_cases(lvr.session, one_year, at(date(2027, 7, 2))).referrals == 1
