"""Two deadline sweeps at once, as two workers would run them (issue 9, point 5): two
processes (`tests.faults.sweeper`) started in the same moment on one database, SQLite
and PostgreSQL, sending to one real SMTP server. Small batches make them meet on the
same cases. Every timer fires once, every e-mail goes out once, and the end result is
that of one undisturbed sweep."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from notifications import SmtpSink
from tests.faults.support import (
    NOW,
    PATIENCE,
    TIMERS_PER_CASE,
    assert_caught_up,
    due_timers,
    expected_ids,
    make_world,
    message_ids,
    start_sweeper,
)

CASES = 10
Reference = Callable[[int], dict[str, Counter[tuple[Any, ...]]]]


def count(output: str, what: str) -> int:
    found = re.search(rf"^{what} (\d+)$", output, re.MULTILINE)
    assert found, output
    return int(found.group(1))


def test_two_sweep_processes_at_once_fire_each_timer_once_and_send_each_mail_once(
    db_url: str, reference: Reference, tmp_path: Path
) -> None:
    w = make_world(db_url, CASES)
    assert due_timers(w) == CASES * TIMERS_PER_CASE
    go = tmp_path / "go"

    with SmtpSink() as sink:
        sweepers = [start_sweeper(w.url, NOW, sink, "--wait-for", str(go), "--batch", "3")]
        sweepers.append(start_sweeper(w.url, NOW, sink, "--wait-for", str(go), "--batch", "3"))
        for sweeper in sweepers:  # both have imported everything and wait
            assert sweeper.stdout is not None and sweeper.stdout.readline() == "ready\n"
        go.touch()
        outputs = [sweeper.communicate(timeout=PATIENCE)[0] for sweeper in sweepers]
        assert [s.returncode for s in sweepers] == [0, 0], outputs
        mails = sink.wait_for(CASES * 5, timeout=PATIENCE)

    assert sum(count(out, "fired") for out in outputs) == CASES * TIMERS_PER_CASE
    assert sum(count(out, "sent") for out in outputs) == CASES * 5
    assert len(mails) == CASES * 5
    assert message_ids(mails) == expected_ids(w)
    assert_caught_up(w, reference(CASES))
