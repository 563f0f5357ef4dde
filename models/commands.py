"""Commands from the Fachverfahren and the providers, as typed payloads.

Each command is recorded in the inbox (`models.tables.Command`) before it is applied.
Dates are local calendar dates (Europe/Berlin); deadlines are counted from
``occurred_on`` (§ 26 SGB X).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, with_config

from models.routing import IntakeFacts

AgeGroup = Literal["u25", "25-49", "50+"]

# The domain's routing facts are validated as they are; an unknown fact is an error, not
# silently ignored (a typo would route the customer differently).
with_config(ConfigDict(extra="forbid"))(IntakeFacts)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Intake(_Payload):
    customer_number: str = Field(min_length=1, max_length=40)
    site: str = Field(min_length=1, max_length=60)
    facts: IntakeFacts = Field(description="Routing-Fakten (seed 002 §4.4.1, Anlage 6)")


class ConsentGrant(_Payload):
    """A Schweigepflichtentbindung: written or electronic, optional expiry (seed 003)."""

    form: Literal["written", "electronic"]
    scope: Literal["status", "content"] = "content"
    granted_on: date
    expires_on: date | None = None


class StartReferral(_Payload):
    """Bedarfsfeststellung: refer a customer to a provider with a Gutschein."""

    customer_number: str = Field(min_length=1, max_length=40)
    site: str = Field(min_length=1, max_length=60)
    age_group: AgeGroup
    service_type: str
    provider_code: str
    caseworker_email: EmailStr
    contact_email: EmailStr | None = None
    reminders_consented: bool = False
    consent: ConsentGrant | None = None


class BookedModule(_Payload):
    """A booked Leistungsmodul with hours spent (Einzel-Stunden)."""

    code: int = Field(ge=1)
    hours: float = Field(default=0, ge=0)


class ReportContent(_Payload):
    """The report form of seed 002 §4.6.5 (Zwischen-/Abschlussbericht)."""

    ausgangssituation: str = ""
    ziele: str = ""
    ergebnis: str = ""
    weitere_massnahmen: str = ""
    mitwirkung: str = ""


class FeedbackIn(_Payload):
    """A Rückmeldung: status fields (always visible) and content (only with consent)."""

    appointment_kept: bool | None = None
    counselling_ongoing: bool | None = None
    ended: bool | None = None
    need_group: int | None = Field(default=None, ge=1)
    modules: list[BookedModule] = []
    content: ReportContent = ReportContent()


class ReferralEvent(_Payload):
    """An event of a running referral (name as in the process definition)."""

    event: str
    appointment_on: date | None = None
    provider_code: str | None = None
    feedback: FeedbackIn | None = None


FEEDBACK_EVENTS = frozenset({"first_feedback", "interim_report", "result_report", "final_report"})
