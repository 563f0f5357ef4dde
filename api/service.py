"""Submitting a command: validate against the process, record, apply or start its flow.

Every write of the API goes through `submit`. The command is applied inside a savepoint
first: whatever the process would refuse (wrong state, unknown provider, missing consent)
is refused now with nothing written. Then it is recorded in the inbox and committed (a
2xx answer means it is durable), and applied in process or by its Prefect flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel
from sqlmodel import Session

from api.schemas import Accepted
from api.trigger import FlowTrigger
from models.process import Registry
from models.settings import Settings
from models.tables import CommandStatus, Referral, User
from tasks.commands import apply_command, record_command
from tasks.repository import Actor


@dataclass(frozen=True)
class Submission:
    kind: str
    reference: str
    occurred_on: date
    payload: BaseModel


def submit(
    session: Session,
    submission: Submission,
    *,
    user: User,
    now: datetime,
    registry: Registry,
    settings: Settings,
    trigger: FlowTrigger,
) -> Accepted:
    """Validate, record and apply (or start the flow for) one command.

    Raises the domain errors of `tasks.commands.apply_command` (mapped to 404/409/422 by
    `api.errors`); then nothing is recorded. Commits the session.
    """
    command = record_command(
        session,
        submission.kind,
        submission.reference,
        submission.occurred_on,
        submission.payload,
        now=now,
        actor=Actor(user.username, user.role),
    )
    savepoint = session.begin_nested()
    apply_command(session, command, registry, settings, now)
    referral_id = command.referral_id
    if trigger.in_process:
        savepoint.commit()
        command.status, command.applied_at = CommandStatus.applied, now
    else:  # a dry run: the flow applies it; a new referral gets its id only then
        savepoint.rollback()
        if submission.kind == "start_referral":
            referral_id = None
        command.referral_id = referral_id
    referral = session.get(Referral, referral_id) if referral_id and trigger.in_process else None
    state = referral.state if referral else None
    session.commit()
    assert command.id is not None
    flow_run_id = trigger.start(command.id, referral_id)
    return Accepted(
        command_id=command.id,
        status="applied" if trigger.in_process else "pending",
        reference=submission.reference,
        referral_id=referral_id,
        state=state,
        flow_run_id=flow_run_id,
    )
