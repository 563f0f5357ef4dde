"""Request and response bodies of the REST API (German descriptions in the OpenAPI doc)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.commands import (
    REFERENCE_PATTERN,
    ConsentGrant,
    Intake,
    ReferralEvent,
    StartReferral,
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


OccurredOn = Annotated[
    date | None,
    Field(
        description="Tag des Ereignisses (Europe/Berlin); Fristen laufen ab diesem Tag "
        "(§ 26 SGB X). Fehlt er, gilt heute."
    ),
]


class IntakeIn(Intake):
    """Eingangszone: Routing-Fakten eines (Neu-)Kunden (seed 002 §4.4.1, Anlage 6)."""

    occurred_on: OccurredOn = None


class RoutingOut(BaseModel):
    team: str = Field(description="JO, AV, SFM, SFM_AE, FM_SELB, TEAM_611 oder U25")
    team_title: str
    rule: str = Field(description="Die Regel, die gegriffen hat, z. B. 1.2c")
    reason: str
    source: str
    command_id: int


class ReferralIn(StartReferral):
    """Bedarfsfeststellung und Gutschein an einen Träger (seed 002 §4.3)."""

    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        pattern=REFERENCE_PATTERN,
        description="Aktenzeichen des Fachverfahrens: 1-40 Zeichen A-Z, a-z, 0-9, . _ -, "
        "beginnend mit Buchstabe oder Ziffer (kein /, keine Leerzeichen); fehlt es, vergibt "
        "kel-flow eines.",
    )
    occurred_on: OccurredOn = None


class EventIn(ReferralEvent):
    """Ein Ereignis einer laufenden Zuweisung. Welche Ereignisse es gibt, wer sie melden
    darf und was sie mitbringen, sagt die Prozessdefinition der Leistungsart (YAML, nicht
    dieser Code): ``records: appointment_on`` verlangt ``appointment_on`` (Termin des
    Erstgesprächs), ``records: provider`` ``provider_code`` (neuer Träger), ``report:
    true`` ``feedback`` (Rückmeldung, seed 002 §4.6.5), ``reason_code: true`` erlaubt einen
    Ablehnungsgrund als Code (nie Freitext: keine Sozialdaten), ``reports_phase: true``
    ``phase`` und ``phase_step``. Fehlt eine verlangte Angabe: 422."""

    model_config = ConfigDict(extra="forbid")

    occurred_on: OccurredOn = None


class ConsentIn(ConsentGrant):
    """Schweigepflichtentbindung erteilen (seed 003; § 67b SGB X)."""

    model_config = ConfigDict(extra="forbid")


class ConsentOut(ConsentGrant):
    reference: str


class Accepted(BaseModel):
    """The command is decided and saved (committed); `state` is the referral's new state.

    E-mails and other follow-ups are carried out afterwards by a Prefect flow run."""

    command_id: int
    status: Literal["applied"]
    reference: str
    referral_id: int | None = None
    state: str | None = Field(default=None, description="Zustand der Zuweisung danach")


class DeadlineOut(BaseModel):
    kind: str
    title: str
    period: str
    started_on: date
    due_on: date
    state: str
    completed_on: date | None
    overdue: bool


class EscalationOut(BaseModel):
    """An escalation; `days_overdue` and `overdue_text` ("seit 5 Tagen überfällig") are
    counted as of the request's day from the deadline's `due_on` while it is unresolved
    (None once resolved); `level` 2 = raised to the second step at `raised_at`;
    `resolution` / `resolved_by` say why and by whom (``system``: automatically)."""

    id: int
    reference: str
    reason: str
    state: str
    created_at: datetime
    assigned_to: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    due_on: date | None = None
    days_overdue: int | None = None
    overdue_text: str | None = None
    level: int = 1
    raised_at: datetime | None = None
    resolution: str | None = None
    resolved_by: str | None = None


class VoucherOut(BaseModel):
    number: str
    provider_code: str | None
    issued_on: date
    status: str
    closed_on: date | None


class FeedbackOut(BaseModel):
    id: int
    kind: str
    received_on: date
    appointment_kept: bool | None
    counselling_ongoing: bool | None
    ended: bool | None
    need_group: int | None = None
    modules: list[dict[str, Any]] | None = None
    content: dict[str, Any] | None = None
    content_withheld: bool = Field(
        description="Inhalt zurückgehalten: keine gültige Schweigepflichtentbindung (seed 003)"
    )


class TimelineEntry(BaseModel):
    at: datetime
    action: str
    actor: str
    role: str
    detail: dict[str, Any]


class ReferralSummary(BaseModel):
    id: int
    reference: str
    service_type: str
    state: str
    state_title: str
    outcome: str | None
    provider_code: str | None
    site: str
    started_on: date
    overdue_deadlines: int


class ReferralOut(ReferralSummary):
    service_title: str
    state_since: date
    appointment_on: date | None
    first_appointment_on: date | None
    closed_on: date | None
    need_group: int | None
    consent_valid: bool
    allowed_events: list[str]
    deadlines: list[DeadlineOut]
    escalations: list[EscalationOut]
    vouchers: list[VoucherOut]
    feedback: list[FeedbackOut]
    timeline: list[TimelineEntry]


class EscalationUpdate(_In):
    assigned_to: str | None = Field(default=None, max_length=120)


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    referral_id: int | None
    detail: dict[str, Any]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
