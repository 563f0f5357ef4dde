"""A worker's sweep process killed with SIGKILL in the middle of a run (issue 9, point 5).

The sweep runs in a child process (`tests.faults.sweeper`: the deployed flow's steps,
without the Prefect bookkeeping) and is killed with SIGKILL at a point the test controls:
while it sends (the SMTP server holds its 5th and 6th e-mail in DATA) or while it fires
timers (PostgreSQL: another transaction holds the lock of the 5th case). Then the sweep
runs again. Asserted each time: what the killed process committed stays, nothing it had
started is half-written, the next sweep does the rest, and the end result is exactly
that of one undisturbed sweep: every timer fired once, every e-mail received once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from models.tables import Notification, Referral, Timer
from tasks.delivery import LEASE
from tests.factories import World
from tests.faults.support import (
    NOW,
    PATIENCE,
    TIMERS_PER_CASE,
    GatedSink,
    assert_caught_up,
    case_locked,
    expected_ids,
    kill,
    lock_waiters,
    make_world,
    message_ids,
    start_sweeper,
    sweep,
    wait,
)

CASES = 8
Reference = Callable[[int], dict[str, Counter[tuple[Any, ...]]]]


def statuses(w: World) -> Counter[str]:
    with w.session() as s:
        return Counter(n.status for n in s.exec(select(Notification)))


def fired_per_case(w: World) -> dict[str, int]:
    with w.session() as s:
        rows = s.exec(
            select(Referral.reference, Timer.id)
            .join(Timer, col(Timer.referral_id) == Referral.id)
            .where(col(Timer.fired_at).is_not(None))
        ).all()
    return dict(Counter(reference for reference, _ in rows))


def test_a_sweep_killed_after_its_fourth_accepted_mail_sends_the_rest_once_after_its_lease(
    db_url: str, reference: Reference
) -> None:
    w = make_world(db_url, CASES)

    with GatedSink(accept=4) as sink:
        child = start_sweeper(w.url, NOW, sink)
        sink.wait_held(2)  # both SMTP lanes (mail_connections = 2) wait for an answer
        kill(child)
        sink.release(accept=False)

        assert len(fired_per_case(w)) == CASES  # the timers had all fired, once
        assert statuses(w) == {"sent": 4, "pending": CASES * 5 - 4}
        assert len(sink.wait_for(4)) == 4
        _, early = sweep(w, sink, NOW + timedelta(minutes=1))
        assert (early.sent, early.failed) == (0, 0)  # the dead sender's claims still hold

        swept, late = sweep(w, sink, NOW + LEASE + timedelta(minutes=5))

        assert (swept.fired, late.sent, late.failed) == (0, CASES * 5 - 4, 0)
        mails = sink.wait_for(CASES * 5, timeout=PATIENCE)
    assert message_ids(mails) == expected_ids(w)  # each e-mail exactly once
    assert_caught_up(w, reference(CASES))


def test_a_sweep_killed_while_it_fires_timers_leaves_the_case_it_was_in_untouched(
    pg_url: str, reference: Reference
) -> None:
    w = make_world(pg_url, CASES)

    with GatedSink(accept=1000) as sink:
        with case_locked(w.url, "REF-04"):
            child = start_sweeper(w.url, NOW, None)
            wait(lambda: bool(lock_waiters(w.url)), PATIENCE, "Sweep wartet auf REF-04")
            kill(child)
            done = fired_per_case(w)
        assert done == {f"REF-{n:02d}": TIMERS_PER_CASE for n in range(4)}
        with w.session() as s:
            state = s.exec(select(Referral.state).where(Referral.reference == "REF-04")).one()
        assert state == "voucher_issued"  # its transaction died with the process

        swept, delivered = sweep(w, sink)

        assert swept.fired == (CASES - 4) * TIMERS_PER_CASE
        assert delivered.sent == CASES * 5
        mails = sink.wait_for(CASES * 5, timeout=PATIENCE)
    assert message_ids(mails) == expected_ids(w)
    assert_caught_up(w, reference(CASES))
