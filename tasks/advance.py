"""The one path on which a running case moves: load, decide, save, side effects.

`advance` is called for a provider's or caseworker's event (`tasks.handlers`, from the
API and the inbox), for a timer of the deadline sweep (`tasks.sweep`) and for the release
of a staged referral (`tasks.repository`), so every state change of a running case is
judged against the process version the case runs on and saved the same way (DESIGN §4.2).
The caller holds the referral's lock and owns the transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from models.process import Registry, ServiceConfig
from models.settings import Settings
from models.statemachine import DeadlineReached, Decision, Event, decide
from models.tables import Referral
from tasks.process_versions import service_for
from tasks.repository import SYSTEM, Actor, case_view, open_deadlines, save_decision

#: Called between decide and save with the case's `ServiceConfig`, for a decision that
#: changes the case: checks and writes the event's data (`tasks.recorders`), may raise.
BeforeSave = Callable[[ServiceConfig], None]


@dataclass(frozen=True)
class Advanced:
    """What `advance` did: the decision, and the ids of the referrals changed (the case
    and any staged referral released with it)."""

    decision: Decision
    changed: list[int]


def advance(
    session: Session,
    referral: Referral,
    event: Event | DeadlineReached,
    *,
    today: date,
    now: datetime,
    registry: Registry,
    settings: Settings,
    actor: Actor = SYSTEM,
    detail: dict[str, Any] | None = None,
    before_save: BeforeSave | None = None,
) -> Advanced:
    """Apply `event` to `referral` as of `today` (local date) and save the decision.

    Loads the case's view and its process version (`service_for`), decides
    (`models.statemachine.decide`; raises `InvalidTransition` for an event the state does
    not allow), runs `before_save`, saves (`save_decision`: state, deadlines, timers,
    notifications, audit entry with `detail`, escalations settled, staged referrals
    released). The decision takes effect on its ``effective_on`` (a timer's event: the
    day after the due date), else on `today`. `now` is the moment of writing (aware).
    """
    service = service_for(session, registry, referral)
    assert referral.id is not None
    open_now = open_deadlines(session, referral.id)  # read once: for the decision and the save
    decision = decide(case_view(session, referral, today, open_now), event, today, service)
    if before_save is not None and decision.changed:
        before_save(service)
    changed = save_decision(
        session,
        referral,
        decision,
        on=decision.effective_on or today,
        now=now,
        registry=registry,
        settings=settings,
        actor=actor,
        detail=detail,
        open_now=open_now,
    )
    return Advanced(decision, changed)
