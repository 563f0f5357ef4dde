"""The system of record (DESIGN §4.1): SQLModel tables.

Process tables hold pseudonymous IDs only: a customer is a customer number, a site and
the facts routing needs; names never appear here. Contact data for customer reminders
lives apart in `CustomerContact`. Datetimes are stored in UTC and returned timezone-aware;
dates (`*_on`) are local calendar dates in Europe/Berlin.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Zeitpunkte werden nur mit Zeitzone gespeichert.")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(**kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kw))


def _json(**kw: Any) -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False, **kw))


class VoucherStatus(StrEnum):
    issued = "issued"
    redeemed = "redeemed"
    expired = "expired"
    returned_invalid = "returned_invalid"


class DeadlineState(StrEnum):
    open = "open"
    met = "met"
    cancelled = "cancelled"


class EscalationState(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class NotificationStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"
    given_up = "given_up"


class Provider(SQLModel, table=True):
    """A Träger: which Leistungsarten, which sites (`Site.code`), how many new cases a
    month; address, phone and `appointment_hint` (how a customer makes the first
    appointment) are printed on the Gutschein. An inactive provider gets no new referrals
    but keeps its running cases."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True)
    name: str
    email: str
    service_types: list[str] = _json()
    sites: list[str] = _json()
    monthly_capacity: int = 0
    address: str = ""  # street and number, then postcode and town, lines separated by "\n"
    phone: str = ""
    appointment_hint: str = ""  # e.g. "Terminvereinbarung telefonisch Mo–Do 9–12 Uhr"
    active: bool = True


class Site(SQLModel, table=True):
    """A Standort of the jobcenter: `code` is what `Referral.site`, `Customer.site`,
    `User.site` and `Provider.sites` hold (e.g. ``"Aachen"``); `land` the ISO code of the
    Bundesland whose public holidays count for its deadlines (``models.calendar.LANDS``);
    `jobcenter` the name printed on Gutschein and reports."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True)
    name: str
    land: str = "NW"
    jobcenter: str = ""
    address: str = ""
    active: bool = True


class Customer(SQLModel, table=True):
    """A customer, pseudonymous: customer number, site and age group only."""

    id: int | None = Field(default=None, primary_key=True)
    customer_number: str = Field(unique=True, index=True)
    site: str = Field(index=True)
    age_group: str  # "u25", "25-49", "50+"


class CustomerContact(SQLModel, table=True):
    """How to reach a customer for reminders, and whether they agreed to it."""

    customer_id: int = Field(primary_key=True, foreign_key="customer.id")
    email: str | None = None
    reminders_consented: bool = False


class IntakeDecision(SQLModel, table=True):
    """Eingangszone routing result: team, the rule that fired, German reason (seed 002 §4.4.1)."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    decided_at: datetime = _utc(nullable=False)
    team: str
    rule: str
    reason: str
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Referral(SQLModel, table=True):
    """A Zuweisung to a KEL: state of the process, provider, site, caseworker mailbox."""

    # open cases by state, service type, provider and site, counted from the index alone
    __table_args__ = (
        Index("ix_referral_open_counts", "state", "service_type", "provider_id", "site"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True, index=True)  # the Fachverfahren's pseudonymous id
    customer_id: int = Field(foreign_key="customer.id", index=True)
    service_type: str = Field(index=True)
    provider_id: int | None = Field(default=None, foreign_key="provider.id", index=True)
    site: str = Field(index=True)
    caseworker_email: str
    state: str = Field(index=True)
    state_since: date
    outcome: str | None = None
    staged_after_id: int | None = Field(default=None, foreign_key="referral.id")
    started_on: date
    first_appointment_on: date | None = None
    appointment_on: date | None = None
    closed_on: date | None = None
    need_group: int | None = None
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)
    # `ProcessVersion.version` it runs on (issue 10.4); None: started before versions
    # were kept, follows the current definition until `kel process migrate-cases`
    process_version: str | None = None


