"""Who sees and changes which case (issue: access control).

A provider sees the cases assigned to it, a caseworker those of their site, a
coordinator and an admin those of the Kommune. A case outside a user's view answers 404,
so its existence does not leak.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, true
from sqlmodel import Session, select

from api.errors import Problem
from models.commands import ReferralEvent
from models.process import ServiceConfig
from models.tables import Referral, Role, User
from tasks.read_model.scope import Scope
from tasks.repository import NotFound


def visible(user: User) -> ColumnElement[bool]:
    """The condition on `Referral` that selects the cases `user` may see."""
    if user.role == Role.provider:
        return Referral.provider_id == (user.provider_id or -1)  # type: ignore[return-value]
    if user.role == Role.caseworker:
        return Referral.site == (user.site or "")  # type: ignore[return-value]
    return true()


def scope(user: User) -> Scope:
    """`user` and the condition `visible(user)`, for the read model (`tasks.read_model`)."""
    return Scope(user, visible(user))


def referral_for(session: Session, user: User, reference: str) -> Referral:
    """The referral `reference` if `user` may see it; raises `NotFound` otherwise."""
    found = session.exec(select(Referral).where(visible(user), Referral.reference == reference))
    referral: Referral | None = found.first()
    if referral is None:
        raise NotFound(f"Keine Zuweisung mit Aktenzeichen {reference!r}")
    return referral


def check_may_report(user: User, service: ServiceConfig, event: str) -> None:
    """403 unless the process lets `user`'s role report `event` (``by`` in the YAML)."""
    if user.role == Role.admin:
        return
    allowed = {t.event for t in service.process.transitions if user.role in t.by}
    if event not in allowed:
        raise Problem(
            403,
            f"Das Ereignis {event!r} darf Ihre Rolle ({user.role}) nicht melden.",
            allowed_for_role=sorted(allowed),
        )


def check_event(service: ServiceConfig, payload: ReferralEvent) -> None:
    """422 unless `service`'s process knows the event of `payload` and the event may carry
    what `payload` brings: a ``reason_code`` only with ``reason_code: true`` in the YAML."""
    known = {t.event for t in service.process.transitions}
    if payload.event not in known:
        raise Problem(422, f"Unbekanntes Ereignis {payload.event!r}", known=sorted(known))
    if payload.reason_code is not None and payload.event not in service.process.reason_events:
        raise Problem(
            422,
            f"Das Ereignis {payload.event!r} hat keinen Ablehnungsgrund (reason_code)",
            with_reason_code=sorted(service.process.reason_events),
        )


def check_may_start(user: User, site: str) -> None:
    """Intakes and referrals are made by caseworkers of the site (or admins)."""
    if user.role == Role.admin:
        return
    if user.role != Role.caseworker:
        raise Problem(403, "Zuweisungen legen Integrationsfachkräfte an.")
    if user.site != site:
        raise Problem(403, f"Sie sind nicht für den Standort {site!r} zuständig.")
