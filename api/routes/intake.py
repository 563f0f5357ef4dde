"""Eingangszone: Routing eines (Neu-)Kunden (seed 002 §4.4.1, Anlage 6)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.access import check_may_start
from api.deps import (
    CurrentUser,
    NowDep,
    RegistryDep,
    SessionDep,
    SettingsDep,
    TriggerDep,
    require,
)
from api.idempotency import IdempotencyDep, idempotent
from api.limits import check_dates
from api.schemas import IntakeIn, RoutingOut
from api.service import Submission, submit
from models.clock import local_date
from models.commands import Intake
from models.routing import route
from models.tables import Role

router = APIRouter(tags=["Eingangszone"])


@router.post(
    "/intake",
    response_model=RoutingOut,
    status_code=201,
    dependencies=[require(Role.caseworker, Role.admin)],
    summary="Kunden in der Eingangszone zuordnen",
)
def intake(
    body: IntakeIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    trigger: TriggerDep,
    now: NowDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Ordnet den Kunden nach dem Eingangszonenfilter (Regeln 1.1 a/b, 1.2 a–l, 1.3) einem
    Team zu und nennt die Regel, die gegriffen hat (seed 002 §4.4.1, Anlage 6). Die
    Entscheidung wird gespeichert (Prozessdaten ohne Namen)."""
    check_may_start(user, body.site)
    check_dates(body, local_date(now), settings)
    payload = Intake.model_validate(body.model_dump(exclude={"occurred_on"}))
    decision = route(payload.facts)

    def write() -> RoutingOut:
        accepted = submit(
            session,
            Submission(
                "intake", payload.customer_number, body.occurred_on or local_date(now), payload
            ),
            user=user,
            now=now,
            registry=registry,
            settings=settings,
            trigger=trigger,
        )
        return RoutingOut(
            team=decision.team.value,
            team_title=decision.team.label,
            rule=decision.rule,
            reason=decision.reason,
            source=decision.source,
            command_id=accepted.command_id,
        )

    return idempotent(session, user, idem, now, write, status_code=201)
