"""Commands from the Fachverfahren and the providers, as typed payloads.

Each command is recorded in the inbox (`models.tables.Command`) before it is applied.
Dates are local calendar dates (Europe/Berlin); deadlines are counted from
``occurred_on`` (§ 26 SGB X).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    Strict,
    model_validator,
    with_config,
)

from models.routing import IntakeFacts

AgeGroup = Literal["u25", "25-49", "50+"]

# --- Input limits (issue 7, point 6) -----------------------------------------------------------

MAX_TEXT_CHARS = 20_000
"""Longest free-text field, in characters (about eight typed pages of a report section).
A longer value is refused with 422; the whole request body is limited separately
(`api.limits.MAX_BODY_BYTES`)."""

REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
"""An Aktenzeichen: 1 to 40 characters, letters A-Z/a-z, digits, ``.``, ``_`` and ``-``,
starting with a letter or digit (e.g. ``Z-2026-0042``, ``AC-CAR-1``). No ``/``, no blanks,
no umlauts: a reference is a path segment of every case URL (``/api/v1/referrals/{ref}``,
``/dashboard/faelle/{ref}``) and must reach its case unchanged."""

CUSTOMER_NUMBER_PATTERN = REFERENCE_PATTERN
"""A Kundennummer of the Fachverfahren: same alphabet and length as `REFERENCE_PATTERN`
(e.g. ``123D456789``, ``K-000042``)."""

MAX_HOURS_PER_MODULE = 1_000.0
"""Schema-level ceiling for the hours of one booked module in one report. The real bound is
the catalog's per module (`models.process.ServiceModule.hours_bound`, checked by
`models.report_checks.check_feedback`); the catalog loader refuses a bound above this."""

MAX_GROUP_SESSIONS_PER_MODULE = 200
"""Schema-level ceiling for the group sessions of one booked module in one report; the
catalog's bound per module is checked by `models.report_checks.check_feedback`."""

MODULE_CODE_PATTERN = r"^J[1-9][0-9]?$"
"""Codes of the youth modules (Jugendsuchtberatung, seed 002 §4.6.2: ``J1``, ``J4``, ``J6``);
every other Leistungsmodul has a whole number as code."""

Reference = Annotated[str, Field(pattern=REFERENCE_PATTERN, min_length=1, max_length=40)]
CustomerNumber = Annotated[
    str,
    Field(
        pattern=CUSTOMER_NUMBER_PATTERN,
        min_length=1,
        max_length=40,
        description="Kundennummer des Fachverfahrens: 1-40 Zeichen A-Z, a-z, 0-9, . _ -",
    ),
]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
ModuleCode = (
    Annotated[int, Field(ge=1, le=999)] | Annotated[str, Field(pattern=MODULE_CODE_PATTERN)]
)

# The domain's routing facts are validated as they are; an unknown fact is an error, not
# silently ignored (a typo would route the customer differently).
with_config(ConfigDict(extra="forbid"))(IntakeFacts)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Intake(_Payload):
    customer_number: CustomerNumber
    site: str = Field(min_length=1, max_length=60)
    facts: IntakeFacts = Field(description="Routing-Fakten (seed 002 §4.4.1, Anlage 6)")


class ConsentGrant(_Payload):
    """A Schweigepflichtentbindung: written or electronic, optional expiry (seed 003).

    It names one Träger and one purpose (§ 67b SGB X): `provider_code` is the provider the
    data may go to (default: the referral's current provider), `scope` what is released
    (``status`` only, or ``content``: report content and Hilfebedarfsgruppe)."""

    form: Literal["written", "electronic"]
    scope: Literal["status", "content"] = "content"
    granted_on: date
    expires_on: date | None = None
    provider_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=60,
        description="Träger, den die Entbindung nennt (Standard: aktueller Träger des Falls)",
    )


EntryFactName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
EntryFactValue = Annotated[bool, Strict()] | Annotated[int, Strict(), Field(ge=0, le=999)]
"""A fact checked at the start (`models.statemachine.check_entry`): yes/no or a whole number
(e.g. an age in years), never a name or free text."""


