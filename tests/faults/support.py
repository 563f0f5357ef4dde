"""What the fault tests share: cases with due timers, an SMTP server that can hold mails
mid-DATA, a sweep in a child process, PostgreSQL backends to find and terminate, and a
snapshot of everything a sweep decides (to compare a disturbed run with an undisturbed
one).

The scenario (as in tests/integration/test_sweep.py): referrals started on Monday
2.3.2026; a sweep 60 days later fires their 7 timers each (reminders, overdue notices,
escalations, the voucher's expiry) and queues 5 e-mails per case.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from models.db import session
from models.tables import AuditEvent, Deadline, Escalation, Notification, Referral, Timer
from notifications import SmtpNotifier, SmtpSink, message_id, smtp_url
from tasks.audit_trail import verify_chain
from tasks.delivery import Delivered, deliver_notifications
from tasks.sweep import Swept, fire_due_timers
from tests.factories import World, at, provider, world

PROJECT_DIR = Path(__file__).resolve().parents[2]
SENDER = "kel-flow@jobcenter.example"
STARTED = date(2026, 3, 2)
NOW = at(STARTED + timedelta(days=60), 10)
TIMERS_PER_CASE = 7
MAILS_PER_CASE = 5
#: Upper bound for anything a child process or server must do on this shared machine.
PATIENCE = 120.0


def make_world(url: str, cases: int) -> World:
    """`cases` referrals REF-00.. started on `STARTED`, with one debt-counselling provider."""
    w = world(url)
    w.add(provider("SB-CARITAS", ("schulden",)))
    for n in range(cases):
        w.start(f"REF-{n:02d}", STARTED, customer_number=f"K{n:06d}")
    return w


def sweep(w: World, sink: SmtpSink | None, now: datetime = NOW) -> tuple[Swept, Delivered]:
    """One sweep in this process, as `flows.sweep.run_sweep` does it (fire, then send)."""
    swept = fire_due_timers(w.session, w.registry, w.settings, now)
    delivered = Delivered()
    if sink is not None:
        delivered = deliver_notifications(w.session, notifier(sink), w.settings, now)
    return swept, delivered


def notifier(sink: SmtpSink) -> SmtpNotifier:
    return SmtpNotifier.from_url(smtp_url(sink.host, sink.port, SENDER), SENDER)


# --- an SMTP server that holds mails in DATA ------------------------------------------


class GatedSink(SmtpSink):
    """`SmtpSink` that answers the first `accept` mails at once and holds every later one
    in DATA (no answer) until `release`: then it accepts them (250) or refuses them (451,
    not kept); later mails are accepted. `held` counts the mails waiting. A sender blocked
    here has recorded every mail it sent before (it records each before the next)."""

    def __init__(self, accept: int) -> None:
        super().__init__()
        self.accept, self.held, self.data_calls = accept, 0, 0
        self._released = threading.Event()
        self._accept_held = True
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.data_calls += 1
            hold = self.data_calls > self.accept and not self._released.is_set()
            self.held += hold
        if hold:
            while not self._released.is_set():
                await asyncio.sleep(0.02)
            with self._lock:
                self.held -= 1
            if not self._accept_held:
                return "451 4.3.0 Abgebrochen (Test)"
        return await super().handle_DATA(server, session, envelope)

    def release(self, *, accept: bool) -> None:
        self._accept_held = accept
        self._released.set()

    def wait_held(self, n: int, timeout: float = PATIENCE) -> None:
        wait(lambda: self.held >= n, timeout, f"{n} zurückgehaltene E-Mails")

    def __enter__(self) -> GatedSink:
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release(accept=False)
        super().__exit__(*exc)


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` (a real process or server) until true; `TimeoutError` naming `what`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: nach {timeout:.0f} s nicht erreicht")
        time.sleep(0.05)


def message_ids(mails: list[EmailMessage]) -> Counter[str]:
    return Counter(str(mail["Message-ID"]) for mail in mails)


def expected_ids(w: World) -> Counter[str]:
    """Each queued notification's Message-ID once."""
    with w.session() as s:
        return Counter(message_id(n.key, SENDER) for n in s.exec(select(Notification)))


# --- a sweep in a child process ---------------------------------------------------------


