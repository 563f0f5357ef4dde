"""Loading the Kennzahlen facts (seed 002 §4.1, Bericht 01) from the database.

A few set-based queries, not one per referral: it must stay fast with 100,000 cases.
Used by the demo report and the dashboard's read model (`tasks.read_model.reports`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Connection, Result, Select, case, func, select, true
from sqlmodel import Session, col

from models.kennzahlen import NO_PROVIDER, CaseFacts, VoucherFacts
from models.tables import Customer, Escalation, EscalationState, Provider, Referral, Voucher


def provider_names(session: Session) -> dict[int, str]:
    """Provider id -> display name; a name used twice gets its code appended (as in
    Bericht 01: "Caritas (CAR2)"). Used by every report that names providers."""
    query = select(col(Provider.id), col(Provider.code), col(Provider.name))
    providers = session.connection().execute(query).all()
    counts = Counter(name for _, _, name in providers)
    return {
        pid: name if counts[name] == 1 else f"{name} ({code})"
        for pid, code, name in providers
        if pid is not None
    }


Row = TypeVarTuple("Row")


def _restricted(
    db: Connection,
    query: Select[tuple[*Row]],
    where: ColumnElement[bool] | None,
    referral_id: Any,
) -> Result[tuple[*Row]]:
    """Run `query`; with `where`, only for the referrals it selects (joined on `referral_id`)."""
    if where is not None:
        query = query.join(Referral, referral_id == col(Referral.id)).where(where)
    return db.execute(query)


def load_case_facts(session: Session, where: ColumnElement[bool] | None = None) -> list[CaseFacts]:
    """The referrals as `CaseFacts`, with their vouchers and escalation counts (4 queries).

    `where` is a SQL condition on `Referral` (e.g. `api.access.visible(user)` and a site)
    that restricts which referrals are loaded; all of them by default.
    """
    names = provider_names(session)
    db = session.connection()  # Core rows: no ORM objects for 100,000 referrals

    def name(provider_id: int | None) -> str:
        return names.get(provider_id, NO_PROVIDER) if provider_id is not None else NO_PROVIDER

    vouchers: defaultdict[int, list[VoucherFacts]] = defaultdict(list)
    voucher_rows = _restricted(
        db,
        select(
            col(Voucher.referral_id),
            col(Voucher.provider_id),
            col(Voucher.issued_on),
            col(Voucher.status),
        ).order_by(col(Voucher.referral_id), col(Voucher.issued_on), col(Voucher.id)),
        where,
        col(Voucher.referral_id),
    )
    for referral_id, provider_id, issued_on, status in voucher_rows:
        vouchers[referral_id].append(VoucherFacts(issued_on, str(status), name(provider_id)))

    unresolved = case((col(Escalation.state) != EscalationState.resolved.value, 1), else_=0)
    escalations = {
        referral_id: (int(total), int(open_ or 0))
        for referral_id, total, open_ in _restricted(
            db,
            select(col(Escalation.referral_id), func.count(), func.sum(unresolved)).group_by(
                col(Escalation.referral_id)
            ),
            where,
            col(Escalation.referral_id),
        )
    }

    referral_rows = db.execute(
        select(
            col(Referral.id),
            col(Referral.provider_id),
            col(Referral.service_type),
            col(Referral.site),
            col(Customer.age_group),
            col(Referral.state),
            col(Referral.state_since),
            col(Referral.started_on),
            col(Referral.first_appointment_on),
            col(Referral.closed_on),
            col(Referral.outcome),
        )
        .join(Customer, col(Referral.customer_id) == col(Customer.id))
        .where(true() if where is None else where)
        .order_by(col(Referral.id))
    )
    facts: list[CaseFacts] = []
    for (
        rid,
        provider_id,
        service_type,
        site,
        age_group,
        state,
        state_since,
        started_on,
        first_appointment_on,
        closed_on,
        outcome,
    ) in referral_rows:
        assert rid is not None
        total, open_ = escalations.get(rid, (0, 0))
        facts.append(
            CaseFacts(
                referral_id=rid,
                provider=name(provider_id),
                service_type=service_type,
                site=site,
                age_group=age_group,
                state=state,
                state_since=state_since,
                started_on=started_on,
                first_appointment_on=first_appointment_on,
                closed_on=closed_on,
                outcome=outcome,
                vouchers=tuple(vouchers.get(rid, ())),
                escalations=total,
                open_escalations=open_,
            )
        )
    return facts
