"""The facts of Bericht 01's phase rows ("LA n seit mehr als 90 Tagen nicht
abgeschlossen", seed 002 §4.1): the referrals of one Leistungsart in a reader's scope with
their phase periods, for `models.phases.phase_figures`. Two set-based queries."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import ColumnElement, and_, select
from sqlmodel import Session, col

from models.phases import CasePhases, PhasePeriod
from models.tables import Referral, ReferralPhase
from tasks.kennzahlen import provider_names
from tasks.read_model.scope import Scope

NO_PROVIDER = "–"


def load_case_phases(
    session: Session, scope: Scope, service_type: str, site: str | None = None
) -> list[CasePhases]:
    """The referrals of `service_type` in `scope` (and of `site`, if given) with their
    phase periods. Referrals without a phase are included: they count for no phase but
    keep their provider's column."""
    names = provider_names(session)
    condition: ColumnElement[bool] = and_(col(Referral.service_type) == service_type, scope.cases)
    if site:
        condition = and_(condition, col(Referral.site) == site)
    db = session.connection()
    periods: defaultdict[int, list[PhasePeriod]] = defaultdict(list)
    phase_rows = db.execute(
        select(
            col(ReferralPhase.referral_id),
            col(ReferralPhase.phase),
            col(ReferralPhase.begun_on),
            col(ReferralPhase.completed_on),
        )
        .join(Referral, col(ReferralPhase.referral_id) == col(Referral.id))
        .where(condition)
    )
    for referral_id, phase, begun_on, completed_on in phase_rows:
        periods[referral_id].append(PhasePeriod(phase, begun_on, completed_on))
    referral_rows = db.execute(
        select(
            col(Referral.id),
            col(Referral.provider_id),
            col(Referral.started_on),
            col(Referral.closed_on),
        ).where(condition)
    )
    return [
        CasePhases(
            names.get(provider_id, NO_PROVIDER) if provider_id is not None else NO_PROVIDER,
            started_on,
            closed_on,
            tuple(periods.get(rid, ())),
        )
        for rid, provider_id, started_on, closed_on in referral_rows
    ]
