"""The deadline sweep in batches (tasks.sweep.fire_due_timers): one transaction per batch of
cases, a SAVEPOINT per case. A case that fails is rolled back alone, the others of its
batch are saved, and its timers stay due for the next sweep; batch boundaries change
nothing in the result. On SQLite and PostgreSQL (`kel`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import SQLModel, col, select

import tasks.advance
import tasks.sweep
from models.tables import AuditEvent, Notification, Referral, Timer
from tasks.sweep import Swept, fire_due_timers
from tests.factories import World, at

STARTED = date(2026, 3, 2)
NOW = at(STARTED + timedelta(days=60))  # all seven timers of each case are due


def rows(kel: World, model: type[SQLModel], *where: Any) -> list[Any]:
    with kel.session() as s:
        return list(s.exec(select(model).where(*where)))


def fired_per_case(kel: World) -> dict[str, int]:
    ids = {r.id: r.reference for r in rows(kel, Referral)}
    counts = dict.fromkeys(ids.values(), 0)
    for t in rows(kel, Timer, col(Timer.fired_at).is_not(None)):
        counts[ids[t.referral_id]] += 1
    return counts


def fail_on(monkeypatch: pytest.MonkeyPatch, kel: World, reference: str, kind: str) -> None:
    """Make every timer of deadline `kind` of case `reference` raise in the sweep (a
    broken case: its earlier timers are saved in the case's savepoint first)."""
    [referral_id] = [r.id for r in rows(kel, Referral) if r.reference == reference]
    real = tasks.advance.advance

    def advance(session: Any, referral: Referral, event: Any, **kwargs: Any) -> Any:
        if referral.id == referral_id and event.kind == kind:
            raise ValueError("kaputte Prozessdefinition")
        return real(session, referral, event, **kwargs)

    monkeypatch.setattr(tasks.sweep, "advance", advance)


def test_a_failing_case_is_rolled_back_alone_and_fires_at_the_next_sweep(
    kel: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(1, 4):
        kel.start(f"REF-{n}", STARTED)
    fail_on(monkeypatch, kel, "REF-2", "first_feedback")  # its 3rd timer
    [started] = [r for r in rows(kel, Referral) if r.reference == "REF-2"]
    audit_before = rows(kel, AuditEvent, AuditEvent.referral_id == started.id)

    first: Swept = fire_due_timers(kel.session, kel.registry, kel.settings, NOW, batch=10)

    assert (first.fired, first.failed) == (14, 1)
    assert fired_per_case(kel) == {"REF-1": 7, "REF-2": 0, "REF-3": 7}
    [failed] = [r for r in rows(kel, Referral) if r.reference == "REF-2"]
    assert failed.state == "voucher_issued"  # its first two timers' work is undone too
    assert not rows(kel, Notification, col(Notification.key).startswith(f"ref-{failed.id}:"))
    assert rows(kel, AuditEvent, AuditEvent.referral_id == failed.id) == audit_before

    monkeypatch.undo()
    second = fire_due_timers(kel.session, kel.registry, kel.settings, NOW, batch=10)

    assert (second.fired, second.failed) == (7, 0)
    assert fired_per_case(kel) == {"REF-1": 7, "REF-2": 7, "REF-3": 7}
    assert {r.state for r in rows(kel, Referral)} == {"closed"}


@pytest.mark.parametrize("batch", [1, 2, 200])
def test_batch_size_changes_nothing_in_the_result(kel: World, batch: int) -> None:
    for n in range(1, 6):
        kel.start(f"REF-{n}", STARTED)

    swept = fire_due_timers(kel.session, kel.registry, kel.settings, NOW, batch=batch)

    assert (swept.fired, swept.failed) == (35, 0)
    assert len(swept.referral_ids) == 5
    assert set(fired_per_case(kel).values()) == {7}
    keys = [n.key for n in rows(kel, Notification)]
    assert len(keys) == len(set(keys)) == 5 * 5
