"""The API, the inbox (flows, demo simulation), the deadline sweep and a staged release all
advance a case on one path, `tasks.advance.advance` (issue 10, point 3).

A spy replaces the state machine's `decide` as `tasks.advance` sees it: every decision of a
running case must pass through there, whichever door the change came in by. What an event
records (``records`` in the YAML) and its report check against the case's own version are
shown on the same path.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

import tasks.advance
from models.commands import FeedbackIn, ReferralEvent
from models.process import load_registry
from models.report_checks import InvalidReport, check_feedback
from models.statemachine import DeadlineReached, Event, decide
from models.tables import Consent, Referral
from tasks.sweep import fire_due_timers
from tests.factories import World, at
from tests.integration.test_staged_release import definitions_with

STARTED = date(2026, 3, 2)  # Monday
KEPT = date(2026, 3, 9)


class Spy:
    """Records (referral id, event) of every decision made in `tasks.advance`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, Event | DeadlineReached]] = []
        real = decide

        def spy(case: Any, event: Event | DeadlineReached, *args: Any, **kw: Any) -> Any:
            self.calls.append((case.referral_id, event))
            return real(case, event, *args, **kw)

        monkeypatch.setattr(tasks.advance, "decide", spy)

    def events(self, referral_id: int) -> list[str]:
        return [
            e.name if isinstance(e, Event) else f"timer:{e.kind}"
            for i, e in self.calls
            if i == referral_id
        ]


def referral(kel: World, reference: str) -> Referral:
    with kel.session() as s:
        found = s.exec(select(Referral).where(Referral.reference == reference)).one()
        return found


def test_api_inbox_sweep_and_staged_release_reach_the_same_advance(
    kel: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    kel.start("SUCHT-1", STARTED, service_type="sucht", provider_code="SUCHT-CARITAS")
    kel.start("SCHULD-1", STARTED)  # staged after the Suchtberatung
    sucht, schulden = referral(kel, "SUCHT-1").id, referral(kel, "SCHULD-1").id
    assert sucht is not None and schulden is not None
    assert spy.calls == []  # a start is no event of a running case

    booked = ReferralEvent(event="appointment_booked", appointment_on=KEPT)
    kel.execute("event", "SUCHT-1", date(2026, 3, 4), booked)  # the API's path
    kel.event("SUCHT-1", KEPT, "appointment_kept")  # the inbox (flows, demo)
    fire_due_timers(kel.session, kel.registry, kel.settings, at(date(2026, 4, 30), 6))

    assert spy.events(sucht)[:2] == ["appointment_booked", "appointment_kept"]
    assert spy.events(schulden)[0] == "prerequisite_met"  # released on the same path
    assert referral(kel, "SUCHT-1").appointment_on == KEPT  # `records: appointment_on`
    assert referral(kel, "SUCHT-1").first_appointment_on == KEPT  # `first_appointment_on`
    assert "timer:voucher_validity" in spy.events(schulden)  # the sweep, on the same path
    assert referral(kel, "SCHULD-1").state == "closed"  # Gutschein verfallen


def test_a_refused_event_records_nothing(kel: World) -> None:
    kel.start("SCHULD-1", STARTED)

    result = kel.event("SCHULD-1", KEPT, "appointment_kept")  # not booked yet

    assert result.rejected == 1
    assert referral(kel, "SCHULD-1").first_appointment_on is None


def test_the_event_named_by_records_consent_withdrawal_withdraws_the_consent(
    kel: World,
) -> None:
    kel.start("SUCHT-1", STARTED, service_type="sucht", provider_code="SUCHT-CARITAS")

    kel.event("SUCHT-1", KEPT, "consent_withdrawn")

    with kel.session() as s:
        consents = s.exec(select(Consent)).all()
    assert [c.withdrawn_on for c in consents] == [KEPT]


def test_a_report_is_checked_against_the_catalog_of_the_cases_version(
    kel: World, tmp_path: Path
) -> None:
    kel.start("SCHULD-1", STARTED)
    kel.event("SCHULD-1", date(2026, 3, 4), "appointment_booked", appointment_on=KEPT)
    kel.event("SCHULD-1", KEPT, "appointment_kept")
    # the Kommune's catalog changes afterwards: module 5 at most 1 hour per report
    changed = definitions_with(tmp_path, "kommune:", "kommune:")
    catalog = changed / "catalog.yaml"
    title = "        title: Regulierung und Entschuldung\n"
    text = catalog.read_text(encoding="utf-8")
    assert text.count(title) == 1
    catalog.write_text(text.replace(title, title + "        max_hours: 1\n"), encoding="utf-8")
    kel.registry = load_registry(changed)
    report = FeedbackIn.model_validate({"modules": [{"code": 5, "hours": 2}]})
    with pytest.raises(InvalidReport, match="höchstens 1"):  # for a case of the new version
        check_feedback(report, kel.registry.service("schulden"), "25-49")

    result = kel.event("SCHULD-1", date(2026, 3, 16), "first_feedback", feedback=report)

    assert (result.applied, result.rejected) == (1, 0)  # the running case keeps its catalog
