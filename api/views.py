"""Read models: a referral with its deadlines, escalations, vouchers, feedback, timeline.

Report content and need group follow `tasks.visibility`: the provider who wrote a report
reads it; anyone else (a later provider, the jobcenter) only with a Schweigepflichtentbindung
of scope content that names the reading provider, or for the jobcenter the writing
provider (seed 003, Wiesbaden; § 67b SGB X). Every read of content is written to the audit
trail.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, col, select

from api.errors import Problem
from api.schemas import (
    DeadlineOut,
    EscalationOut,
    FeedbackOut,
    ReferralOut,
    ReferralSummary,
    TimelineEntry,
    VoucherOut,
)
from models.clock import local_date
from models.process import Registry, ServiceConfig
from models.statemachine import allowed_events
from models.tables import (
    AuditEvent,
    Deadline,
    DeadlineState,
    Escalation,
    Feedback,
    Provider,
    Referral,
    User,
    Voucher,
)
from tasks.escalations import UNRESOLVED, days_overdue, overdue_text
from tasks.process_versions import service_for
from tasks.repository import Actor, audit
from tasks.visibility import ContentScope, content_scope


def provider_codes(session: Session) -> dict[int, str]:
    return {p.id: p.code for p in session.exec(select(Provider)) if p.id is not None}


def summary(
    referral: Referral, service: ServiceConfig, codes: dict[int, str], overdue: int
) -> ReferralSummary:
    """The short view of `referral`; its state's title from `service`, the process version
    it runs on (`tasks.process_versions.service_for`)."""
    assert referral.id is not None
    return ReferralSummary(
        id=referral.id,
        reference=referral.reference,
        service_type=referral.service_type,
        state=referral.state,
        state_title=service.process.states[referral.state].title,
        outcome=referral.outcome,
        provider_code=codes.get(referral.provider_id) if referral.provider_id else None,
        site=referral.site,
        started_on=referral.started_on,
        overdue_deadlines=overdue,
    )


def escalation_out(
    escalation: Escalation,
    reference: str,
    *,
    due_on: date | None = None,
    today: date | None = None,
) -> EscalationOut:
    """The API view of `escalation`. With the deadline's `due_on` and the reader's local
    `today`, an unresolved escalation carries its days overdue as of `today`
    (`tasks.escalations.overdue_text`: "seit 1 Tag überfällig")."""
    assert escalation.id is not None
    days, text = None, None
    if due_on is not None and today is not None and escalation.state in UNRESOLVED:
        days, text = days_overdue(due_on, today), overdue_text(due_on, today)
    return EscalationOut(
        id=escalation.id,
        reference=reference,
        reason=escalation.reason,
        state=escalation.state,
        created_at=escalation.created_at,
        assigned_to=escalation.assigned_to,
        acknowledged_at=escalation.acknowledged_at,
        resolved_at=escalation.resolved_at,
        due_on=due_on,
        days_overdue=days,
        overdue_text=text,
        level=escalation.level,
        raised_at=escalation.raised_at,
        resolution=escalation.resolution,
        resolved_by=escalation.resolved_by,
    )


def escalation_due_on(session: Session, escalation: Escalation) -> date:
    """The due date of the deadline behind `escalation`."""
    deadline = session.get(Deadline, escalation.deadline_id)
    assert deadline is not None
    return deadline.due_on


def detail(
    session: Session, referral: Referral, registry: Registry, user: User, now: datetime
) -> ReferralOut:
    """The full view of one referral for `user` (content gated by consent, audited)."""
    assert referral.id is not None
    today = local_date(now)
    codes = provider_codes(session)
    service = service_for(session, registry, referral)  # the case's own process version
    deadlines = session.exec(
        select(Deadline).where(Deadline.referral_id == referral.id).order_by(col(Deadline.id))
    ).all()
    scope = content_scope(session, referral, user, today)
    reports = session.exec(
        select(Feedback).where(Feedback.referral_id == referral.id).order_by(col(Feedback.id))
    ).all()
    feedback = [_feedback_out(f, scope.may_read(f.provider_id)) for f in reports]
    if any(f.content for f in feedback):
        audit(
            session,
            now,
            Actor(user.username, user.role),
            "feedback_content_read",
            referral.id,
            reports=len(feedback),
        )
    base = summary(referral, service, codes, sum(_overdue(d, today) for d in deadlines))
    due = {d.id: d.due_on for d in deadlines}
    view = ReferralOut(
        **base.model_dump(),
        service_title=service.title,
        state_since=referral.state_since,
        appointment_on=referral.appointment_on,
        first_appointment_on=referral.first_appointment_on,
        closed_on=referral.closed_on,
        need_group=scope.need_group(referral, reports),
        consent_valid=referral.provider_id is not None and referral.provider_id in scope.released,
        allowed_events=[
            e for e in allowed_events(service, referral.state) if e in service.reportable_events
        ],
        deadlines=[
            DeadlineOut(
                kind=d.kind,
                title=d.title,
                period=d.period,
                started_on=d.started_on,
                due_on=d.due_on,
                state=d.state,
                completed_on=d.completed_on,
                overdue=_overdue(d, today),
            )
            for d in deadlines
        ],
        escalations=[
            escalation_out(e, referral.reference, due_on=due[e.deadline_id], today=today)
            for e in session.exec(select(Escalation).where(Escalation.referral_id == referral.id))
        ],
        vouchers=[
            VoucherOut(
                number=v.number,
                issued_on=v.issued_on,
                status=v.status,
                closed_on=v.closed_on,
                provider_code=codes.get(v.provider_id) if v.provider_id else None,
            )
            for v in session.exec(select(Voucher).where(Voucher.referral_id == referral.id))
        ],
        feedback=feedback,
        timeline=[
            TimelineEntry(at=a.at, action=a.action, actor=a.actor, role=a.role, detail=a.detail)
            for a in session.exec(
                select(AuditEvent)
                .where(AuditEvent.referral_id == referral.id)
                .order_by(col(AuditEvent.id))
            )
        ],
    )
    # the audit entry, if any; and on SQLite the writer transaction ends here, not after
    # FastAPI's next hop through its thread pool (`api.deps.get_read_session`)
    session.commit()
    return view


def consent_provider(session: Session, referral: Referral, code: str | None) -> Provider:
    """The provider a new Schweigepflichtentbindung names: `code`, or the referral's
    current provider; 422 for an unknown code, a provider without the referral's
    Leistungsart, or no provider at all (seed 003; § 67b SGB X)."""
    if code is None:
        provider = session.get(Provider, referral.provider_id) if referral.provider_id else None
        if provider is None:
            raise Problem(
                422, "Der Fall hat keinen Träger: bitte den Träger angeben (provider_code)."
            )
        return provider
    provider = session.exec(select(Provider).where(Provider.code == code)).first()
    if provider is None or referral.service_type not in provider.service_types:
        raise Problem(422, f"Träger {code!r} ist unbekannt oder erbringt diese Leistungsart nicht.")
    return provider


def may_read_content(scope: ContentScope, feedback: Feedback) -> bool:
    """Whether the reader of `scope` may read the content of `feedback` (`tasks.visibility`)."""
    return scope.may_read(feedback.provider_id)


def _overdue(deadline: Deadline, today: date) -> bool:
    return deadline.state == DeadlineState.open and deadline.due_on < today


def _feedback_out(feedback: Feedback, may_read: bool) -> FeedbackOut:
    assert feedback.id is not None
    status = FeedbackOut(
        id=feedback.id,
        kind=feedback.kind,
        received_on=feedback.received_on,
        appointment_kept=feedback.appointment_kept,
        counselling_ongoing=feedback.counselling_ongoing,
        ended=feedback.ended,
        content_withheld=not may_read,
    )
    if not may_read:
        return status
    return status.model_copy(
        update={
            "need_group": feedback.need_group,
            "modules": feedback.modules,
            "content": feedback.content,
        }
    )
