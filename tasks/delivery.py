"""Delivering queued notifications: render, send, log the outcome.

A notification row is created once per key (case, deadline, ladder step) by
`tasks.repository.save_decision`; this module sends the pending ones. A failed delivery
stays ``failed`` and is tried again by the next sweep, up to
``Settings.notification_max_attempts``; then it is ``given_up`` and audited.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import true
from sqlmodel import Session, col, select

from models.settings import Settings
from models.tables import Notification, NotificationStatus, Referral
from models.urls import case_url
from notifications import Notifier, render
from tasks.repository import SYSTEM, audit
from tasks.sweep import SessionFactory


@dataclass
class Delivered:
    sent: int = 0
    failed: int = 0
    given_up: int = 0


def _template_context(stored: dict[str, Any], reference: str, settings: Settings) -> dict[str, Any]:
    context = {
        key: date.fromisoformat(value) if key.endswith("_on") and value else value
        for key, value in stored.items()
    }
    context["app_url"] = case_url(settings.app_url, reference)
    return context


def _references(session: Session, referral_ids: set[int]) -> dict[int, str]:
    found = session.exec(
        select(Referral.id, Referral.reference).where(col(Referral.id).in_(referral_ids))
    )
    return {referral_id: reference for referral_id, reference in found if referral_id}


def deliver_notifications(
    session_factory: SessionFactory,
    notifier: Notifier,
    settings: Settings,
    now: datetime,
    batch: int = 200,
    referral_ids: list[int] | None = None,
) -> Delivered:
    """Send every pending or failed notification (oldest first) through `notifier`; with
    `referral_ids`, only those of these cases (the follow-ups of one command)."""
    result, after = Delivered(), 0
    while after := _deliver_batch(
        session_factory, notifier, settings, now, batch, after, result, referral_ids
    ):
        pass
    return result


def _deliver_batch(
    session_factory: SessionFactory,
    notifier: Notifier,
    settings: Settings,
    now: datetime,
    batch: int,
    after: int,
    result: Delivered,
    referral_ids: list[int] | None = None,
) -> int:
    """Send one batch of rows with id > `after`; returns the last id when the batch was
    full (more may follow), else 0. So each row is tried at most once per run."""
    with session_factory() as session:
        rows = session.exec(
            select(Notification)
            .where(
                col(Notification.status).in_(
                    [NotificationStatus.pending, NotificationStatus.failed]
                ),
                col(Notification.id) > after,
                col(Notification.referral_id).in_(referral_ids)
                if referral_ids is not None
                else true(),
            )
            .order_by(col(Notification.id))
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        references = _references(session, {row.referral_id for row in rows})
        messages = [
            render(
                row.template,
                key=row.key,
                to=row.recipient,
                context=_template_context(row.context, references[row.referral_id], settings),
            )
            for row in rows
        ]
        with ThreadPoolExecutor(settings.mail_connections) as pool:
            deliveries = list(pool.map(notifier.send, messages))
        for row, delivery in zip(rows, deliveries, strict=True):
            row.attempts += 1
            if delivery.ok:
                row.status, row.sent_at, row.last_error = NotificationStatus.sent, now, None
                result.sent += 1
                continue
            row.last_error = delivery.error
            if row.attempts >= settings.notification_max_attempts:
                row.status = NotificationStatus.given_up
                result.given_up += 1
                audit(
                    session,
                    now,
                    SYSTEM,
                    "notification_given_up",
                    row.referral_id,
                    notification_id=row.id,
                    attempts=row.attempts,
                )
            else:
                row.status = NotificationStatus.failed
                result.failed += 1
        return rows[-1].id or 0 if len(rows) == batch else 0
