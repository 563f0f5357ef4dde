"""Eskalationen an die Koordination § 16a: auflisten, quittieren, zuweisen, erledigen."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select

from api.access import visible
from api.deps import CurrentUser, NowDep, ReadSessionDep, SessionDep, require
from api.errors import Problem
from api.idempotency import IdempotencyDep, idempotent
from api.schemas import EscalationOut, EscalationUpdate
from api.views import escalation_due_on, escalation_out
from models.clock import local_date
from models.tables import Deadline, Escalation, EscalationState, Referral, Role, User
from tasks.repository import Actor, NotFound, audit

router = APIRouter(prefix="/escalations", tags=["Eskalationen"])
Action = Literal["acknowledge", "resolve", "assign"]


@router.get("", response_model=list[EscalationOut], summary="Eskalationen auflisten")
def list_escalations(
    user: CurrentUser,
    session: ReadSessionDep,
    now: NowDep,
    state: Annotated[str | None, Query(description="open, acknowledged, resolved")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EscalationOut]:
    """Eskalationen zu überschrittenen Fristen (Mindeststandards seed 002 §4.2), neueste
    zuerst; sichtbar wie die zugehörigen Zuweisungen. Offene zählen die Tage der
    Überschreitung bis heute (`days_overdue`, `overdue_text`)."""
    query = (
        select(Escalation, col(Referral.reference), col(Deadline.due_on))
        .join(Referral, col(Referral.id) == Escalation.referral_id)
        .join(Deadline, col(Deadline.id) == Escalation.deadline_id)
        .where(visible(user))
    )
    if state:
        query = query.where(Escalation.state == state)
    rows = session.exec(query.order_by(col(Escalation.id).desc()).limit(limit)).all()
    today = local_date(now)
    session.close()  # end the read before FastAPI's thread hop (`api.deps.get_read_session`)
    return [escalation_out(e, ref, due_on=due, today=today) for e, ref, due in rows]


@router.post(
    "/{escalation_id}/{action}",
    response_model=EscalationOut,
    summary="Eskalation quittieren, zuweisen oder erledigen",
    dependencies=[require(Role.coordinator, Role.admin)],
)
def act_on_escalation(
    escalation_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    action: Action,
    user: CurrentUser,
    session: SessionDep,
    now: NowDep,
    idem: IdempotencyDep,
    body: EscalationUpdate | None = None,
) -> JSONResponse:
    """`acknowledge`: quittieren; `assign`: einer Person zuweisen (`assigned_to`);
    `resolve`: erledigen. Nur Koordination § 16a und Administration."""
    escalation, reference = escalation_for(session, user, escalation_id)

    def write() -> EscalationOut:
        change_escalation(
            session, escalation, action, user, now, body.assigned_to if body else None
        )
        due_on = escalation_due_on(session, escalation)
        return escalation_out(escalation, reference, due_on=due_on, today=local_date(now))

    return idempotent(session, user, idem, now, write, status_code=200)


def escalation_for(session: Session, user: User, escalation_id: int) -> tuple[Escalation, str]:
    """The escalation `escalation_id` and its case reference, if `user` sees the case;
    raises `NotFound` otherwise."""
    row = session.exec(
        select(Escalation, Referral.reference)
        .join(Referral, col(Referral.id) == Escalation.referral_id)
        .where(visible(user), Escalation.id == escalation_id)
        .with_for_update(of=Escalation)  # two changes of one escalation: one after the other
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise NotFound(f"Keine Eskalation {escalation_id}")
    escalation, reference = row
    return escalation, reference


def change_escalation(
    session: Session,
    escalation: Escalation,
    action: Action,
    user: User,
    now: datetime,
    assigned_to: str | None = None,
) -> None:
    """Quittieren, zuweisen (`assigned_to`, else 422) or erledigen; audited, not committed
    (the caller's `idempotent` commits the change with its answer).
    A resolved escalation is not changed again (409). Shared by the API and the dashboard;
    called inside `idempotent`, so a repeated request replays its first answer first."""
    if escalation.state == EscalationState.resolved:
        raise Problem(409, "Die Eskalation ist bereits erledigt.", state=escalation.state)
    if action == "acknowledge":
        escalation.state, escalation.acknowledged_at = EscalationState.acknowledged, now
    elif action == "resolve":
        escalation.state, escalation.resolved_at = EscalationState.resolved, now
        escalation.resolved_by = user.username
    else:
        if not assigned_to:
            raise Problem(422, "assigned_to fehlt.")
        escalation.assigned_to = assigned_to
    session.add(escalation)
    audit(
        session,
        now,
        Actor(user.username, user.role),
        f"escalation_{action}",
        escalation.referral_id,
        escalation_id=escalation.id,
    )
    session.flush()