class ProcessVersion(SQLModel, table=True):
    """One version of a Leistungsart's process definition (`models.process_versions`):
    `version` is the SHA-256 prefix of `definition`, the canonical JSON of its
    `ServiceConfig`; recorded when the first referral starts on it, never changed."""

    __table_args__ = (UniqueConstraint("service_type", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    service_type: str = Field(index=True)
    version: str
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc(nullable=False)


class Consent(SQLModel, table=True):
    """A Schweigepflichtentbindung for one referral (seed 003; § 67b SGB X).

    It releases data to one named Träger (`provider_id`) for one purpose (`scope`:
    ``status`` = appointment kept / counselling ongoing / ended only, ``content`` = the
    report content and the Hilfebedarfsgruppe as well). A new provider after a reroute
    needs a consent that names it. `provider_id` is NULL only for legacy rows (see
    `tasks.visibility.named_provider`).
    """

    id: int | None = Field(default=None, primary_key=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    provider_id: int | None = Field(default=None, foreign_key="provider.id", index=True)
    form: str  # "written" | "electronic"
    scope: str = "content"
    granted_on: date
    expires_on: date | None = None
    withdrawn_on: date | None = None


class Voucher(SQLModel, table=True):
    """A Gutschein: issued to one provider; redeemed, expired or returned invalid."""

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, index=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    provider_id: int | None = Field(default=None, foreign_key="provider.id", index=True)
    issued_on: date
    status: str = Field(default=VoucherStatus.issued, index=True)
    closed_on: date | None = None


class Deadline(SQLModel, table=True):
    """A Frist of one referral: kind, period, due date, whether it was met."""

    __table_args__ = (Index("ix_deadline_overdue", "state", "due_on", "referral_id"),)

    id: int | None = Field(default=None, primary_key=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    kind: str
    title: str
    period: str
    started_on: date
    due_on: date
    state: str = Field(default=DeadlineState.open, index=True)
    completed_on: date | None = None


class Timer(SQLModel, table=True):
    """A durable timer: one ladder step of a deadline, fired once by the deadline sweep."""

    __table_args__ = (
        UniqueConstraint("deadline_id", "step"),
        Index("ix_timer_due", "fired_at", "fire_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    deadline_id: int = Field(foreign_key="deadline.id", index=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    step: int
    action: str
    fire_at: datetime = _utc(nullable=False)
    fired_at: datetime | None = _utc(nullable=True)
    result: str | None = None


class Escalation(SQLModel, table=True):
    """An escalation to the Koordinator/in § 16a for one overdue deadline.

    `reason` names the deadline and its due date, never a day count (the days overdue are
    computed when shown: `tasks.escalations.overdue_text`). `resolution` is the German
    reason it was resolved ("erledigt: Frist erfüllt am 03.09.2026"), `resolved_by` the
    user name or ``system`` (auto-resolved, `tasks.escalations.settle_escalations`).
    `level` is the ladder step: 1 = Koordination, 2 = raised to the address of the
    standards' ``escalation`` block at `raised_at` (`tasks.escalations.raise_case`).
    """

    __table_args__ = (Index("ix_escalation_inbox", "state", "created_at", "referral_id"),)

    id: int | None = Field(default=None, primary_key=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    deadline_id: int = Field(foreign_key="deadline.id", unique=True)
    reason: str
    created_at: datetime = _utc(nullable=False)
    state: str = Field(default=EscalationState.open, index=True)
    assigned_to: str | None = None
    acknowledged_at: datetime | None = _utc(nullable=True)
    resolved_at: datetime | None = _utc(nullable=True)
    resolution: str | None = None
    resolved_by: str | None = None
    level: int = 1
    raised_at: datetime | None = _utc(nullable=True)


class Notification(SQLModel, table=True):
    """Delivery log of one notification; `key` makes it unique (case, deadline, step)."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    template: str
    recipient_role: str
    recipient: str
    status: str = Field(default=NotificationStatus.pending, index=True)
    attempts: int = 0
    last_error: str | None = None
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc(nullable=False)
    sent_at: datetime | None = _utc(nullable=True)
    # The sender working this notification and until when (a lease; `tasks.delivery`):
    # another sender skips it until then, a crashed sender's claim simply expires.
    claimed_by: str | None = None
    claimed_until: datetime | None = _utc(nullable=True)


class SweepRun(SQLModel, table=True):
    """One completed deadline sweep (`flows.sweep.run_sweep`): for the health check and the
    dashboard ("Fristenprüfung zuletzt"). Counts only; `errors` are e-mails failed or
    given up in that sweep."""

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = _utc(nullable=False)
    finished_at: datetime = _utc(nullable=False, index=True)
    fired: int = 0
    sent: int = 0
    errors: int = 0


class Feedback(SQLModel, table=True):
    """A Rückmeldung / Zwischen-, Ergebnis- or Abschlussbericht of the provider.

    Status fields are always visible to the jobcenter; `content` (the report form of
    seed 002 §4.6.5) only with a valid consent (seed 003).
    """

    id: int | None = Field(default=None, primary_key=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    provider_id: int | None = Field(default=None, foreign_key="provider.id")  # the author
    kind: str
    received_on: date
    appointment_kept: bool | None = None
    counselling_ongoing: bool | None = None
    ended: bool | None = None
    need_group: int | None = None
    modules: list[dict[str, Any]] = _json()
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CommandStatus(StrEnum):
    pending = "pending"
    applied = "applied"
    rejected = "rejected"


class Command(SQLModel, table=True):
    """The inbox: every command from the Fachverfahren or a provider, recorded first.

    A command is durably recorded before any flow runs; flows apply pending commands in
    order, so nothing is lost while Prefect is down (outbox pattern, DESIGN §4.5).
    `payload` holds IDs, event names, dates and report content, never shown in Prefect.
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # "intake" | "start_referral" | "event"
    reference: str = Field(index=True)  # referral reference (or customer number for intake)
    occurred_on: date = Field(index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    idempotency_key: str | None = Field(default=None, unique=True)
    actor: str = "system"
    role: str = "system"
    received_at: datetime = _utc(nullable=False)
    status: str = Field(default=CommandStatus.pending, index=True)
    applied_at: datetime | None = _utc(nullable=True)
    referral_id: int | None = Field(default=None, index=True)
    error: str | None = None


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained audit trail: who did what to which referral, when, in
    which role (IDs and codes only, never content).

    Written only by `tasks.audit_trail.append` (via `tasks.repository.audit`): ``seq``
    counts 1, 2, 3, … without gaps, ``prev_hash`` is the ``hash`` of row ``seq - 1``
    (`models.audit_chain.GENESIS` for row 1) and ``hash`` is the hex SHA-256 over
    ``prev_hash`` and the row's canonical content (`models.audit_chain`). Database
    triggers (migration 0007) refuse UPDATE, DELETE, REPLACE and inserts out of order;
    ``kel audit verify`` finds a row changed behind their back.
    """

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True, index=True)
    prev_hash: str
    hash: str
    at: datetime = _utc(nullable=False, index=True)
    actor: str
    role: str
    action: str
    referral_id: int | None = Field(default=None, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Role(StrEnum):
    """Roles of the API and dashboard users."""

    caseworker = "caseworker"  # Integrationsfachkraft: cases of their site
    provider = "provider"  # Träger: cases assigned to it
    coordinator = "coordinator"  # Koordinator/in § 16a: all cases of the Kommune
    admin = "admin"


class User(SQLModel, table=True):
    """An account; `password_hash` is an Argon2 hash (pwdlib), never the password."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True)
    role: str
    site: str | None = None  # caseworker
    provider_id: int | None = Field(default=None, foreign_key="provider.id")  # provider
    email: str | None = None
    password_hash: str
    active: bool = True
    created_at: datetime = _utc(nullable=False)
    # the escalation inbox (api.dashboard.worklists): when it was last opened, and since
    # when escalations count as "neu" (the end of the visit before the current one)
    escalations_seen_at: datetime | None = _utc(nullable=True)
    escalations_new_since: datetime | None = _utc(nullable=True)


class UserSession(SQLModel, table=True):
    """One signed-in session: the `jti` of a bearer token or dashboard cookie.

    A token is valid only while its row exists, is not revoked and has not expired, so
    logout and an admin's revocation end it at once (cookie and bearer alike).
    """

    id: int | None = Field(default=None, primary_key=True)
    jti: str = Field(unique=True, index=True)  # random, secrets.token_urlsafe(16)
    username: str = Field(index=True)
    created_at: datetime = _utc(nullable=False)
    expires_at: datetime = _utc(nullable=False)
    revoked_at: datetime | None = _utc(nullable=True)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a write with an ``Idempotency-Key``, replayed on repeats."""

    __table_args__ = (UniqueConstraint("username", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str
    key: str
    fingerprint: str  # method, path and body hash of the first request
    status_code: int | None = None  # None while the first request is in progress
    body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _utc(nullable=False)


class IntakePlan(SQLModel, table=True):
    """Eintrittsplanung: planned entries (Soll) per site, service type and month.

    The Ist is counted from `Referral.started_on` (seed 002 §4.1, "Na Schulen 2015").
    """

    __table_args__ = (UniqueConstraint("year", "month", "site", "service_type"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    month: int  # 1..12
    site: str
    service_type: str
    planned: int = Field(ge=0)
    updated_by: str | None = None
    updated_at: datetime | None = _utc(nullable=True)


class ReferralPhase(SQLModel, table=True):
    """One provider-reported phase of a referral (a Leistungsabschnitt of the
    Schuldnerberatung, seed 002 §4.1; `models.phases`): begun on `begun_on`, completed on
    `completed_on` (None: open). One row per phase and referral (a phase is begun once);
    written only by `tasks.phases.record_phase` on the one path of a case."""

    __table_args__ = (UniqueConstraint("referral_id", "phase"),)

    id: int | None = Field(default=None, primary_key=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    phase: str
    begun_on: date
    completed_on: date | None = None
