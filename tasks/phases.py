"""Phases of a referral in the database: the provider's report of a phase begun or
completed (`record_phase`, on the one path of a case) and the case page's current phase
(`current_phase`). Seed 002 §4.1; the rules are `models.phases`, the report's query
`tasks.read_model.phases`. Nothing here commits.
"""

from __future__ import annotations

from datetime import date

import sqlmodel
from sqlmodel import Session, col

from models.commands import ReferralEvent
from models.phases import PhasePeriod, PhaseRefused, check_report, current
from models.process import ServiceConfig
from models.tables import Referral, ReferralPhase
from tasks.rejections import CommandRejected


def periods_of(session: Session, referral_id: int) -> list[ReferralPhase]:
    """The phase rows of one referral, in the order they began."""
    return list(
        session.exec(
            sqlmodel.select(ReferralPhase)
            .where(col(ReferralPhase.referral_id) == referral_id)
            .order_by(col(ReferralPhase.begun_on), col(ReferralPhase.id))
        )
    )


def _period(row: ReferralPhase) -> PhasePeriod:
    return PhasePeriod(row.phase, row.begun_on, row.completed_on)


def record_phase(
    session: Session, referral: Referral, payload: ReferralEvent, on: date, service: ServiceConfig
) -> None:
    """Keep the phase `payload` reports for `referral` on `on` (an event of ``reports_phase:
    true``), checked against `service`'s ``phases`` (`models.phases.check_report`). The
    caller holds the referral's lock. Raises `CommandRejected` (German) for a phase the
    rules refuse, a phase event without ``phase``/``phase_step``, or a phase on another
    event."""
    assert referral.id is not None
    if payload.event not in service.process.phase_events:
        raise CommandRejected(
            f"{payload.event}: eine Phase wird nur mit einer Phasenmeldung gemeldet"
        )
    if payload.phase is None or payload.phase_step is None:
        raise CommandRejected("phase (Leistungsabschnitt) und phase_step (begun/completed) fehlen")
    rows = periods_of(session, referral.id)
    try:
        period = check_report(
            service.standard.phases,
            [_period(r) for r in rows],
            payload.phase,
            payload.phase_step,
            on,
            service.title,
        )
    except PhaseRefused as refused:
        raise CommandRejected(str(refused)) from None
    row = next((r for r in rows if r.phase == period.phase), None)
    if row is None:
        row = ReferralPhase(referral_id=referral.id, phase=period.phase, begun_on=period.begun_on)
    row.completed_on = period.completed_on
    session.add(row)


def current_phase(session: Session, referral_id: int) -> PhasePeriod | None:
    """The open phase of a referral (for its case page), None when none is open."""
    return current(_period(r) for r in periods_of(session, referral_id))
