"""Delivering queued notifications (the outbox): claim, send, record, each e-mail once.

A notification row is created once per key (case, deadline, ladder step) by
`tasks.repository.save_decision`; this module sends the pending ones, at most once as far
as SMTP allows (issue 9, point 4):

1. **Claim** a batch in a short committed transaction (SQLite ``BEGIN IMMEDIATE``,
   PostgreSQL ``FOR UPDATE SKIP LOCKED``): ``claimed_by`` is this sender,
   ``claimed_until`` now + `LEASE`. Any other sender skips the rows until then; the rows
   of a sender that crashed are free again when its lease ends.
2. **Send** each e-mail (one SMTP connection per lane and batch, `mail_connections`
   lanes in parallel).
3. **Record** each outcome in its own commit right after the server answered: a sender
   killed after its 3rd accepted e-mail has marked those 3 ``sent``. Only a crash between
   the server's "250" and that commit sends an e-mail again, with the same Message-ID
   (`notifications.smtp.message_id`), so a receiving server can drop the duplicate.
4. **Release** the claims of rows not tried (a sender that stopped early).

A failed delivery stays ``failed`` and is tried again by the next run, up to
``Settings.notification_max_attempts``; then it is ``given_up`` and audited.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import or_, true, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from models.db import begin_write
from models.form_links import deadline_forms, mail_link
from models.process import load_registry
from models.settings import Settings
from models.tables import Notification, NotificationStatus, Referral
from notifications import Delivery, Notifier, render
from tasks.repository import SYSTEM, audit
from tasks.sweep import SessionFactory

logger = logging.getLogger(__name__)

#: How long a claim holds: a crashed sender's e-mails wait at most this long.
LEASE = timedelta(minutes=15)
#: No new e-mail of a claim is started this close to the claim's end (one SMTP send may
#: take several timeouts of `notifications.smtp.TIMEOUT`); the rest is released.
MARGIN = timedelta(minutes=5)
UNSENT = (NotificationStatus.pending, NotificationStatus.failed)


@dataclass
class Delivered:
    """Counts of one delivery run: e-mails sent, failed (tried again later), given up."""

    sent: int = 0
    failed: int = 0
    given_up: int = 0

    def add(self, other: Delivered) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.given_up += other.given_up

    @property
    def problems(self) -> int:
        """E-mails that did not go out in this run (failed or given up)."""
        return self.failed + self.given_up


def sender_id() -> str:
    """A name for one delivery run: host, process id, random part (no personal data)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class RunClock:
    """`now` of the run plus the real time elapsed since it began: a lease must follow
    the wall clock even when `now` was read when a flow started (tests: elapsed ~ 0)."""

    def __init__(self, now: datetime) -> None:
        self.now, self._started = now, time.monotonic()

    def __call__(self) -> datetime:
        return self.now + timedelta(seconds=time.monotonic() - self._started)


def deliver_notifications(
    session_factory: SessionFactory,
    notifier: Notifier,
    settings: Settings,
    now: datetime,
    batch: int = 200,
    referral_ids: list[int] | None = None,
    *,
    lease: timedelta = LEASE,
    owner: str | None = None,
    lease_clock: Callable[[], datetime] | None = None,
) -> Delivered:
    """Send every unsent (pending or failed) notification no other sender holds, oldest
    first, through `notifier`; with `referral_ids` only those of these cases (the
    follow-ups of one command). Each row is tried at most once per run; rows of a batch
    not started before its claim nears its end (`MARGIN`: a very slow server) are
    released for the next run.

    `now` (aware) is the run's time (``sent_at``). Claims last `lease` on `lease_clock`:
    the wall clock in production (``SystemClock().now``, so a claim does not start in the
    past when `now` was read at the start of a long flow), by default `now` plus the real
    time elapsed (`RunClock`: tests). An exception of `notifier` (a crash) stops every
    lane and propagates; what was accepted before it stays recorded, the rest is released.
    """
    owner, clock = owner or sender_id(), lease_clock or RunClock(now)
    result, after = Delivered(), 0
    while rows := claim(session_factory, owner, clock(), lease, batch, after, referral_ids):
        try:
            result.add(_Batch(session_factory, notifier, settings, (now, clock), rows).send())
        finally:
            release(session_factory, owner, [row.id for row in rows if row.id])
        if len(rows) < batch:
            break
        after = rows[-1].id or 0
    return result


