"""Submitting a command: decide and save it in the request's own transaction.

Every write of the API goes through `submit` (DESIGN §4.2, one serialised path): the
command is recorded and applied in the request's transaction, under a lock on the
referral (`tasks.repository.referral_by_reference`; on SQLite the whole transaction is a
``BEGIN IMMEDIATE`` writer, `models.db.write_engine`), so two requests on one case are
judged one after the other. Whatever the process refuses raises before anything is
committed. What follows from the change (e-mails) is written as outbox rows
(`models.tables.Notification`) in the same transaction; after the commit, the command id
is handed to the Prefect task worker that carries them out (`api.trigger.Background`:
queued in the process, submitted in batches by a thread, never waited for). A Prefect
outage delays e-mails, never a state change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import event
from sqlmodel import Session

from api.schemas import Accepted
from api.trigger import FlowTrigger
from models.process import Registry
from models.settings import Settings
from models.tables import Referral, User
from tasks.case_card import command_step
from tasks.commands import execute
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
    """Record and apply one command in `session`'s transaction; does not commit.

    Returns the referral's new state. Raises the domain errors of
    `tasks.commands.apply_command` (mapped to 404/409/422 by `api.errors`); the caller
    rolls back, so nothing is written. After the caller commits, `trigger` hands the
    command to the follow-ups (e-mails, `flows.commands.carry_out`), without waiting.
    """
    command, changed = execute(
        session,
        submission.kind,
        submission.reference,
        submission.occurred_on,
        submission.payload,
        now=now,
        actor=Actor(user.username, user.role),
        registry=registry,
        settings=settings,
    )
    referral = session.get(Referral, command.referral_id) if command.referral_id else None
    assert command.id is not None
    command_id = command.id

    # the changed referrals are in the session already (no query; `Session.get` reads one
    # that is not)
    references = sorted(
        found.reference for found in (session.get(Referral, i) for i in changed) if found
    )

    run_name = command_step(session, command_id, registry).run_name

    def start_follow_ups(_: Session) -> None:
        trigger.start(command_id, references, name=run_name)

    event.listen(session, "after_commit", start_follow_ups, once=True)
    return Accepted(
        command_id=command_id,
        status="applied",
        reference=submission.reference,
        referral_id=command.referral_id,
        state=referral.state if referral else None,
    )