def start_sweeper(
    url: str, now: datetime, sink: SmtpSink | None, *extra: str
) -> subprocess.Popen[str]:
    """`python -m tests.faults.sweeper` on `url` at `now` (stdout: progress lines)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEL_")}
    env.update(
        KEL_DATABASE_URL=url,
        KEL_COORDINATOR_EMAIL="koordination@jobcenter.example",
        PREFECT_API_URL="",
    )
    if sink is not None:
        env["KEL_SMTP_URL"] = smtp_url(sink.host, sink.port, SENDER)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.sweeper", now.isoformat(), *extra],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill(process: subprocess.Popen[str]) -> str:
    """SIGKILL `process` (by its own pid) and return what it printed."""
    os.kill(process.pid, signal.SIGKILL)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, out
    return out


# --- PostgreSQL: lock a case, find waiting backends, terminate ------------------------


def _dsn(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    dsn = f"host={parsed.host} port={parsed.port or 5432} user={parsed.username}"
    return f"{dsn} dbname={parsed.database}", str(parsed.database)


@contextmanager
def case_locked(url: str, reference: str) -> Iterator[psycopg.Connection[Any]]:
    """Hold ``FOR UPDATE`` on the referral `reference` (another client's transaction)
    until the block ends; the connection is closed then (a terminated one too)."""
    dsn, _ = _dsn(url)
    conn = psycopg.connect(dsn, connect_timeout=10)
    try:
        conn.execute("SELECT id FROM referral WHERE reference = %s FOR UPDATE", (reference,))
        yield conn
    finally:
        with suppress(psycopg.Error):  # terminated: the server has rolled it back
            conn.rollback()
        conn.close()


def lock_waiters(url: str) -> list[int]:
    """Backend pids of `url`'s database that wait for a lock."""
    dsn, name = _dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            (name,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def tables_written(url: str, pid: int) -> set[str]:
    """The tables backend `pid` has written to in its open transaction (it holds their
    ``RowExclusiveLock``): what an uncommitted transaction has done so far."""
    dsn, _ = _dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = %s AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r'",
            (pid,),
        ).fetchall()
    return {str(r[0]) for r in rows}


def terminate_all(url: str) -> int:
    """What a restart of PostgreSQL does to `url`'s database: every other backend on it is
    terminated (open transactions rolled back, clients see their connection drop).
    Returns how many."""
    dsn, name = _dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return sum(1 for r in rows if r[0])


# --- what a sweep decided --------------------------------------------------------------


def snapshot(url: str) -> dict[str, Counter[tuple[Any, ...]]]:
    """Everything the sweeps decided, by Aktenzeichen (ids and times left out): the
    referrals' states, deadlines, timers (fired or not, with their result), escalations,
    queued notifications and audit entries. Two runs that decided the same have equal
    snapshots; a timer fired twice or a change lost shows as a difference."""
    with session(url) as s:
        refs = {r.id: r.reference for r in s.exec(select(Referral))}
        return {
            "referrals": Counter(
                (r.reference, r.state, r.outcome) for r in s.exec(select(Referral))
            ),
            "deadlines": Counter(
                (refs[d.referral_id], d.kind, d.state) for d in s.exec(select(Deadline))
            ),
            "timers": Counter(
                (refs[t.referral_id], t.step, t.action, t.fired_at is not None, t.result)
                for t in s.exec(select(Timer))
            ),
            "escalations": Counter(
                (refs[e.referral_id], e.level, e.state) for e in s.exec(select(Escalation))
            ),
            "notifications": Counter(
                (refs[n.referral_id], n.template, n.recipient_role)
                for n in s.exec(select(Notification))
            ),
            "audit": Counter(
                (refs.get(a.referral_id), a.action)
                for a in s.exec(select(AuditEvent).order_by(col(AuditEvent.seq)))
            ),
        }


def assert_caught_up(w: World, reference: dict[str, Counter[tuple[Any, ...]]]) -> None:
    """`w` decided exactly what an undisturbed sweep decided (`reference`), every due
    timer has fired, every e-mail is sent once, and the audit chain is intact."""
    got = snapshot(w.url)
    for part, expected in reference.items():
        assert got[part] == expected, part
    with w.session() as s:
        unfired = s.exec(
            select(Timer).where(col(Timer.fired_at).is_(None), Timer.fire_at <= NOW)
        ).all()
        statuses = Counter((n.status, n.attempts) for n in s.exec(select(Notification)))
        assert verify_chain(s).intact
    assert unfired == []
    assert set(statuses) == {("sent", 1)}, statuses


def undisturbed(url: str, cases: int) -> dict[str, Counter[tuple[Any, ...]]]:
    """The snapshot of the same scenario swept once without any fault (on `url`, a fresh
    migrated database of its own)."""
    w = make_world(url, cases)
    fire_due_timers(w.session, w.registry, w.settings, NOW)
    return snapshot(url)


def due_timers(w: World) -> int:
    with w.session() as s:
        return len(s.exec(select(Timer.id).where(Timer.fire_at <= NOW)).all())
