"""Recording commands in the inbox and applying them to the referrals.

A command is first recorded (`record_command`, durable, idempotent by key); applying it
(`apply_command`) validates its payload (`PAYLOADS`, by ``Command.kind``) and calls the
handler of the payload's type (`tasks.handlers.HANDLERS`): the Eingangszone routing, a new
referral, or an event on the one path of a case (`tasks.advance.advance`). A command the
process does not allow is kept as ``rejected`` with the reason. The API applies a command
in its request (`execute`), the flows and the demo from the inbox (`apply_commands`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, select

from models.commands import Intake, ReferralEvent, StartReferral
from models.db import begin_write
from models.process import Registry, UnknownServiceType
from models.report_checks import InvalidReport
from models.routing import IncompleteFacts
from models.settings import Settings
from models.statemachine import InvalidTransition
from models.tables import Command, CommandStatus
from tasks.handlers import HANDLERS, Context, check_handlers, forget_entry_facts
from tasks.rejections import (
    REFERENCE_TAKEN,
    CommandRejected,
    CustomerOutOfScope,
    ExcludedAtEntry,
    ReferenceTaken,
)
from tasks.repository import Actor, NotFound, audit

PAYLOADS: dict[str, type[BaseModel]] = {
    "intake": Intake,
    "start_referral": StartReferral,
    "event": ReferralEvent,
}
"""The payload type of each command kind (``Command.kind``, kept in the inbox's rows)."""

check_handlers(PAYLOADS.values(), HANDLERS)  # a kind without a handler fails at import

__all__ = [
    "PAYLOADS",
    "REFERENCE_TAKEN",
    "Applied",
    "CommandRejected",
    "CustomerOutOfScope",
    "ExcludedAtEntry",
    "ReferenceTaken",
    "apply_command",
    "apply_commands",
    "execute",
    "forget_entry_facts",
    "pending_commands",
    "record_command",
]


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


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc.args[0]) if exc.args else str(exc)


def apply_command(
    session: Session, command: Command, registry: Registry, settings: Settings, now: datetime
) -> list[int]:
    """Apply one recorded command by the handler of its payload type (`HANDLERS`);
    returns the ids of the referrals it changed.

    Raises `CommandRejected`, `InvalidTransition` (with state and allowed events),
    `NotFound` or a pydantic `ValidationError`; the caller rolls back and records why.
    """
    payload = PAYLOADS[command.kind].model_validate(command.payload)
    handler = HANDLERS[type(payload)]
    return handler(Context(session, command, registry, settings, now), payload)
