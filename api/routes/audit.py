"""Audit-Protokoll (nur Koordination und Administration)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from api.deps import ReadSessionDep, require
from api.schemas import AuditOut
from models.tables import AuditEvent, Role

router = APIRouter(prefix="/audit", tags=["Audit"])


@router.get(
    "",
    response_model=list[AuditOut],
    summary="Audit-Protokoll lesen",
    dependencies=[require(Role.coordinator, Role.admin)],
)
def read_audit(
    session: ReadSessionDep,
    referral_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    actor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[AuditOut]:
    """Unveränderliches Protokoll aller Schreibvorgänge und Lesezugriffe auf Inhalte von
    Rückmeldungen: wer, wann, was, in welcher Rolle; neueste zuerst."""
    query = select(AuditEvent)
    if referral_id is not None:
        query = query.where(AuditEvent.referral_id == referral_id)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if before_id:
        query = query.where(col(AuditEvent.id) < before_id)
    rows = session.exec(query.order_by(col(AuditEvent.id).desc()).limit(limit))
    entries = [AuditOut.model_validate(row, from_attributes=True) for row in rows]
    session.close()  # end the read before FastAPI's thread hop (`api.deps.get_read_session`)
    return entries
