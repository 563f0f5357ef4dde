"""Retention: anonymise closed cases once the retention period has passed.

Legal source: the documentation of a case is kept "für die Dauer des Aufenthaltes und
5 Jahre nach dem Ausscheiden aus dem Leistungsangebot" (seed 001 §5.2.3,
Hilfedokumentation); after that, Sozialdaten that are no longer needed are to be erased
(§ 84 SGB X, Löschung). The period is ``Settings.retention_years`` (default 5), counted
in calendar years from ``Referral.closed_on``; a Leistungsart whose standards name a
``retention`` (``P5Y``, ``P18M``: `models.process.ServiceStandard`) uses that instead.

Removed (identifying or content): the provider's report content, booked modules and
Hilfebedarfsgruppe (feedback and referral), the payloads of the referral's inbox
commands, the notification contexts (and the customer's e-mail address as a recipient;
undelivered notifications are given up), the Schweigepflichtentbindungen. Once none of
the customer's referrals is still within the period: the customer number (replaced by
``anon-<id>``), the contact data, the Eingangszone facts and the intake commands.

Kept (not identifying, needed for the Kennzahlen and half-yearly reports, seed 002 §4.1,
§4.6.3): the referral's state, outcome and dates, service type, provider, site, the
customer's age group and site, vouchers, deadlines, escalations and delivery statuses.
The audit trail is append-only and never touched; each anonymised referral gets one
``anonymised`` entry with counts only, which is also what marks it as done, so a repeat
run changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import and_, exists, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from models.calendar import add_months, parse_period
from models.clock import local_date
from models.db import session as db_session
from models.process import load_registry
from models.settings import Settings
from models.tables import (
    AuditEvent,
    Command,
    Consent,
    Customer,
    CustomerContact,
    Feedback,
    IntakeDecision,
    Notification,
    NotificationStatus,
    Referral,
)
from tasks.repository import SYSTEM, audit
from tasks.steps import RETRIES
from tasks.sweep import SessionFactory

#: Audit action that marks a referral as anonymised.
ANONYMISED = "anonymised"
#: What is left of an inbox command's payload.
ANONYMISED_PAYLOAD: dict[str, Any] = {"anonymisiert": True}
#: What is left of a customer's e-mail address as a notification recipient.
ANONYMISED_RECIPIENT = "anonymisiert"


@dataclass
class Anonymised:
    """What one run did: referrals anonymised, customers anonymised, feedback rows
    cleared, inbox commands emptied."""

    referrals: int = 0
    customers: int = 0
    feedback: int = 0
    commands: int = 0


def years_before(day: date, years: int) -> date:
    """`day` minus `years` calendar years; 29.2. becomes 28.2. in a common year."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def retention_cutoff(now: datetime, years: int) -> date:
    """The latest closure date whose retention period has passed at `now` (aware)."""
    return years_before(local_date(now), years)


@dataclass(frozen=True)
class Cutoffs:
    """Closure dates before which a case's retention period has passed: `default` for
    every Leistungsart not in `by_service` (service type → date)."""

    default: date
    by_service: dict[str, date] = field(default_factory=dict)

    @classmethod
    def at(cls, now: datetime, years: int, periods: Mapping[str, str] | None = None) -> Cutoffs:
        """The cutoffs at `now` (aware): `years` calendar years back, or per service type
        the ISO period of `periods` (``PnY``/``PnM``; calendar months, 29.2. → 28.2.)."""
        today = local_date(now)
        by_service = {}
        for service_type, period in (periods or {}).items():
            parsed = parse_period(period)
            by_service[service_type] = add_months(today, -(parsed.years * 12 + parsed.months))
        return cls(years_before(today, years), by_service)

    def passed(self) -> ColumnElement[bool]:
        """SQL: the referral is closed and its retention period has passed."""
        services = list(self.by_service)
        closed_on = col(Referral.closed_on)
        return and_(
            closed_on.is_not(None),
            or_(
                and_(col(Referral.service_type).not_in(services), closed_on < self.default),
                *(
                    and_(col(Referral.service_type) == service, closed_on < cutoff)
                    for service, cutoff in self.by_service.items()
                ),
            ),
        )


