"""Recording a Schweigepflichtentbindung: one function for the REST API and the dashboard.

``POST /api/v1/referrals/{reference}/consent`` (`api.routes.referrals.grant_consent`) and
the case page's form (`api.dashboard.caseworker`) both call `consent_writer` and run what
it returns under their idempotency key. The withdrawal is the process event
``consent_withdrawn`` (one path: `api.service.submit`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from api.limits import check_dates
from api.schemas import ConsentOut
from api.views import consent_provider
from models.clock import local_date
from models.commands import ConsentGrant
from models.settings import Settings
from models.tables import Consent, Referral, User
from tasks.repository import Actor, audit


def consent_writer(
    session: Session,
    referral: Referral,
    grant: ConsentGrant,
    *,
    user: User,
    now: datetime,
    settings: Settings,
) -> Callable[[], ConsentOut]:
    """Check `grant` for `referral` and return the write that records it (seed 003;
    § 67b SGB X); the caller runs the write in its transaction (`api.idempotency`).

    Checked first, before anything is written: the dates (`api.limits.check_dates`:
    ``granted_on`` not in the future, ``expires_on`` not before it) and the provider the
    consent names (``provider_code``, default the referral's current provider, which must
    offer the referral's Leistungsart: `api.views.consent_provider`). Raises `Problem` 422.
    The write adds a `Consent` row and the audit entry ``consent_granted`` (form, scope,
    provider id: no content) and returns the recorded consent; it does not commit.
    """
    referral_id = referral.id
    assert referral_id is not None
    check_dates(grant, local_date(now), settings)
    named = consent_provider(session, referral, grant.provider_code)

    def write() -> ConsentOut:
        fields = grant.model_dump(exclude={"provider_code"})
        session.add(Consent(referral_id=referral_id, provider_id=named.id, **fields))
        audit(
            session,
            now,
            Actor(user.username, user.role),
            "consent_granted",
            referral_id,
            form=grant.form,
            scope=grant.scope,
            provider_id=named.id,
        )
        return ConsentOut(reference=referral.reference, provider_code=named.code, **fields)

    return write
