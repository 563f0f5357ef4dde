"""Delivering queued notifications (tasks.delivery) with the recording notifier.

Notifications are queued the way production queues them: a referral started on Monday
2.3.2026 has its first_appointment deadline due 16.3.; the sweep at 13.3. queues the
provider reminder (one row).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import SQLModel, select

from models.clock import local_date
from models.statemachine import DeadlineReached, decide
from models.tables import AuditEvent, Deadline, Notification, NotificationStatus
from notifications import RecordingNotifier
from tasks.delivery import Delivered, deliver_notifications
from tasks.repository import case_view, referral_by_reference, save_decision
from tasks.sweep import fire_due_timers
from tests.factories import World, at

STARTED = date(2026, 3, 2)
REMINDER_DAY = date(2026, 3, 13)
NOW = at(REMINDER_DAY, 10)


def rows(kel: World, model: type[SQLModel], *where: Any) -> list[Any]:
    with kel.session() as s:
        return list(s.exec(select(model).where(*where)))


def queue_reminder(kel: World) -> Notification:
    kel.start("REF-1", STARTED)
    swept = fire_due_timers(kel.session, kel.registry, kel.settings, at(REMINDER_DAY, 0))
    assert swept.acted == 1
    [queued] = rows(kel, Notification)
    assert queued.status == NotificationStatus.pending
    return queued


def deliver(kel: World, notifier: RecordingNotifier, now: datetime = NOW) -> Delivered:
    return deliver_notifications(kel.session, notifier, kel.settings, now)


def test_a_pending_notification_is_sent_once(kel: World) -> None:
    queued = queue_reminder(kel)
    notifier = RecordingNotifier()

    first = deliver(kel, notifier)
    second = deliver(kel, notifier, NOW + timedelta(hours=1))

    assert (first.sent, second.sent) == (1, 0)
    [message] = notifier.attempts
    assert message.key == queued.key
    assert message.to == "sb-caritas@traeger.example"
    assert "Erstgespräch" in message.text
    [sent] = rows(kel, Notification)
    assert (sent.status, sent.attempts, sent.sent_at) == (NotificationStatus.sent, 1, NOW)


def test_a_failed_delivery_stays_failed_with_its_error_and_is_sent_next_time(
    kel: World,
) -> None:
    queue_reminder(kel)
    notifier = RecordingNotifier()
    notifier.fail_next()

    failed = deliver(kel, notifier)

    assert (failed.sent, failed.failed) == (0, 1)
    [row] = rows(kel, Notification)
    assert (row.status, row.attempts) == (NotificationStatus.failed, 1)
    assert row.last_error == "simulierter Fehler"
    assert row.sent_at is None

    retried = deliver(kel, notifier, NOW + timedelta(minutes=15))

    assert retried.sent == 1
    [row] = rows(kel, Notification)
    assert (row.status, row.attempts, row.last_error) == (NotificationStatus.sent, 2, None)
    assert row.sent_at == NOW + timedelta(minutes=15)
    assert len(notifier.sent) == 1


def test_a_notification_failing_max_attempts_times_is_given_up_and_audited(
    kel: World,
) -> None:
    kel = dataclasses.replace(
        kel, settings=kel.settings.model_copy(update={"notification_max_attempts": 3})
    )
    queued = queue_reminder(kel)
    notifier = RecordingNotifier()
    notifier.fail_key(queued.key, 5)

    outcomes = [deliver(kel, notifier, NOW + timedelta(hours=i)) for i in range(4)]

    assert [(o.failed, o.given_up) for o in outcomes] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    assert len(notifier.attempts) == 3
    [row] = rows(kel, Notification)
    assert (row.status, row.attempts) == (NotificationStatus.given_up, 3)
    assert row.last_error == f"simulierter Fehler für {queued.key}"
    [audit] = rows(kel, AuditEvent, AuditEvent.action == "notification_given_up")
    assert audit.referral_id == queued.referral_id
    assert audit.detail == {"notification_id": queued.id, "attempts": 3}


def test_one_notify_key_is_queued_once_even_if_the_decision_is_saved_twice(
    kel: World,
) -> None:
    kel.start("REF-1", STARTED)
    today = local_date(NOW)
    with kel.session() as s:
        referral = referral_by_reference(s, "REF-1")
        service = kel.registry.service(referral.service_type)
        [deadline] = s.exec(select(Deadline).where(Deadline.kind == "first_appointment"))
        assert deadline.id is not None
        reached = DeadlineReached(deadline.id, deadline.kind, deadline.due_on, 0)
        decision = decide(case_view(s, referral, today), reached, today, service)
        assert [n.template for n in decision.notify] == ["provider_reminder"]
        for _ in range(2):
            save_decision(
                s,
                referral,
                decision,
                on=today,
                now=NOW,
                registry=kel.registry,
                settings=kel.settings,
            )
            s.flush()

    [queued] = rows(kel, Notification)
    assert queued.key == decision.notify[0].key

    fire_due_timers(kel.session, kel.registry, kel.settings, NOW)
    fire_due_timers(kel.session, kel.registry, kel.settings, NOW)

    assert len(rows(kel, Notification)) == 1
    notifier = RecordingNotifier()
    deliver(kel, notifier)
    deliver(kel, notifier)
    assert [m.key for m in notifier.sent] == [queued.key]


def test_one_delivery_run_sends_every_pending_notification_even_beyond_one_batch(
    kel: World,
) -> None:
    queue_reminder(kel)
    fire_due_timers(kel.session, kel.registry, kel.settings, at(date(2026, 3, 17), 0))
    assert len(rows(kel, Notification)) == 3  # reminder + two overdue notices
    notifier = RecordingNotifier()

    delivered = deliver_notifications(kel.session, notifier, kel.settings, NOW, batch=2)

    assert delivered.sent == 3