class StartReferral(_Payload):
    """Bedarfsfeststellung: refer a customer to a provider with a Gutschein.

    ``entry_facts``: the facts the process's Ausschlusskriterien ask for (e.g.
    ``{"age": 34, "acute_addiction": false}``, seed 004 Ziff. 2); they are checked once and
    not kept with the referral (`tasks.commands`)."""

    customer_number: CustomerNumber
    site: str = Field(min_length=1, max_length=60)
    age_group: AgeGroup
    service_type: str = Field(min_length=1, max_length=60)
    provider_code: str = Field(min_length=1, max_length=60)
    caseworker_email: EmailStr
    contact_email: EmailStr | None = None
    reminders_consented: bool = False
    consent: ConsentGrant | None = None
    entry_facts: dict[EntryFactName, EntryFactValue] | None = Field(
        default=None,
        max_length=20,
        description="Angaben zu den Aufnahme-/Ausschlusskriterien der Leistung (ja/nein oder "
        "ganze Zahl, z. B. Alter in Jahren)",
    )


class BookedModule(_Payload):
    """A booked Leistungsmodul: hours spent in individual counselling (Einzel-Stunden) and
    group sessions held (Gruppensitzungen of 90 minutes), in the period of the report.

    ``hours`` is finite, >= 0 and at most `MAX_HOURS_PER_MODULE` (``NaN``/``Infinity`` and
    ``1e999`` are refused); ``group_sessions`` a whole number. Whether the module exists for
    the referral's Leistungsart and age group, and the bounds per module, are checked
    against the catalog by `models.report_checks.check_feedback` (seed 002 §4.6.1).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    code: ModuleCode = Field(description="Modulnummer laut Katalog, z. B. 1, oder J1 (U25)")
    hours: float = Field(
        default=0,
        ge=0,
        le=MAX_HOURS_PER_MODULE,
        allow_inf_nan=False,
        description="Einzel-Stunden (E-Stunden) im Berichtszeitraum",
    )
    group_sessions: int = Field(
        default=0,
        ge=0,
        le=MAX_GROUP_SESSIONS_PER_MODULE,
        exclude_if=lambda sessions: sessions == 0,  # stored as before when there are none
        description="Gruppensitzungen (je 90 Minuten) im Berichtszeitraum",
    )


class ReportContent(_Payload):
    """The report form of seed 002 §4.6.5 (Zwischen-/Abschlussbericht)."""

    ausgangssituation: Text = ""
    ziele: Text = ""
    ergebnis: Text = ""
    weitere_massnahmen: Text = ""
    mitwirkung: Text = ""


class FeedbackIn(_Payload):
    """A Rückmeldung: status fields (always visible) and content (only with consent)."""

    appointment_kept: bool | None = None
    counselling_ongoing: bool | None = None
    ended: bool | None = None
    need_group: int | None = Field(default=None, ge=1, le=99)
    modules: list[BookedModule] = Field(default=[], max_length=50)
    content: ReportContent = ReportContent()


DeclineReason = Literal["keine_kapazitaet", "nicht_zustaendig", "nicht_erreichbar", "sonstiges"]
DECLINE_REASONS: dict[str, str] = {
    "keine_kapazitaet": "Keine Kapazität",
    "nicht_zustaendig": "Nicht zuständig",
    "nicht_erreichbar": "Kunde/Kundin nicht erreichbar",
    "sonstiges": "Sonstiges",
}
"""Why a provider declines a Gutschein (``provider_declined``): a code, never free text (no
Sozialdaten in a reason); German titles for the case timeline (issue 8, point 3)."""


class ReferralEvent(_Payload):
    """An event of a running referral (name as in the process definition).

    ``reason_code`` (`DeclineReason`) only with an event of ``reason_code: true`` in the
    process definition (checked where an event is reported, `api.access.check_event`); it
    is kept in the command and in the audit entry of the decision. ``phase`` and
    ``phase_step`` (both or neither) with an event of ``reports_phase: true``: the
    provider reports a phase of the Leistungsart begun or completed (`models.phases`,
    seed 002 §4.1)."""

    event: str = Field(min_length=1, max_length=60)
    appointment_on: date | None = None
    provider_code: str | None = Field(default=None, min_length=1, max_length=60)
    feedback: FeedbackIn | None = None
    reason_code: DeclineReason | None = None
    phase: str | None = Field(
        default=None,
        pattern=r"^[A-Z][A-Z0-9]{0,9}$",
        description="Phase (Leistungsabschnitt) der Leistungsart, z. B. LA1 (models.phases)",
    )
    phase_step: Literal["begun", "completed"] | None = Field(
        default=None, description="begonnen (begun) oder abgeschlossen (completed)"
    )

    @model_validator(mode="after")
    def _phase_with_step(self) -> ReferralEvent:
        if (self.phase is None) != (self.phase_step is None):
            raise ValueError("phase und phase_step (begun/completed) nur zusammen angeben")
        return self
