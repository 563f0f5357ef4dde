"""The read model of the report pages (`api.dashboard.reports`): the Kennzahlen facts of
the reader's cases and the half-yearly provider report.

Every query is limited to the cases of the reader's `Scope`; the figures are computed in
the domain (`models.kennzahlen`, `models.figures.half_year`).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlmodel import Session, col

from models.figures.half_year import (
    HalfYearReport,
    ReportedFeedback,
    WorkedCase,
    group_figures,
)
from models.figures.periods import half_year, report_due
from models.kennzahlen import CaseFacts, own_vouchers_only
from models.process import Registry
from models.tables import Feedback, Referral, Role
from tasks.kennzahlen import load_case_facts, provider_names
from tasks.read_model.scope import Scope


def sites(session: Session, scope: Scope) -> list[str]:
    """The sites of the reader's cases, sorted (the choices of the Standort filter)."""
    query = select(col(Referral.site)).where(scope.cases).distinct().order_by(col(Referral.site))
    return list(session.scalars(query))


def kennzahlen_facts(
    session: Session, scope: Scope, site: str | None = None, service_type: str | None = None
) -> list[CaseFacts]:
    """The `CaseFacts` of the reader's cases (of `site` and `service_type` when given); a
    provider's without the vouchers its rerouted cases had at another provider."""
    where: ColumnElement[bool] = scope.cases
    if site:
        where = and_(where, col(Referral.site) == site)
    if service_type:
        where = and_(where, col(Referral.service_type) == service_type)
    facts = load_case_facts(session, where)
    return own_vouchers_only(facts) if scope.user.role == Role.provider else facts


def half_year_report(
    session: Session, scope: Scope, registry: Registry, year: int, half: int, today: date
) -> HalfYearReport:
    """Cases worked, closed cases and average booked hours per provider and HBG
    (definitions: `models.figures.half_year`); `provisional` until the Stichtag is past.

    A provider reading its own report sees the classifications and hours of its own
    reports only (`tasks.visibility`: a rerouted case's earlier reports by another provider
    are status only for it), and no fallback to the referral's current HBG.
    """
    start, end = half_year(year, half)
    worked = and_(
        scope.cases,
        col(Referral.provider_id).is_not(None),
        col(Referral.first_appointment_on) <= end,
        or_(col(Referral.closed_on).is_(None), col(Referral.closed_on) >= start),
    )
    cases = [
        WorkedCase(rid, provider_id, service_type, need_group, closed_on)
        for rid, provider_id, service_type, need_group, closed_on in session.execute(
            select(
                col(Referral.id),
                col(Referral.provider_id),
                col(Referral.service_type),
                col(Referral.need_group),
                col(Referral.closed_on),
            ).where(worked)
        )
    ]
    feedback = [
        ReportedFeedback(rid, received_on, need_group, modules)
        for rid, received_on, need_group, modules in session.execute(
            select(
                col(Feedback.referral_id),
                col(Feedback.received_on),
                col(Feedback.need_group),
                col(Feedback.modules),
            )
            .join(Referral, col(Feedback.referral_id) == col(Referral.id))
            .where(worked, col(Feedback.received_on) <= end, _own_reports(scope))
            .order_by(col(Feedback.referral_id), col(Feedback.received_on), col(Feedback.id))
        )
    ]
    providers = group_figures(
        registry,
        provider_names(session),
        cases,
        feedback,
        start,
        end,
        current_group_fallback=scope.user.role != Role.provider,
    )
    land = next(iter(registry.services.values())).land if registry.services else "NW"
    return HalfYearReport(
        year, half, start, end, report_due(end, land), provisional=today <= end, providers=providers
    )


def _own_reports(scope: Scope) -> ColumnElement[bool]:
    """For a provider: only the reports it wrote; for everyone else: every report."""
    if scope.user.role == Role.provider:
        return col(Feedback.provider_id) == (scope.user.provider_id or -1)
    return true()
