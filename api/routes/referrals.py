"""Zuweisungen: anlegen, suchen, lesen; Ereignisse; Schweigepflichtentbindung."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlmodel import col, func, select

from api.access import check_event, check_may_report, check_may_start, referral_for, visible
from api.consents import consent_writer
from api.deps import (
    CurrentUser,
    NowDep,
    ReadSessionDep,
    RegistryDep,
    SessionDep,
    SettingsDep,
    TriggerDep,
    require,
)
from api.idempotency import IdempotencyDep, idempotent
from api.limits import check_dates
from api.schemas import (
    Accepted,
    ConsentIn,
    ConsentOut,
    EventIn,
    ReferralIn,
    ReferralOut,
    ReferralSummary,
)
from api.service import Submission, submit
from api.views import detail, provider_codes, summary
from models.clock import local_date
from models.commands import ReferralEvent, StartReferral
from models.tables import Deadline, DeadlineState, Provider, Referral, Role
from tasks.process_versions import service_for

router = APIRouter(prefix="/referrals", tags=["Zuweisungen"])


@router.post(
    "",
    response_model=Accepted,
    status_code=202,
    summary="Zuweisung anlegen (Bedarfsfeststellung, Gutschein)",
    responses={409: {"description": "Aktenzeichen vergeben"}, 422: {"description": "Ungültig"}},
)
def create_referral(
    body: ReferralIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    trigger: TriggerDep,
    now: NowDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Legt eine Zuweisung zu einer kommunalen Eingliederungsleistung an und gibt den
    Gutschein an den Träger aus (Zuweisungsverfahren, seed 002 §4.3). Die Fristen der
    Mindeststandards (seed 002 §4.2) laufen ab `occurred_on` (§ 26 SGB X). Sucht und
    psychosoziale Betreuung verlangen eine Schweigepflichtentbindung (seed 003)."""
    check_may_start(user, body.site)
    check_dates(body, local_date(now), settings)
    registry.service(body.service_type)
    reference = body.reference or f"Z-{local_date(now):%Y}-{secrets.token_hex(4).upper()}"
    payload = StartReferral.model_validate(body.model_dump(exclude={"reference", "occurred_on"}))
    submission = Submission(
        "start_referral", reference, body.occurred_on or local_date(now), payload
    )

    def write() -> Accepted:  # a taken Aktenzeichen answers 409 (tasks.commands.ReferenceTaken)
        return submit(
            session,
            submission,
            user=user,
            now=now,
            registry=registry,
            settings=settings,
            trigger=trigger,
        )

    return idempotent(session, user, idem, now, write)


@router.get("", response_model=list[ReferralSummary], summary="Zuweisungen suchen")
def list_referrals(
    user: CurrentUser,
    session: ReadSessionDep,
    registry: RegistryDep,
    now: NowDep,
    state: str | None = None,
    service_type: str | None = None,
    provider: Annotated[str | None, Query(description="Träger-Kürzel")] = None,
    site: str | None = None,
    overdue: Annotated[bool | None, Query(description="nur mit überfälliger Frist")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[ReferralSummary]:
    """Die Zuweisungen, die Sie sehen dürfen (Träger: eigene; IFK: eigener Standort;
    Koordination: alle), gefiltert nach Zustand, Leistungsart, Träger, Standort und
    überfälligen Fristen."""
    today = local_date(now)
    overdue_count = (
        select(func.count(col(Deadline.id)))
        .where(
            Deadline.referral_id == Referral.id,
            Deadline.state == DeadlineState.open,
            Deadline.due_on < today,
        )
        .correlate(Referral)
        .scalar_subquery()
    )
    query = select(Referral, overdue_count).where(visible(user))
    if state:
        query = query.where(Referral.state == state)
    if service_type:
        query = query.where(Referral.service_type == service_type)
    if site:
        query = query.where(Referral.site == site)
    if provider:
        query = query.join(Provider, col(Provider.id) == Referral.provider_id).where(
            Provider.code == provider
        )
    if overdue is not None:
        query = query.where(overdue_count > 0 if overdue else overdue_count == 0)
    rows = session.exec(query.order_by(col(Referral.id)).offset(offset).limit(limit)).all()
    codes = provider_codes(session)
    found = [  # titles of each case's process version (each looked up once, then cached)
        summary(referral, service_for(session, registry, referral), codes, count)
        for referral, count in rows
    ]
    session.close()  # end the read before FastAPI's thread hop (`api.deps.get_read_session`)
    return found


@router.get("/{reference}", response_model=ReferralOut, summary="Zuweisung lesen")
def read_referral(
    reference: str, user: CurrentUser, session: SessionDep, registry: RegistryDep, now: NowDep
) -> ReferralOut:
    """Eine Zuweisung mit Verlauf, Fristen, Eskalationen, Gutscheinen und Rückmeldungen.
    Inhalte der Rückmeldungen nur mit gültiger Schweigepflichtentbindung (seed 003;
    § 67b SGB X); jeder Lesezugriff auf Inhalte wird protokolliert."""
    return detail(session, referral_for(session, user, reference), registry, user, now)


@router.post(
    "/{reference}/events",
    response_model=Accepted,
    status_code=202,
    summary="Ereignis melden",
    responses={409: {"description": "Im aktuellen Zustand nicht zulässig"}},
)
def report_event(
    reference: str,
    body: EventIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    trigger: TriggerDep,
    now: NowDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Meldet ein Ereignis: Termin vereinbart/wahrgenommen/nicht wahrgenommen, Gutschein
    ungültig zurückgegeben, Ablehnung durch den Träger, neuer Träger, Rückmeldung,
    Zwischen-/Ergebnismeldung, Abschlussbericht, Widerruf der Schweigepflichtentbindung,
    Abbruch, Rückzug, Abschluss. Ein im Zustand nicht zulässiges Ereignis wird mit 409
    abgelehnt (Zustand und zulässige Ereignisse werden genannt)."""
    referral = referral_for(session, user, reference)
    service = registry.service(referral.service_type)
    payload = ReferralEvent.model_validate(body.model_dump(exclude={"occurred_on"}))
    check_event(service, payload)  # known to the process, carrying what it may
    check_may_report(user, service, body.event)
    on = body.occurred_on or local_date(now)
    check_dates(body, local_date(now), settings)  # not in the future, appointment_on bounded
    submission = Submission("event", reference, on, payload)
    return idempotent(
        session,
        user,
        idem,
        now,
        lambda: submit(
            session,
            submission,
            user=user,
            now=now,
            registry=registry,
            settings=settings,
            trigger=trigger,
        ),
    )


@router.post(
    "/{reference}/consent",
    status_code=201,
    response_model=ConsentOut,
    summary="Schweigepflichtentbindung erteilen",
    dependencies=[require(Role.caseworker, Role.admin)],
)
def grant_consent(
    reference: str,
    body: ConsentIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Hinterlegt eine schriftliche oder elektronische Schweigepflichtentbindung mit
    Umfang und Ablaufdatum (seed 003; § 67b SGB X). Widerruf: Ereignis
    `consent_withdrawn`. Die Entbindung nennt einen Träger (`provider_code`, Standard:
    der aktuelle Träger des Falls); nur diesem gibt sie Inhalte frei."""
    referral = referral_for(session, user, reference)
    write = consent_writer(session, referral, body, user=user, now=now, settings=settings)
    return idempotent(session, user, idem, now, write, status_code=201)
