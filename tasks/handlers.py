"""The command handlers: one per payload type, looked up in `HANDLERS`.

`tasks.commands.apply_command` validates a recorded command into its payload type
(`tasks.commands.PAYLOADS`) and calls the handler of that type: the Eingangszone routing
(`Intake`), a new referral (`StartReferral`) or an event of a running one
(`ReferralEvent`, on the one path `tasks.advance.advance`). A handler returns the ids of
the referrals it changed and raises a `tasks.rejections.CommandRejected` (or the state
machine's, pydantic's or the catalog's error) for a command it refuses; the caller rolls
back. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, and_, col, or_, select

from models.calendar import due_date
from models.commands import Intake, ReferralEvent, StartReferral
from models.process import Registry, ServiceConfig
from models.routing import route
from models.settings import Settings
from models.statemachine import Decision, EntryRefused, Event, start
from models.tables import Command, Consent, IntakeDecision, Referral
from tasks.advance import advance
from tasks.master_data import age_group, customer, provider, update_contact
from tasks.process_versions import record_version
from tasks.recorders import record_event
from tasks.rejections import REFERENCE_TAKEN, CommandRejected, ExcludedAtEntry, ReferenceTaken
from tasks.repository import Actor, audit, referral_by_reference, save_decision, start_staged_wait


@dataclass(frozen=True)
class Context:
    """What every handler is given besides its payload: the transaction, the recorded
    command, the definitions, the settings and the moment of writing (aware)."""

    session: Session
    command: Command
    registry: Registry
    settings: Settings
    now: datetime

    @property
    def actor(self) -> Actor:
        return Actor(self.command.actor, self.command.role)

    def attach(self, referral: Referral) -> None:
        """Name `referral` on the command and write the command now, before the
        decision's audit entry locks the chain."""
        self.command.referral_id = referral.id
        self.session.add(self.command)

    def save(self, referral: Referral, decision: Decision) -> list[int]:
        """Save a referral's first `decision` (`save_decision`), on the command's day."""
        return save_decision(
            self.session,
            referral,
            decision,
            on=self.command.occurred_on,
            now=self.now,
            registry=self.registry,
            settings=self.settings,
            actor=self.actor,
        )


Handler = Callable[[Context, Any], list[int]]


def handle_intake(ctx: Context, payload: Intake) -> list[int]:
    """Eingangszone: route the customer to a team (seed 002 §4.4.1, Anlage 6) and keep the
    decision with the facts; creates or updates the customer, changes no referral."""
    decision = route(payload.facts)
    group = age_group(payload.facts.age)
    found = customer(ctx.session, payload.customer_number, payload.site, group, ctx.now, ctx.actor)
    assert found.id is not None
    ctx.session.add(
        IntakeDecision(
            customer_id=found.id,
            decided_at=ctx.now,
            team=decision.team.value,
            rule=decision.rule,
            reason=decision.reason,
            facts=payload.model_dump(mode="json")["facts"],
        )
    )
    routed = {"team": decision.team.value, "rule": decision.rule}
    audit(ctx.session, ctx.now, ctx.actor, "intake_routed", None, customer_id=found.id, **routed)
    return []


def handle_start(ctx: Context, payload: StartReferral) -> list[int]:
    """Bedarfsfeststellung: a new referral with its Gutschein and Fristen, or staged after
    an earlier Leistungsart (seed 002 §4.2); its entry facts are checked, then forgotten."""
    referral = new_referral(ctx, payload)
    assert referral.id is not None
    service = ctx.registry.service(referral.service_type)
    staged, on = referral.staged_after_id is not None, ctx.command.occurred_on
    try:
        decision = start(service, referral.id, on, staged=staged, entry_facts=payload.entry_facts)
    except EntryRefused as refused:
        raise ExcludedAtEntry(str(refused)) from None
    forget_entry_facts(ctx.command)
    ctx.attach(referral)
    changed = ctx.save(referral, decision)
    if staged:  # counted from the earlier one's counselling, if it runs already
        changed += start_staged_wait(
            ctx.session, referral, now=ctx.now, registry=ctx.registry, settings=ctx.settings
        )
    return changed


