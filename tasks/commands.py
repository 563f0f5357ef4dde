"""Recording commands in the inbox and applying them to the referrals.

A command is first recorded (`record_command`, durable, idempotent by key); applying it
(`apply_command`) runs the Eingangszone routing or the state machine and saves the
decision. A command the process does not allow is kept as ``rejected`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, and_, col, or_, select

from models.calendar import due_date
from models.commands import Intake, ReferralEvent, StartReferral
from models.db import begin_write
from models.process import Registry, ServiceConfig, UnknownServiceType
from models.report_checks import InvalidReport, check_feedback, check_status_only
from models.routing import IncompleteFacts, route
from models.settings import Settings
from models.statemachine import EntryRefused, Event, InvalidTransition, decide, start
from models.tables import (
    Command,
    CommandStatus,
    Consent,
    Customer,
    CustomerContact,
    Feedback,
    IntakeDecision,
    Provider,
    Referral,
)
from tasks.process_versions import record_version, service_for
from tasks.repository import (
    Actor,
    NotFound,
    audit,
    case_view,
    referral_by_reference,
    save_decision,
    start_staged_wait,
)
from tasks.visibility import content_released

PAYLOADS: dict[str, type[BaseModel]] = {
    "intake": Intake,
    "start_referral": StartReferral,
    "event": ReferralEvent,
}


class CommandRejected(ValueError):
    """The command cannot be applied; the message (German) says why."""


class ReferenceTaken(CommandRejected):
    """A referral with this Aktenzeichen exists already (in or out of the caller's view;
    the message is the same)."""


class ExcludedAtEntry(CommandRejected):
    """An Ausschlusskriterium of the process refuses the referral, or a fact it asks for is
    missing (`models.statemachine.check_entry`, e.g. seed 004 Ziff. 2). The message names
    the criterion, which may be health data (Art. 9 DSGVO): it goes to the caller and the
    inbox, never to logs or Prefect."""


class CustomerOutOfScope(CommandRejected):
    """The customer number belongs to another site: master data stays untouched."""


#: The answer for a taken Aktenzeichen: the same whoever holds it (no leak across sites).
REFERENCE_TAKEN = "Dieses Aktenzeichen ist nicht verfügbar; bitte ein anderes verwenden."


@dataclass
class Applied:
    """What applying a batch of commands did."""

    applied: int = 0
    rejected: int = 0
    referral_ids: set[int] = field(default_factory=set)


def record_command(
    session: Session,
    kind: str,
    reference: str,
    occurred_on: date,
    payload: BaseModel,
    *,
    now: datetime,
    actor: Actor,
    idempotency_key: str | None = None,
) -> Command:
    """Record a command in the inbox and return it; a repeated `idempotency_key` returns
    the command recorded first and records nothing. Commits nothing."""
    if idempotency_key is not None:
        existing = session.exec(
            select(Command).where(Command.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            return existing
    command = _new_command(kind, reference, occurred_on, payload, now, actor, idempotency_key)
    session.add(command)
    session.flush()
    return command


def _new_command(
    kind: str,
    reference: str,
    occurred_on: date,
    payload: BaseModel,
    now: datetime,
    actor: Actor,
    idempotency_key: str | None = None,
) -> Command:
    return Command(
        kind=kind,
        reference=reference,
        occurred_on=occurred_on,
        payload=payload.model_dump(mode="json", exclude_none=True),
        idempotency_key=idempotency_key,
        actor=actor.name,
        role=actor.role,
        received_at=now,
    )


def execute(
    session: Session,
    kind: str,
    reference: str,
    occurred_on: date,
    payload: BaseModel,
    *,
    now: datetime,
    actor: Actor,
    registry: Registry,
    settings: Settings,
) -> tuple[Command, list[int]]:
    """Record and apply one command in `session`'s transaction: the one path on which a
    case changes (DESIGN §4.2). Does not commit.

    The caller's transaction must be a serialised writer (`models.db.write_session` or
    `begin_write`); the referral row is locked by `referral_by_reference`. Returns the
    command (``applied``) and the ids of the referrals changed. Raises what
    `apply_command` raises; the caller rolls back and nothing is written.
    """
    command = _new_command(kind, reference, occurred_on, payload, now, actor)
    # written once, with its outcome (one INSERT, not three); a refusal rolls it all back
    command.status, command.applied_at = CommandStatus.applied, now
    changed = apply_command(session, command, registry, settings, now)
    session.add(command)
    session.flush()
    return command, changed


def pending_commands(session: Session, up_to: date | None = None, limit: int = 1000) -> list[int]:
    """Ids of pending commands in arrival order, optionally only those that occurred by
    `up_to`."""
    query = select(Command.id).where(Command.status == CommandStatus.pending)
    if up_to is not None:
        query = query.where(Command.occurred_on <= up_to)
    return [i for i in session.exec(query.order_by(col(Command.id)).limit(limit)) if i]


def apply_commands(
    session_factory: Any, ids: list[int], registry: Registry, settings: Settings, now: datetime
) -> Applied:
    """Apply the commands `ids` in order, each in its own transaction."""
    result = Applied()
    for command_id in ids:
        with session_factory() as session:
            begin_write(session)
            command = session.get(Command, command_id)
            if command is None or command.status != CommandStatus.pending:
                continue
            try:
                with session.begin_nested():
                    referral_ids = apply_command(session, command, registry, settings, now)
            except (
                CommandRejected,
                InvalidTransition,
                NotFound,
                ValidationError,
                UnknownServiceType,
                IncompleteFacts,
                InvalidReport,
            ) as exc:
                command.status, command.error = CommandStatus.rejected, _message(exc)
                forget_entry_facts(command)
                audit(
                    session,
                    now,
                    Actor(command.actor, command.role),
                    "command_rejected",
                    command.referral_id,
                    command_id=command.id,
                    kind=command.kind,
                )
                result.rejected += 1
            else:
                command.status = CommandStatus.applied
                result.applied += 1
                result.referral_ids.update(referral_ids)
            command.applied_at = now
    return result


def forget_entry_facts(command: Command) -> None:
    """Drop the ``entry_facts`` of a start from the inbox once they were checked: they may
    be health data (Art. 9 DSGVO) and are not needed afterwards (§ 84 SGB X)."""
    if "entry_facts" in command.payload:
        command.payload = {k: v for k, v in command.payload.items() if k != "entry_facts"}


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc.args[0]) if exc.args else str(exc)


def apply_command(
    session: Session, command: Command, registry: Registry, settings: Settings, now: datetime
) -> list[int]:
    """Apply one recorded command; returns the ids of the referrals it changed.

    Raises `CommandRejected`, `InvalidTransition` (with state and allowed events),
    `NotFound` or a pydantic `ValidationError`; the caller rolls back and records why.
    """
    payload = PAYLOADS[command.kind].model_validate(command.payload)
    actor = Actor(command.actor, command.role)
    detail: dict[str, Any] = {}  # codes added to the decision's audit entry
    if isinstance(payload, Intake):
        _apply_intake(session, payload, command, now, actor)
        return []
    if isinstance(payload, StartReferral):
        referral = _start_referral(session, payload, command, registry, now)
        assert referral.id is not None
        try:
            decision = start(
                registry.service(referral.service_type),
                referral.id,
                command.occurred_on,
                staged=referral.staged_after_id is not None,
                entry_facts=payload.entry_facts,
            )
        except EntryRefused as refused:
            raise ExcludedAtEntry(str(refused)) from None
        forget_entry_facts(command)
    else:
        assert isinstance(payload, ReferralEvent)
        referral = _prepare_event(session, command)
        on = command.occurred_on
        decision = decide(
            case_view(session, referral, on),
            Event(payload.event, on),
            on,
            service_for(session, registry, referral),  # the version the case runs on
        )
        if payload.feedback is not None:
            _check_report(session, referral, payload, registry, on)
        _record_event_data(session, referral, payload, on, registry)
        if payload.reason_code is not None:
            detail["reason_code"] = payload.reason_code
    command.referral_id = referral.id
    session.add(command)  # written now, before the decision's audit entry locks the chain
    changed = save_decision(
        session,
        referral,
        decision,
        on=command.occurred_on,
        now=now,
        registry=registry,
        settings=settings,
        actor=actor,
        detail=detail,
    )
    if isinstance(payload, StartReferral) and referral.staged_after_id is not None:
        changed += start_staged_wait(
            session, referral, now=now, registry=registry, settings=settings
        )
    return changed


def _apply_intake(
    session: Session, payload: Intake, command: Command, now: datetime, actor: Actor
) -> None:
    facts = payload.facts
    decision = route(facts)
    customer = _customer(
        session, payload.customer_number, payload.site, _age_group(facts.age), now, actor
    )
    assert customer.id is not None
    session.add(
        IntakeDecision(
            customer_id=customer.id,
            decided_at=now,
            team=decision.team.value,
            rule=decision.rule,
            reason=decision.reason,
            facts=payload.model_dump(mode="json")["facts"],
        )
    )
    audit(
        session,
        now,
        actor,
        "intake_routed",
        None,
        customer_id=customer.id,
        team=decision.team.value,
        rule=decision.rule,
    )


def _age_group(age: int) -> str:
    return "u25" if age < 25 else "25-49" if age < 50 else "50+"


def _customer(
    session: Session, number: str, site: str, age_group: str, now: datetime, actor: Actor
) -> Customer:
    """The customer `number` of `site`, created if new; master data of a customer of
    another site is never changed (and the answer does not tell which site).

    A changed age group is written and audited (field names only). Raises
    `CommandRejected` for a customer of another site.
    """
    customer = session.exec(select(Customer).where(Customer.customer_number == number)).first()
    if customer is None:
        customer = Customer(customer_number=number, site=site, age_group=age_group)
        session.add(customer)
        session.flush()
        return customer
    if customer.site != site:
        raise CustomerOutOfScope(
            "Diese Kundennummer kann an Ihrem Standort nicht verwendet werden; ein "
            "Standortwechsel läuft über die Koordination."
        )
    if customer.age_group != age_group:
        customer.age_group = age_group
        audit(
            session,
            now,
            actor,
            "customer_updated",
            None,
            customer_id=customer.id,
            fields=["age_group"],
        )
    return customer


def _update_contact(
    session: Session, customer_id: int, payload: StartReferral, now: datetime, actor: Actor
) -> None:
    """Write the customer's contact for reminders when the referral names one; the audit
    names the changed fields, never the address."""
    if payload.contact_email is None and not payload.reminders_consented:
        return
    contact = session.get(CustomerContact, customer_id) or CustomerContact(customer_id=customer_id)
    changed = [
        name
        for name, old, new in (
            ("contact_email", contact.email, payload.contact_email),
            ("reminders_consented", contact.reminders_consented, payload.reminders_consented),
        )
        if old != new
    ]
    contact.email = payload.contact_email
    contact.reminders_consented = payload.reminders_consented
    session.add(contact)
    if changed:
        audit(
            session, now, actor, "customer_updated", None, customer_id=customer_id, fields=changed
        )


def _provider(session: Session, code: str, service_type: str, site: str) -> Provider:
    provider = session.exec(select(Provider).where(Provider.code == code)).first()
    if provider is None:
        raise CommandRejected(f"Unbekannter Träger {code!r}")
    if not provider.active:  # deactivated in the administration: keeps its running cases
        raise CommandRejected(
            f"Träger {code!r} ist deaktiviert und nimmt keine neuen Zuweisungen an"
        )
    if service_type not in provider.service_types:
        raise CommandRejected(f"Träger {code!r} erbringt keine Leistungsart {service_type!r}")
    if provider.sites and site not in provider.sites:
        raise CommandRejected(f"Träger {code!r} ist für den Standort {site!r} nicht zuständig")
    return provider


def _start_referral(
    session: Session, payload: StartReferral, command: Command, registry: Registry, now: datetime
) -> Referral:
    service = registry.service(payload.service_type)
    if session.exec(select(Referral.id).where(Referral.reference == command.reference)).first():
        raise ReferenceTaken(REFERENCE_TAKEN)
    if service.standard.consent == "required" and payload.consent is None:
        raise CommandRejected(
            f"{service.title}: Schweigepflichtentbindung (schriftlich oder elektronisch) "
            "muss vorliegen (seed 003; § 67b SGB X)"
        )
    provider = _provider(session, payload.provider_code, payload.service_type, payload.site)
    actor = Actor(command.actor, command.role)
    customer = _customer(
        session, payload.customer_number, payload.site, payload.age_group, now, actor
    )
    assert customer.id is not None
    _update_contact(session, customer.id, payload, now, actor)
    blocking = _blocking_referral(
        session, customer.id, payload.site, service, registry
    ) or _running_too_briefly(session, customer.id, payload.site, service, registry, command)
    referral = Referral(
        reference=command.reference,
        customer_id=customer.id,
        service_type=payload.service_type,
        provider_id=provider.id,
        site=payload.site,
        caseworker_email=payload.caseworker_email,
        state="new",
        state_since=command.occurred_on,
        staged_after_id=blocking.id if blocking else None,
        started_on=command.occurred_on,
        created_at=now,
        updated_at=now,
        process_version=record_version(session, service, now),  # kept for its whole run
    )
    session.add(referral)
    try:
        session.flush()
    except IntegrityError:  # taken by a concurrent request since the check above
        raise ReferenceTaken(REFERENCE_TAKEN) from None
    assert referral.id is not None
    if payload.consent is not None:
        code = payload.consent.provider_code
        named = (
            provider
            if code in (None, provider.code)
            else _provider(session, code, payload.service_type, payload.site)
        )
        session.add(
            Consent(
                referral_id=referral.id,
                provider_id=named.id,
                **payload.consent.model_dump(exclude={"provider_code"}),
            )
        )
    return referral


def _blocking_referral(
    session: Session, customer_id: int, site: str, service: ServiceConfig, registry: Registry
) -> Referral | None:
    """The customer's open referral of this site that this one waits for (seed 002 §4.2:
    Sucht vor Schulden: `service`'s ``staged_after``), not yet in a state that releases it
    (its process's ``releases_staged``); other sites' referrals are never consulted (their
    existence must not show in the answer)."""
    holding = [
        and_(
            col(Referral.service_type) == before,
            col(Referral.state).not_in(registry.service(before).process.releasing_states),
        )
        for before in service.standard.staged_after
    ]
    if not holding:
        return None
    return session.exec(
        select(Referral).where(
            Referral.customer_id == customer_id, Referral.site == site, or_(*holding)
        )
    ).first()


def _running_too_briefly(
    session: Session,
    customer_id: int,
    site: str,
    service: ServiceConfig,
    registry: Registry,
    command: Command,
) -> Referral | None:
    """Under ``staged_release: {after: weeks_in_counselling, weeks: N}`` (seed 002 §4.2):
    the customer's referral of this site of an earlier-staged Leistungsart that has been in
    counselling (a releasing state, not closed) for less than N weeks on the command's day;
    the new referral waits for the rest (`tasks.repository.start_staged_wait`)."""
    period = service.standard.staged_release.period
    if period is None:
        return None
    for before in service.standard.staged_after:
        process = registry.service(before).process
        running = [n for n in process.releasing_states if not process.states[n].final]
        for earlier in session.exec(
            select(Referral).where(
                Referral.customer_id == customer_id,
                Referral.site == site,
                Referral.service_type == before,
                col(Referral.state).in_(running),
            )
        ):
            end = due_date(
                earlier.state_since, period, service.calendar, working_days=service.working_days
            )
            if command.occurred_on <= end:
                return earlier
    return None


def _prepare_event(session: Session, command: Command) -> Referral:
    referral = referral_by_reference(session, command.reference)
    if command.occurred_on < referral.started_on:
        raise CommandRejected(
            f"Ereignisdatum {command.occurred_on:%d.%m.%Y} liegt vor Beginn der Zuweisung "
            f"({referral.started_on:%d.%m.%Y})"
        )
    return referral


def _check_report(
    session: Session, referral: Referral, payload: ReferralEvent, registry: Registry, on: date
) -> None:
    """Every reported value against the catalog of the referral's Leistungsart (seed 002
    §4.6.1, §4.6.3, §4.6.4), and status only where the standards allow a referral without
    Schweigepflichtentbindung and none for content names the provider on `on` (seed 003);
    raises `InvalidReport`."""
    assert payload.feedback is not None
    service = service_for(session, registry, referral)  # the standards it started under
    if service.standard.consent == "status_without" and not content_released(
        session, referral, referral.provider_id, on
    ):
        check_status_only(payload.feedback, service.title)
    customer = session.get(Customer, referral.customer_id)
    age_group = customer.age_group if customer is not None else "25-49"
    check_feedback(payload.feedback, referral.service_type, registry, age_group)


def _record_event_data(
    session: Session, referral: Referral, payload: ReferralEvent, on: date, registry: Registry
) -> None:
    assert referral.id is not None
    if payload.event == "appointment_booked":
        if payload.appointment_on is None:
            raise CommandRejected("appointment_on (Termin des Erstgesprächs) fehlt")
        referral.appointment_on = payload.appointment_on
    elif payload.event == "appointment_kept":
        referral.first_appointment_on = on
    elif payload.event == "provider_assigned":
        if payload.provider_code is None:
            raise CommandRejected("provider_code (neuer Träger) fehlt")
        provider = _provider(session, payload.provider_code, referral.service_type, referral.site)
        referral.provider_id = provider.id
    elif payload.event == "consent_withdrawn":
        for consent in session.exec(select(Consent).where(Consent.referral_id == referral.id)):
            if consent.withdrawn_on is None:
                consent.withdrawn_on = on
    if payload.event in service_for(session, registry, referral).process.report_events:
        feedback = payload.feedback
        if feedback is None:
            raise CommandRejected(f"{payload.event}: Angaben der Rückmeldung fehlen (feedback)")
        if feedback.need_group is not None:
            referral.need_group = feedback.need_group
        session.add(
            Feedback(
                referral_id=referral.id,
                provider_id=referral.provider_id,
                kind=payload.event,
                received_on=on,
                **feedback.model_dump(
                    mode="json",
                    include={
                        "appointment_kept",
                        "counselling_ongoing",
                        "ended",
                        "need_group",
                        "modules",
                        "content",
                    },
                ),
            )
        )
