"""The read model of the Eintrittsplanung (`api.dashboard.planning`): the Soll entered per
site and month (`IntakePlan`) and the Ist counted from the referrals' start dates in the
reader's `Scope`; the tables are computed by `models.figures.planning`.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import extract, func
from sqlmodel import Session, col, select

from models.figures.planning import Planning, build_planning, months_with_ist
from models.tables import IntakePlan, Referral, Role
from tasks.read_model.scope import Scope


def load_planning(
    session: Session, scope: Scope, year: int, service_type: str, today: date
) -> Planning:
    """Soll from `IntakePlan`, Ist from `Referral.started_on`, within the reader's `scope`
    (a caseworker: the Soll and rows of their own site only)."""
    user = scope.user
    plans = select(IntakePlan).where(
        IntakePlan.year == year, IntakePlan.service_type == service_type
    )
    if user.role == Role.caseworker:
        plans = plans.where(IntakePlan.site == (user.site or ""))
    soll = {(p.site, p.month): p.planned for p in session.exec(plans)}
    month = extract("month", col(Referral.started_on))
    counted = session.exec(
        select(Referral.site, month, func.count())
        .where(
            scope.cases,
            Referral.service_type == service_type,
            col(Referral.started_on) >= date(year, 1, 1),
            col(Referral.started_on) <= date(year, 12, 31),
        )
        .group_by(Referral.site, month)
    )
    ist = {(site, int(m)): int(n) for site, m, n in counted}
    sites = [user.site] if user.role == Role.caseworker and user.site else []
    return build_planning(year, service_type, soll, ist, months_with_ist(year, today), sites=sites)


def known_sites(session: Session) -> list[str]:
    """Sites of existing referrals and plans (choices of the Soll form)."""
    referred = session.exec(select(Referral.site).distinct())
    planned = session.exec(select(IntakePlan.site).distinct())
    return sorted({*referred, *planned}, key=str.casefold)


def plan_of(session: Session, year: int, service_type: str, site: str) -> list[int]:
    """The twelve Soll values of `site` (0 where none is planned)."""
    found = {
        p.month: p.planned
        for p in session.exec(
            select(IntakePlan).where(
                IntakePlan.year == year,
                IntakePlan.service_type == service_type,
                IntakePlan.site == site,
            )
        )
    }
    return [found.get(m, 0) for m in range(1, 13)]