def claim(
    session_factory: SessionFactory,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    after: int = 0,
    referral_ids: list[int] | None = None,
) -> list[Notification]:
    """Claim up to `limit` unsent notifications with id > `after` (id order) that no
    sender holds (no claim, or one ended by `now`) for `owner` until `now` + `lease`, in
    one short committed transaction. Returns them detached (their data, for sending).

    SQLite: ``BEGIN IMMEDIATE`` serialises claims, so a second sender sees the first's
    claims. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` skips rows another sender is claiming
    in this moment; once committed, their ``claimed_until`` excludes them.
    """
    free = or_(col(Notification.claimed_until).is_(None), col(Notification.claimed_until) <= now)
    cases = col(Notification.referral_id).in_(referral_ids) if referral_ids is not None else true()
    with session_factory() as session:
        begin_write(session)
        rows = session.exec(
            select(Notification)
            .where(col(Notification.status).in_(UNSENT), col(Notification.id) > after, free, cases)
            .order_by(col(Notification.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            row.claimed_by, row.claimed_until = owner, now + lease
        return list(rows)


def release(session_factory: SessionFactory, owner: str, ids: Sequence[int]) -> None:
    """Give back `owner`'s claims on `ids` that were not recorded (rows not tried). If the
    database cannot be reached, the claims end with their lease."""
    try:
        with session_factory() as session:
            begin_write(session)
            session.execute(
                update(Notification)
                .where(col(Notification.id).in_(ids), col(Notification.claimed_by) == owner)
                .values(claimed_by=None, claimed_until=None)
            )
    except SQLAlchemyError as exc:
        logger.warning("Reservierungen nicht freigegeben (%s); sie laufen ab.", type(exc).__name__)


def record(
    session: Session, settings: Settings, row_id: int, delivery: Delivery, now: datetime
) -> str:
    """Write the outcome of one send to notification `row_id` and free its claim; returns
    the new status. Given up (after `notification_max_attempts`) is audited. Commit it
    at once: the server has answered."""
    row = session.get(Notification, row_id, with_for_update=True, populate_existing=True)
    assert row is not None
    row.attempts += 1
    row.claimed_by, row.claimed_until = None, None
    if delivery.ok:
        row.status, row.sent_at, row.last_error = NotificationStatus.sent, now, None
        return row.status
    row.last_error = delivery.error
    if row.attempts < settings.notification_max_attempts:
        row.status = NotificationStatus.failed
        return row.status
    row.status = NotificationStatus.given_up
    audit(
        session,
        now,
        SYSTEM,
        "notification_given_up",
        row.referral_id,
        notification_id=row.id,
        attempts=row.attempts,
    )
    return row.status


class _Batch:
    """One claimed batch, sent in up to `mail_connections` lanes (threads), each over one
    connection of the notifier. A lane that raises stops the others before their next
    e-mail; the exception propagates."""

    def __init__(
        self,
        session_factory: SessionFactory,
        notifier: Notifier,
        settings: Settings,
        times: tuple[datetime, Callable[[], datetime]],
        rows: list[Notification],
    ) -> None:
        self.session_factory, self.notifier, self.settings = session_factory, notifier, settings
        (self.now, self.clock), self.rows, self.stop = times, rows, threading.Event()
        with session_factory() as session:
            self.references = _references(session, {row.referral_id for row in rows})

    def send(self) -> Delivered:
        lanes = min(self.settings.mail_connections, len(self.rows))
        with ThreadPoolExecutor(lanes) as pool:
            futures = [pool.submit(self._lane, self.rows[i::lanes]) for i in range(lanes)]
        total = Delivered()
        for future in futures:
            total.add(future.result())
        return total

    def _lane(self, rows: list[Notification]) -> Delivered:
        done = Delivered()
        try:
            with _connection(self.notifier) as sender:
                for row in rows:
                    assert row.id is not None and row.claimed_until is not None
                    if self.stop.is_set() or self.clock() >= row.claimed_until - MARGIN:
                        break
                    status = self._send_one(sender, row)
                    setattr(done, status, getattr(done, status) + 1)
        except BaseException:
            self.stop.set()
            raise
        return done

    def _send_one(self, sender: Notifier, row: Notification) -> str:
        try:
            context = _template_context(
                row.context,
                self.references[row.referral_id],
                self.settings,
                row.template,
                self.clock(),
            )
            message = render(row.template, key=row.key, to=row.recipient, context=context)
        except Exception as exc:  # a broken row must not block the others
            delivery = Delivery(ok=False, error=f"Vorlage nicht darstellbar: {type(exc).__name__}")
        else:
            delivery = sender.send(message)
        with self.session_factory() as session:
            begin_write(session)
            return record(session, self.settings, cast(int, row.id), delivery, self.now)


@contextmanager
def _connection(notifier: Notifier) -> Iterator[Notifier]:
    """One connection of `notifier` for several sends if it offers one
    (`notifications.SmtpNotifier.connection`), else the notifier itself."""
    opener = getattr(notifier, "connection", None)
    manager: AbstractContextManager[Notifier] = opener() if opener else nullcontext(notifier)
    with manager as sender:
        yield sender


def _template_context(
    stored: dict[str, Any],
    reference: str,
    settings: Settings,
    template: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    context = {
        key: date.fromisoformat(value) if key.endswith("_on") and value else value
        for key, value in stored.items()
    }
    context["reference"] = reference  # "Vorgang": the Aktenzeichen, never the database id
    # the case page; a reminder to a provider: the signed link to its form (issue 8.3)
    kind = stored.get("deadline_kind")  # its form: the process YAML's (a deadline's `form`)
    form = deadline_forms(load_registry(settings.process_dir)).get(str(kind)) if kind else None
    context["app_url"] = mail_link(settings, reference, template, form, now)
    return context


def _references(session: Session, referral_ids: set[int]) -> dict[int, str]:
    found = session.exec(
        select(Referral.id, Referral.reference).where(col(Referral.id).in_(referral_ids))
    )
    return {referral_id: reference for referral_id, reference in found if referral_id}
