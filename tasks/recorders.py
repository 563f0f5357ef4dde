"""What an event writes to the referral besides its state, as the process definition says.

A transition's ``records`` (`models.process.Records`) names one recorder of `RECORDERS`;
an event with ``report: true`` carries the provider's Rückmeldung, which is checked against
the catalog of the case's process version and kept as a `Feedback` row. No event name
appears here: which event records what is data in the process YAML.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import get_args

from sqlmodel import Session, select

from models.commands import FeedbackIn, ReferralEvent
from models.process import Records, Registry, ServiceConfig
from models.report_checks import check_feedback, check_status_only
from models.tables import Consent, Customer, Feedback, Referral
from tasks.master_data import provider
from tasks.phases import record_phase
from tasks.rejections import CommandRejected
from tasks.visibility import content_released

Recorder = Callable[[Session, Referral, ReferralEvent, date], None]


def _appointment_on(session: Session, referral: Referral, payload: ReferralEvent, on: date) -> None:
    if payload.appointment_on is None:
        raise CommandRejected("appointment_on (Termin des Erstgesprächs) fehlt")
    referral.appointment_on = payload.appointment_on


def _first_appointment_on(
    session: Session, referral: Referral, payload: ReferralEvent, on: date
) -> None:
    referral.first_appointment_on = on


def _provider(session: Session, referral: Referral, payload: ReferralEvent, on: date) -> None:
    if payload.provider_code is None:
        raise CommandRejected("provider_code (neuer Träger) fehlt")
    found = provider(session, payload.provider_code, referral.service_type, referral.site)
    referral.provider_id = found.id


def _consent_withdrawal(
    session: Session, referral: Referral, payload: ReferralEvent, on: date
) -> None:
    for consent in session.exec(select(Consent).where(Consent.referral_id == referral.id)):
        if consent.withdrawn_on is None:
            consent.withdrawn_on = on


RECORDERS: dict[Records, Recorder] = {
    "appointment_on": _appointment_on,
    "first_appointment_on": _first_appointment_on,
    "provider": _provider,
    "consent_withdrawal": _consent_withdrawal,
}
"""One recorder per value of ``records`` (`models.process.Records`); checked at import."""

if missing := set(get_args(Records)) - set(RECORDERS):  # a value the YAML may name
    raise TypeError(f"kein Recorder für records: {', '.join(sorted(missing))}")


def record_event(
    session: Session,
    referral: Referral,
    payload: ReferralEvent,
    on: date,
    service: ServiceConfig,
    registry: Registry,
) -> None:
    """Check and write what the event `payload` of `referral` on `on` carries, per
    `service` (the version the case runs on): its report checked against that version's
    catalog (`check_report`), its ``records`` (`RECORDERS`), its Rückmeldung kept when the
    event has ``report: true``. Raises `CommandRejected` for data the event needs but
    lacks, `models.report_checks.InvalidReport` for a report the catalog refuses."""
    if payload.feedback is not None:
        check_report(session, referral, payload, service, on)
    records = _records(service, registry, payload.event)
    if records is not None:
        RECORDERS[records](session, referral, payload, on)
    if payload.event in service.process.report_events:
        record_report(session, referral, payload, on)
    if payload.phase is not None or payload.event in service.process.phase_events:
        record_phase(session, referral, payload, on, service)  # Leistungsabschnitte


def _records(service: ServiceConfig, registry: Registry, event: str) -> Records | None:
    """``records`` of `event` in `service`; a version stored before the attribute existed
    (none of its transitions names one) takes it from the current definition of its
    Leistungsart, so its running cases keep recording as before."""
    if any(t.records for t in service.process.transitions):
        return service.process.records_of(event)
    current = registry.services.get(service.service_type)
    return None if current is None else current.process.records_of(event)


def check_report(
    session: Session, referral: Referral, payload: ReferralEvent, service: ServiceConfig, on: date
) -> None:
    """Every reported value against the catalog of `service`, the version the referral
    started under (seed 002 §4.6.1, §4.6.3, §4.6.4), and status only where the standards
    allow a referral without Schweigepflichtentbindung and none for content names the
    provider on `on` (seed 003); raises `InvalidReport`."""
    assert payload.feedback is not None
    if service.standard.consent == "status_without" and not content_released(
        session, referral, referral.provider_id, on
    ):
        check_status_only(payload.feedback, service.title)
    customer = session.get(Customer, referral.customer_id)
    age_group = customer.age_group if customer is not None else "25-49"
    check_feedback(payload.feedback, service, age_group)


REPORT_FIELDS = set(FeedbackIn.model_fields) & set(Feedback.model_fields)
"""The fields of a Rückmeldung kept in `Feedback`: status (appointment kept, counselling
ongoing, ended), Hilfebedarfsgruppe, modules and the report form (seed 002 §4.6.5)."""


def record_report(session: Session, referral: Referral, payload: ReferralEvent, on: date) -> None:
    """Keep the Rückmeldung of a ``report: true`` event as a `Feedback` row by the
    referral's current provider; its Hilfebedarfsgruppe becomes the referral's. Raises
    `CommandRejected` when the event carries none."""
    assert referral.id is not None
    feedback = payload.feedback
    if feedback is None:
        raise CommandRejected(f"{payload.event}: Angaben der Rückmeldung fehlen (feedback)")
    if feedback.need_group is not None:
        referral.need_group = feedback.need_group
    session.add(
        Feedback(
            referral_id=referral.id,
            provider_id=referral.provider_id,
            kind=payload.event,
            received_on=on,
            **feedback.model_dump(mode="json", include=REPORT_FIELDS),
        )
    )
