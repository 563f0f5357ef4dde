"""PostgreSQL restarted during a sweep (issue 9, point 5).

The machine's PostgreSQL serves other tests, so it is not restarted: what a restart does
to the sweep is done to its database alone: every backend on it is terminated
(``pg_terminate_backend``), open transactions are rolled back, pooled connections are
dead. The sweep then does what the Prefect task does (`tasks.steps`: ``retries=RETRIES``):
it runs again, and the engine's pre-ping replaces the dead connections. Asserted: the
case whose transaction was cut off is done once by the retry, and the end result is that
of one undisturbed sweep.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from tasks.delivery import Delivered, deliver_notifications
from tasks.steps import RETRIES
from tasks.sweep import Swept, fire_due_timers
from tests.factories import World
from tests.faults.support import (
    NOW,
    PATIENCE,
    TIMERS_PER_CASE,
    GatedSink,
    assert_caught_up,
    case_locked,
    expected_ids,
    lock_waiters,
    make_world,
    message_ids,
    notifier,
    terminate_all,
    wait,
)

CASES = 8
Reference = Callable[[int], dict[str, Counter[tuple[Any, ...]]]]


class Retried(threading.Thread):
    """Runs `step` in a thread the way a Prefect task with ``retries=RETRIES`` does: again
    after an exception, at most RETRIES times; keeps the result and the errors."""

    def __init__(self, step: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.step = step
        self.result: Any = None
        self.errors: list[Exception] = []

    def run(self) -> None:
        for _ in range(RETRIES + 1):
            try:
                self.result = self.step()
                return
            except Exception as exc:  # what Prefect would retry
                self.errors.append(exc)

    def outcome(self) -> Any:
        self.join(timeout=PATIENCE)
        assert not self.is_alive()
        return self.result


def test_a_sweep_whose_connections_are_all_cut_fires_the_rest_on_retry_each_timer_once(
    pg_url: str, reference: Reference
) -> None:
    w = make_world(pg_url, CASES)
    firing = Retried(lambda: fire_due_timers(w.session, w.registry, w.settings, NOW))

    with case_locked(w.url, "REF-04"):
        firing.start()
        wait(lambda: bool(lock_waiters(w.url)), PATIENCE, "Sweep wartet auf REF-04")
        assert terminate_all(w.url) >= 2  # the sweep's backend and the lock's holder
    swept: Swept = firing.outcome()

    assert [type(e).__name__ for e in firing.errors] == ["OperationalError"]
    assert swept.fired == (CASES - 4) * TIMERS_PER_CASE  # the retry: REF-04 to REF-07
    with GatedSink(accept=3) as sink:
        sending = Retried(lambda: deliver_all(w, sink))
        sending.start()
        sink.wait_held(2)  # both lanes in DATA: the pool holds only idle connections
        assert terminate_all(w.url) >= 1
        sink.release(accept=True)
        delivered: Delivered = sending.outcome()
        mails = sink.wait_for(CASES * 5, timeout=PATIENCE)

    assert sending.errors == []  # dead idle connections are replaced (pre-ping)
    assert (delivered.sent, delivered.failed) == (CASES * 5, 0)
    assert message_ids(mails) == expected_ids(w)
    assert_caught_up(w, reference(CASES))


def deliver_all(w: World, sink: GatedSink) -> Delivered:
    return deliver_notifications(w.session, notifier(sink), w.settings, NOW)
