"""E-mail at most once per notification, as far as SMTP allows (tasks.delivery, issue 9
point 4), against a real SMTP server (aiosmtpd) on SQLite and PostgreSQL.

Notifications are queued the way production queues them: referrals started on Monday
2.3.2026; the sweep at 13.3. queues one reminder to the provider per case.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import col, select

from models.tables import Notification, NotificationStatus
from notifications import Delivery, Message, SmtpNotifier, SmtpSink, message_id, smtp_url
from notifications.smtp_sink import _free_port
from tasks.delivery import LEASE, MARGIN, Delivered, claim, deliver_notifications
from tasks.sweep import fire_due_timers
from tests.factories import World, at, provider, world

SENDER = "kel-flow@jobcenter.example"
STARTED = date(2026, 3, 2)
NOW = at(date(2026, 3, 13), 10)


class Killed(Exception):
    """Stands for the process dying (SIGKILL) at this point of the send loop."""


@pytest.fixture
def kel(db_url: str) -> World:
    w = world(db_url)
    w.add(provider("SB-CARITAS", ("schulden",)))
    return w


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as sink:
        yield sink


def queue(kel: World, cases: int) -> list[Notification]:
    """`cases` referrals, each with its provider reminder queued (pending)."""
    for n in range(cases):
        kel.start(f"REF-{n}", STARTED, customer_number=f"K{n:06d}")
    fire_due_timers(kel.session, kel.registry, kel.settings, at(date(2026, 3, 13), 0))
    queued = notifications(kel)
    assert len(queued) == cases
    assert {n.status for n in queued} == {NotificationStatus.pending}
    return queued


def notifications(kel: World) -> list[Notification]:
    with kel.session() as s:
        return list(s.exec(select(Notification).order_by(col(Notification.id))))


def notifier(sink: SmtpSink) -> SmtpNotifier:
    return SmtpNotifier.from_url(smtp_url(sink.host, sink.port, SENDER), SENDER)


def one_lane(kel: World) -> World:
    """The world with one SMTP lane, so the order of sends is the order of the rows."""
    settings = kel.settings.model_copy(update={"mail_connections": 1})
    return World(settings, kel.registry)


def message_ids(mails: list[EmailMessage]) -> Counter[str]:
    return Counter(str(mail["Message-ID"]) for mail in mails)


def expected_ids(rows: list[Notification]) -> Counter[str]:
    return Counter(message_id(row.key, SENDER) for row in rows)


class KilledAfter:
    """Sends through `inner`; the process "dies" when asked for send number `n + 1`
    (`before_record=False`), or right after the server accepted send number `n`, before
    the outbox could record it (`before_record=True`)."""

    def __init__(self, inner: SmtpNotifier, n: int, *, before_record: bool = False) -> None:
        self.inner, self.n, self.before_record, self.calls = inner, n, before_record, 0

    def send(self, message: Message) -> Delivery:
        self.calls += 1
        if not self.before_record and self.calls > self.n:
            raise Killed
        delivery = self.inner.send(message)
        if self.before_record and self.calls == self.n:
            raise Killed
        return delivery


def test_a_sender_killed_after_its_third_accepted_mail_has_marked_those_three_sent(
    kel: World, sink: SmtpSink
) -> None:
    kel = one_lane(kel)
    queued = queue(kel, 6)

    with pytest.raises(Killed):
        deliver_notifications(kel.session, KilledAfter(notifier(sink), 3), kel.settings, NOW)

    rows = notifications(kel)
    assert [r.status for r in rows] == ["sent"] * 3 + ["pending"] * 3
    assert all(r.claimed_by is None and r.claimed_until is None for r in rows)  # released
    assert len(sink.wait_for(3)) == 3

    again = deliver_notifications(kel.session, notifier(sink), kel.settings, NOW)

    assert (again.sent, again.failed) == (3, 0)
    mails = sink.wait_for(6)
    assert message_ids(mails) == expected_ids(queued)  # each of the six exactly once
    assert [(r.status, r.attempts) for r in notifications(kel)] == [("sent", 1)] * 6


def test_the_claim_of_a_crashed_sender_holds_off_others_until_its_lease_ends(
    kel: World, sink: SmtpSink
) -> None:
    queued = queue(kel, 3)
    held = claim(kel.session, "abgestuerzt:1:x", NOW, LEASE, limit=2)  # dies without releasing
    assert [r.id for r in held] == [r.id for r in queued[:2]]

    early = deliver_notifications(kel.session, notifier(sink), kel.settings, NOW + LEASE / 2)
    late = deliver_notifications(kel.session, notifier(sink), kel.settings, NOW + LEASE)

    assert (early.sent, late.sent) == (1, 2)
    assert message_ids(sink.wait_for(3)) == expected_ids(queued)


def test_a_mail_sent_again_after_a_crash_before_its_commit_keeps_its_message_id(
    kel: World, sink: SmtpSink
) -> None:
    """The one duplicate SMTP cannot rule out: the server said "250", the sender died
    before recording it. The copy carries the same Message-ID, so a receiving server or
    client can drop it."""
    kel = one_lane(kel)
    [queued] = queue(kel, 1)

    with pytest.raises(Killed):
        deliver_notifications(
            kel.session, KilledAfter(notifier(sink), 1, before_record=True), kel.settings, NOW
        )
    [row] = notifications(kel)
    assert row.status == NotificationStatus.pending
    deliver_notifications(kel.session, notifier(sink), kel.settings, NOW + timedelta(hours=1))

    first, second = sink.wait_for(2)
    expected = message_id(queued.key, SENDER)
    assert first["Message-ID"] == second["Message-ID"] == expected
    assert re.fullmatch(r"<[0-9a-f]{32}@kel-flow\.jobcenter\.example>", expected)
    assert "REF" not in expected and queued.key not in expected
    assert len(first.get_all("Message-ID") or []) == 1


def test_two_senders_at_once_send_every_mail_exactly_once(kel: World, sink: SmtpSink) -> None:
    queued = queue(kel, 15)
    start = threading.Barrier(2)
    results: list[Delivered] = []
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            start.wait(timeout=30)
            results.append(
                deliver_notifications(kel.session, notifier(sink), kel.settings, NOW, batch=4)
            )
        except BaseException as exc:  # shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sum(r.sent for r in results) == 15
    assert message_ids(sink.wait_for(15)) == expected_ids(queued)
    assert len(sink.messages) == 15
    assert [(r.status, r.attempts) for r in notifications(kel)] == [("sent", 1)] * 15


def test_with_the_smtp_server_down_mails_fail_and_go_out_once_when_it_is_back(
    kel: World, sink: SmtpSink
) -> None:
    queued = queue(kel, 2)
    down = SmtpNotifier.from_url(smtp_url("127.0.0.1", _free_port("127.0.0.1"), SENDER), SENDER)

    failed = deliver_notifications(kel.session, down, kel.settings, NOW)

    assert (failed.sent, failed.failed) == (0, 2)
    rows = notifications(kel)
    assert [(r.status, r.attempts) for r in rows] == [("failed", 1)] * 2
    assert all(r.last_error and "traeger.example" not in r.last_error for r in rows)

    back = deliver_notifications(
        kel.session, notifier(sink), kel.settings, NOW + timedelta(hours=1)
    )
    again = deliver_notifications(
        kel.session, notifier(sink), kel.settings, NOW + timedelta(hours=2)
    )

    assert (back.sent, again.sent) == (2, 0)
    assert message_ids(sink.wait_for(2)) == expected_ids(queued)
    assert [(r.status, r.attempts, r.last_error) for r in notifications(kel)] == [
        ("sent", 2, None)
    ] * 2


def test_one_connection_carries_a_whole_batch(kel: World, sink: SmtpSink) -> None:
    """One SMTP session per lane and batch (not one per e-mail, as Apprise does)."""
    kel = one_lane(kel)
    queue(kel, 4)
    sessions: list[int] = []
    real = SmtpNotifier.connection

    def counted(self: SmtpNotifier):  # type: ignore[no-untyped-def]
        sessions.append(1)
        return real(self)

    smtp = notifier(sink)
    smtp.connection = counted.__get__(smtp)  # type: ignore[method-assign]

    assert deliver_notifications(kel.session, smtp, kel.settings, NOW).sent == 4
    assert len(sessions) == 1
    mails = sink.wait_for(4)
    assert {str(m["Auto-Submitted"]) for m in mails} == {"auto-generated"}
    html = mails[0].get_body(preferencelist=("html",))
    text = mails[0].get_body(preferencelist=("plain",))
    assert html is not None and text is not None and "Erstgespräch" in text.get_content()


def test_a_sender_starts_no_mail_whose_claim_is_about_to_end_and_releases_it(
    kel: World, sink: SmtpSink
) -> None:
    """A claim shorter than the safety margin (as if the server were so slow that the
    lease ran out): nothing is sent on it, the rows are free for the next run at once."""
    queue(kel, 2)

    short = deliver_notifications(kel.session, notifier(sink), kel.settings, NOW, lease=MARGIN)
    normal = deliver_notifications(kel.session, notifier(sink), kel.settings, NOW)

    assert (short.sent, normal.sent) == (0, 2)
    assert len(sink.wait_for(2)) == 2
    assert [(r.status, r.attempts, r.claimed_by) for r in notifications(kel)] == [
        ("sent", 1, None)
    ] * 2