def anonymise_closed_cases(
    session_factory: SessionFactory,
    settings: Settings,
    now: datetime,
    batch: int = 500,
    periods: Mapping[str, str] | None = None,
) -> Anonymised:
    """Anonymise every referral closed before the cutoff that is not anonymised yet: the
    retention period ends with the anniversary of the closure (§ 188 Abs. 2 BGB), so a
    case is anonymised from the day after it. `periods` maps a service type to its own
    retention period (``P5Y``, from the standards); others keep ``retention_years``.

    Each batch is one transaction; rows are claimed with ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL, so parallel runs never take the same referral. Returns the counts.
    """
    result = Anonymised()
    cutoff = Cutoffs.at(now, settings.retention_years, periods)
    while True:
        with session_factory() as session:
            due = list(
                session.exec(
                    select(Referral)
                    .where(cutoff.passed(), ~_is_anonymised())
                    .order_by(col(Referral.id))
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            for referral in due:
                _anonymise_referral(session, referral, cutoff, now, result)
        if len(due) < batch:
            return result


def _is_anonymised() -> ColumnElement[bool]:
    """SQL: the outer query's referral has an ``anonymised`` audit entry."""
    return exists().where(
        col(AuditEvent.referral_id) == col(Referral.id), col(AuditEvent.action) == ANONYMISED
    )


def _anonymise_referral(
    session: Session, referral: Referral, cutoff: Cutoffs, now: datetime, result: Anonymised
) -> None:
    assert referral.id is not None
    referral.need_group = None
    referral.updated_at = now
    feedback = list(session.exec(select(Feedback).where(Feedback.referral_id == referral.id)))
    for row in feedback:
        row.content, row.modules, row.need_group = {}, [], None
    commands = list(
        session.exec(
            select(Command).where(Command.reference == referral.reference, Command.kind != "intake")
        )
    )
    for command in commands:
        command.payload = dict(ANONYMISED_PAYLOAD)
    notifications = list(
        session.exec(select(Notification).where(Notification.referral_id == referral.id))
    )
    for notification in notifications:
        _anonymise_notification(notification, referral.id)
    consents = list(session.exec(select(Consent).where(Consent.referral_id == referral.id)))
    for consent in consents:
        session.delete(consent)
    customer = _anonymise_customer(session, referral.customer_id, cutoff)
    audit(
        session,
        now,
        SYSTEM,
        ANONYMISED,
        referral.id,
        feedback=len(feedback),
        commands=len(commands) + customer.commands,
        notifications=len(notifications),
        consents=len(consents),
        customers=customer.customers,
    )
    result.referrals += 1
    result.customers += customer.customers
    result.feedback += len(feedback)
    result.commands += len(commands) + customer.commands


def _anonymise_notification(notification: Notification, referral_id: int) -> None:
    notification.context = {"referral_id": referral_id}
    if notification.recipient_role == "customer":
        notification.recipient, notification.last_error = ANONYMISED_RECIPIENT, None
    if notification.status in (NotificationStatus.pending, NotificationStatus.failed):
        notification.status = NotificationStatus.given_up  # never send a stripped message


def _anonymise_customer(session: Session, customer_id: int, cutoff: Cutoffs) -> Anonymised:
    """Anonymise the customer once none of its referrals is still within the period;
    returns the counts (customers 0 or 1, intake commands emptied)."""
    customer = session.get(Customer, customer_id)
    assert customer is not None and customer.id is not None
    number = f"anon-{customer.id}"
    if customer.customer_number == number:
        return Anonymised()
    still_kept = session.exec(
        select(Referral.id).where(
            Referral.customer_id == customer.id, ~cutoff.passed(), ~_is_anonymised()
        )
    ).first()
    if still_kept is not None:
        return Anonymised()
    intake = list(
        session.exec(
            select(Command).where(
                Command.kind == "intake", Command.reference == customer.customer_number
            )
        )
    )
    for command in intake:
        command.reference, command.payload = number, dict(ANONYMISED_PAYLOAD)
    for decision in session.exec(
        select(IntakeDecision).where(IntakeDecision.customer_id == customer.id)
    ):
        decision.facts = {}
    contact = session.get(CustomerContact, customer.id)
    if contact is not None:
        session.delete(contact)
    customer.customer_number = number
    return Anonymised(customers=1, commands=len(intake))


@task(
    name="Abgeschlossene Faelle anonymisieren",
    task_run_name="Abgeschlossene Faelle anonymisieren",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=1,
)
def anonymise_cases(settings: Settings, now: datetime) -> Anonymised:
    """Anonymise the closed cases whose retention period has passed (idempotent); the
    periods per Leistungsart come from the standards (``retention``)."""
    registry = load_registry(settings.process_dir)
    periods = {
        key: service.standard.retention
        for key, service in registry.services.items()
        if service.standard.retention is not None
    }
    factory = partial(db_session, settings.database_url)
    return anonymise_closed_cases(factory, settings, now, periods=periods)