def handle_event(ctx: Context, payload: ReferralEvent) -> list[int]:
    """An event of a running referral, on the one path of every case change
    (`tasks.advance.advance`); what it carries is checked and written between decide and
    save (`tasks.recorders.record_event`)."""
    referral = running_referral(ctx.session, ctx.command)
    on = ctx.command.occurred_on

    def record(service: ServiceConfig) -> None:
        record_event(ctx.session, referral, payload, on, service, ctx.registry)
        ctx.attach(referral)

    detail = payload.model_dump(include={"reason_code", "phase", "phase_step"}, exclude_none=True)
    return advance(
        ctx.session,
        referral,
        Event(payload.event, on),
        today=on,
        now=ctx.now,
        registry=ctx.registry,
        settings=ctx.settings,
        actor=ctx.actor,
        detail=detail,
        before_save=record,
    ).changed


HANDLERS: dict[type[BaseModel], Handler] = {
    Intake: handle_intake,
    StartReferral: handle_start,
    ReferralEvent: handle_event,
}
"""The handler of each command payload type (`tasks.commands.PAYLOADS`)."""


def check_handlers(payloads: Iterable[type[BaseModel]], handlers: Mapping[type, Handler]) -> None:
    """Raise `TypeError` naming every payload type without a handler (called at import of
    `tasks.commands`, so a new command kind without one cannot start)."""
    missing = sorted(p.__name__ for p in payloads if p not in handlers)
    if missing:
        raise TypeError(f"kein Handler für die Befehlsart(en): {', '.join(missing)}")


def forget_entry_facts(command: Command) -> None:
    """Drop the ``entry_facts`` of a start from the inbox once they were checked: they may
    be health data (Art. 9 DSGVO) and are not needed afterwards (§ 84 SGB X)."""
    if "entry_facts" in command.payload:
        command.payload = {k: v for k, v in command.payload.items() if k != "entry_facts"}


def running_referral(session: Session, command: Command) -> Referral:
    """The referral the event `command` is about, locked; raises `NotFound`, or
    `CommandRejected` for an event dated before the referral started."""
    referral = referral_by_reference(session, command.reference)
    if command.occurred_on < referral.started_on:
        raise CommandRejected(
            f"Ereignisdatum {command.occurred_on:%d.%m.%Y} liegt vor Beginn der Zuweisung "
            f"({referral.started_on:%d.%m.%Y})"
        )
    return referral


def new_referral(ctx: Context, payload: StartReferral) -> Referral:
    """The referral `payload` starts, written with its consent, on the current version of
    its Leistungsart; staged after the customer's referral it waits for, if any. Raises
    `CommandRejected` (taken Aktenzeichen, consent required, Träger not allowed)."""
    session, command, registry = ctx.session, ctx.command, ctx.registry
    service = registry.service(payload.service_type)
    if session.exec(select(Referral.id).where(Referral.reference == command.reference)).first():
        raise ReferenceTaken(REFERENCE_TAKEN)
    if service.standard.consent == "required" and payload.consent is None:
        raise CommandRejected(
            f"{service.title}: Schweigepflichtentbindung (schriftlich oder elektronisch) "
            "muss vorliegen (seed 003; § 67b SGB X)"
        )
    chosen = provider(session, payload.provider_code, payload.service_type, payload.site)
    found = customer(
        session, payload.customer_number, payload.site, payload.age_group, ctx.now, ctx.actor
    )
    assert found.id is not None
    update_contact(session, found.id, payload, ctx.now, ctx.actor)
    blocking = _blocking_referral(
        session, found.id, payload.site, service, registry
    ) or _running_too_briefly(session, found.id, payload.site, service, registry, command)
    referral = Referral(
        reference=command.reference,
        customer_id=found.id,
        service_type=payload.service_type,
        provider_id=chosen.id,
        site=payload.site,
        caseworker_email=payload.caseworker_email,
        state="new",  # not a process state: `start` decides the first one
        state_since=command.occurred_on,
        staged_after_id=blocking.id if blocking else None,
        started_on=command.occurred_on,
        created_at=ctx.now,
        updated_at=ctx.now,
        process_version=record_version(session, service, ctx.now),  # kept for its whole run
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
            chosen
            if code in (None, chosen.code)
            else provider(session, code, payload.service_type, payload.site)
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
