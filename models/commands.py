"""Commands from the Fachverfahren and the providers, as typed payloads.

Each command is recorded in the inbox (`models.tables.Command`) before it is applied.
Dates are local calendar dates (Europe/Berlin); deadlines are counted from
``occurred_on`` (§ 26 SGB X).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

AgeGroup = Literal["u25", "25-49", "50+"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntakeFactsIn(_Payload):
    """Routing facts of the Eingangszone (seed 002 §4.4.1); see `models.routing.IntakeFacts`."""

    case: Literal["transfer_sgb3", "move_in_with_record", "new_or_reactivated"]
    age: int = Field(gt=0, lt=120)
    profile: str | None = None
    self_employed_main: bool = False
    single_parent: bool = False
    prior_employment_months: int | None = Field(default=None, ge=0)
    previously_with_jo: bool = False
    after_university: bool = False
    academic: bool = False
    side_income: bool = False
    currently_employed: bool = False
    currently_self_employed: bool = False
    restriction_10_1: bool = False
    incapacity_current_or_over_3_months: bool = False


class Intake(_Payload):
    customer_number: str = Field(min_length=1, max_length=40)
    site: str = Field(min_length=1, max_length=60)
    facts: IntakeFactsIn


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
