"""The process definition as data: schema, loader and validation.

A directory of YAML files (the shipped defaults in ``models/process_definitions/`` or the
Kommune's own, ``KEL_PROCESS_DIR``) holds three kinds of document:

- ``kind: process``: a process type: states, transitions, deadlines with escalation ladders
  (DESIGN §4.3);
- ``kind: standards``: the Kommune's Mindeststandards per Leistungsart: which process type,
  the period of every deadline, calendar or working days, consent (seed 002 §4.2);
- ``kind: catalog``: Hilfebedarfsgruppen and Leistungsmodule per Leistungsart
  (seed 002 §4.6.1 Sucht, §4.6.4 Schulden).

`load_registry` reads and cross-checks them at start-up; every problem is reported as
``file:line: message`` in one `ProcessDefinitionError`.

One directory holds exactly one standards file: one Kommune. Further Kommunen ship as
directories of their own under ``process_definitions/kommunen/<name>/`` (standards plus the
process types they use), selected with ``KEL_PROCESS_DIR``; the default stays Düsseldorf.
The format knows, besides states and transitions (issue 10, point 5): entry conditions
(``entry``, `EntryCondition`), month offsets in ladders (``-P1M``), deadlines that restart
when met (``recurs``), deadlines relative to another one (``relative_to``/``offset``), the
Leistungsträger to inform (``funder``) and a retention period per Leistungsart.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from models.calendar import HolidayCalendar, InvalidPeriod, add_months, parse_period
from models.commands import (
    MAX_GROUP_SESSIONS_PER_MODULE,
    MAX_HOURS_PER_MODULE,
    MODULE_CODE_PATTERN,
    AgeGroup,
)
from models.phases import PhaseDef, check_phases

SHIPPED_DIR = Path(__file__).parent / "process_definitions"

Action = Literal[
    "remind_provider", "remind_customer", "notify_caseworker", "notify_funder", "escalate", "event"
]
VoucherAction = Literal["issue", "redeem", "expire", "invalidate"]
Records = Literal["appointment_on", "first_appointment_on", "provider", "consent_withdrawal"]
"""What an event writes to the referral besides its state (a transition's ``records``, kept
by `tasks.recorders`): ``appointment_on`` the reported date of the Erstgespräch (the
event's ``appointment_on``, required), ``first_appointment_on`` the event's date as the day
the first appointment was kept, ``provider`` the new Träger (``provider_code``, required),
``consent_withdrawal`` every Schweigepflichtentbindung of the case withdrawn on the event's
date."""
Release = Literal["now", "after_weeks"]
"""How an event of the ``staged`` state releases a referral once the earlier-staged one is
"laufende Therapie" (a transition's ``release``, fired by `tasks.repository`): ``now``
releases it, ``after_weeks`` starts its wait under ``staged_release: {after:
weeks_in_counselling}`` (seed 002 §4.2)."""
FormKind = Literal["termin", "datum", "ablehnung", "bericht", "bestaetigung"]
"""What a provider's form asks (`ProviderForm.kind`, `api.dashboard.portal_forms`):
``termin`` the date of the booked appointment (an event with ``records: appointment_on``),
``datum`` the day the event happened, ``ablehnung`` a reason code (``reason_code: true``),
``bericht`` the report form of seed 002 §4.6.5 (``report: true``), ``bestaetigung`` nothing."""
StatusAnswer = Literal["appointment_kept", "counselling_ongoing", "ended"]
"""A status question of the report form (a field of `models.commands.FeedbackIn`)."""
_OFFSET = re.compile(r"^(-)?P(\d+)([DWM])$")
_OFFSET_FORM = "P3D, -P5D, P2W oder -P2M"


def _check_offset(value: str) -> str:
    if not _OFFSET.match(value):
        raise ValueError(f"Versatz {value!r} ist nicht von der Form {_OFFSET_FORM}")
    return value


def relative_period(period: str, offset: str) -> str | None:
    """The period ``period`` moved by ``offset`` as one ISO duration: ``P24M`` and ``-P2M``
    give ``P22M``, ``P6W`` and ``-P3D`` give ``P39D``. None when it cannot be written
    without mixing months and days, or is not positive (then the deadline would be due
    before it starts). Raises `InvalidPeriod` for a bad `period`, `ValueError` for a bad
    `offset`."""
    base = parse_period(period)
    match = _OFFSET.match(offset)
    if match is None:
        raise ValueError(f"Versatz {offset!r} ist nicht von der Form {_OFFSET_FORM}")
    sign, amount, unit = match.groups()
    count = -int(amount) if sign else int(amount)
    if unit == "M":
        months = base.years * 12 + base.months + count
        return f"P{months}M" if months > 0 and not (base.weeks or base.days) else None
    days = base.weeks * 7 + base.days + count * (7 if unit == "W" else 1)
    return f"P{days}D" if days > 0 and not (base.years or base.months) else None


def shift(day: date, offset: str) -> date:
    """`day` moved by `offset` (``P3D``, ``-P5D``, ``P2W``, ``-P2M``: calendar days, weeks
    or months; negative = earlier). Months are calendar months (`models.calendar.add_months`:
    the same day number or the month's last day), never 30 days. Not moved for weekends.
    Raises `ValueError` for another form."""
    match = _OFFSET.match(offset)
    if match is None:
        raise ValueError(f"Versatz {offset!r} ist nicht von der Form {_OFFSET_FORM}")
    sign, amount, unit = match.groups()
    count = -int(amount) if sign else int(amount)
    if unit == "M":
        return add_months(day, count)
    return day + timedelta(days=count * (7 if unit == "W" else 1))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LadderStep(_Strict):
    """One rung of an escalation ladder, relative to the deadline's due date.

    ``offset`` is ``P3D``/``-P5D``/``P2W``/``-P2M`` (calendar days, weeks or months;
    negative = before the due date). A step fires at 00:00 Europe/Berlin of `fire_on`.
    ``notify_funder`` informs the Leistungsträger named in the standards (``funder``).
    """

    offset: str
    action: Action
    event: str | None = None

    @field_validator("offset")
    @classmethod
    def _offset_form(cls, value: str) -> str:
        return _check_offset(value)

    def fire_on(self, due_on: date) -> date:
        """The day this step fires for a deadline due on `due_on` (see `shift`)."""
        return shift(due_on, self.offset)

    @property
    def offset_days(self) -> int:
        """The offset in calendar days (negative before the due date); raises `ValueError`
        for a month offset (its length depends on the due date: use `fire_on`)."""
        match = _OFFSET.match(self.offset)
        assert match is not None
        sign, amount, unit = match.groups()
        if unit == "M":
            raise ValueError(f"Versatz {self.offset!r} in Monaten hat keine feste Tageszahl")
        days = int(amount) * (7 if unit == "W" else 1)
        return -days if sign else days


class DeadlineDef(_Strict):
    """A Frist: its German title, when it is due, its ladder.

    Either ``period`` names its period in the standards (counted from the event that starts
    it, § 26 SGB X), or ``relative_to`` names another deadline (with a ``period``) and
    ``offset`` (form of `LadderStep.offset`, e.g. ``-P2M``) places the due date relative to
    that deadline's due date: such a deadline starts (and restarts) with the other one and
    is never named in ``start`` itself (Verlaufsbericht 2 Monate vor der Fortschreibung,
    seed 001 §5.2.4). ``recurs``: when a transition completes it, it starts again counted
    from that day, unless the transition ends the case (Fortschreibung spätestens alle
    24 Monate, seed 001 §5.2.2).
    """

    title: str
    period: str | None = None
    relative_to: str | None = None
    offset: str | None = None
    recurs: bool = False
    # slug of the provider's form a reminder about this Frist links to (`ProviderForm.slug`,
    # `models.form_links`); left out of the stored version when not given
    form: str | None = Field(default=None, exclude_if=lambda value: value is None)
    ladder: list[LadderStep] = Field(min_length=1)

    @field_validator("offset")
    @classmethod
    def _offset_form(cls, value: str | None) -> str | None:
        return None if value is None else _check_offset(value)


class ProviderForm(_Strict):
    """The provider's form of an event in the Träger-Portal (a transition's ``form``,
    `api.dashboard.portal_forms`): its URL ``slug`` (``/dashboard/faelle/<Aktenzeichen>/
    meldung/<slug>``), what it asks (``kind``, `FormKind`), its German ``title`` (default:
    the transition's), the label of its ``button``, the message shown once it was saved
    (``done``), an ``intro`` above it, and for a report the status questions it opens
    answered with "ja" (``answers``, `StatusAnswer`) and the heading of its PDF sheet
    (``pdf``: the report form of seed 002 §4.6.5, Anlage 2, "Zwischenbericht" or
    "Abschlussbericht"; none: no PDF)."""

    slug: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    kind: FormKind
    title: str | None = Field(default=None, min_length=1, max_length=80)
    button: str = Field(min_length=1, max_length=80)
    done: str = Field(min_length=1, max_length=200)
    intro: str = Field(default="", max_length=400)
    answers: list[StatusAnswer] = []
    pdf: str | None = Field(default=None, min_length=1, max_length=40)


class EntryCondition(_Strict):
    """An Ausschlusskriterium checked when a referral starts (`models.statemachine.start`).

    ``fact`` names a fact of the start (``entry_facts``: a yes/no or a whole number, never a
    name); ``title`` says in German what is asked (for a missing fact). The referral is
    refused with ``reason`` (German) when the yes/no fact equals ``refuse_if`` or the
    number is below ``refuse_below``; exactly one of the two is given.
    """

    fact: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    title: str = Field(min_length=1)
    refuse_if: bool | None = None
    refuse_below: int | None = Field(default=None, ge=0)
    reason: str = Field(min_length=1)


class StateDef(_Strict):
    """A state. ``final``: the case is closed (no event leaves it). ``releases_staged``: a
    referral in this state no longer holds back a later-staged one of the same customer
    (seed 002 §4.2: Schuldnerberatung "danach bzw. bei laufender Therapie").
    ``counselling``: the customer is in counselling in this state (the first appointment
    was kept): the reports count it as "Kunden in Beratung" / "In Beratung" (Kennzahlen
    Bericht 01, seed 002 §4.1; `models.figures.states`); never together with ``final``."""

    title: str
    final: bool = False
    releases_staged: bool = False
    # left out of the stored version when false, so a process without it keeps its version
    counselling: bool = Field(default=False, exclude_if=lambda value: not value)

    @model_validator(mode="after")
    def _counselling_not_final(self) -> StateDef:
        if self.counselling and self.final:
            raise ValueError("'counselling' und 'final' schließen sich aus")
        return self


class CourseStep(_Strict):
    """One step of a process type's ``course``: the happy path as the seed tells it.

    ``event`` None is the start (the Zuweisung, the referral enters ``initial``); every
    further step names the event reported and ``state`` the state it leads to (the same
    state for an event that keeps it, e.g. a report). Checked by `load_registry`: the
    start is the first step, each event is a legal transition from the previous step's
    state, the last state is final. Rendered by `models.course.render_course`.
    """

    event: str | None = None
    state: str


class TransitionDef(_Strict):
    """What an event does in the states it is allowed in.

    ``to`` None keeps the state. ``complete`` marks deadlines met, ``cancel`` drops open
    deadlines (``all`` for every one), ``start`` opens deadlines counted from the event date.
    ``report``: the event carries the provider's Rückmeldung (its ``feedback`` is required
    and kept, seed 002 §4.2: 1. Rückmeldung, Zwischen-, Ergebnismeldung, Abschlussbericht).
    ``records``: what else the event writes to the referral (`Records`); ``release``: the
    event releases a staged referral (`Release`). Both are left out of the stored version
    when not given, so a process without them keeps its version name.
    """

    event: str
    title: str
    from_: list[str] = Field(alias="from", min_length=1)
    to: str | None = None
    outcome: str | None = None
    voucher: VoucherAction | None = None
    start: list[str] = []
    complete: list[str] = []
    cancel: list[str] | Literal["all"] = []
    notify: list[Literal["caseworker"]] = []
    by: list[Literal["caseworker", "provider"]] = []
    report: bool = False
    records: Records | None = Field(default=None, exclude_if=lambda value: value is None)
    release: Release | None = Field(default=None, exclude_if=lambda value: value is None)
    # the event reports a phase of the Leistungsart (its standards' ``phases``, `models.phases`,
    # kept by `tasks.phases`); left out of the stored version when false
    reports_phase: bool = Field(default=False, exclude_if=lambda value: not value)
    # the event may carry a reason code (`models.commands.DeclineReason`: why a provider
    # declines); left out of the stored version when false
    reason_code: bool = Field(default=False, exclude_if=lambda value: not value)
    # the provider's form of the event (`ProviderForm`); left out when not given
    form: ProviderForm | None = Field(default=None, exclude_if=lambda value: value is None)


class ProcessDef(_Strict):
    """A process type (``kind: process``)."""

    kind: Literal["process"]
    name: str
    title: str
    source: str
    initial: str
    staged: str | None = None
    initial_voucher: VoucherAction | None = None
    initial_deadlines: list[str] = []
    entry: list[EntryCondition] = []
    states: dict[str, StateDef]
    deadlines: dict[str, DeadlineDef]
    transitions: list[TransitionDef]
    course: list[CourseStep] = []

    @property
    def report_events(self) -> frozenset[str]:
        """Events that carry a provider's report (``report: true``)."""
        return frozenset(t.event for t in self.transitions if t.report)

    def records_of(self, event: str) -> Records | None:
        """What `event` writes to the referral besides its state (``records``), or None."""
        return next((t.records for t in self.transitions if t.event == event and t.records), None)

    @property
    def phase_events(self) -> frozenset[str]:
        """Events that report a phase (``reports_phase: true``, `models.phases`)."""
        return frozenset(t.event for t in self.transitions if t.reports_phase)

    @property
    def reason_events(self) -> frozenset[str]:
        """Events that may carry a reason code (``reason_code: true``)."""
        return frozenset(t.event for t in self.transitions if t.reason_code)

    def release_event(self, how: Release) -> str | None:
        """The event that releases a staged referral `how` (``release``), or None."""
        return next((t.event for t in self.transitions if t.release == how), None)

    @property
    def releasing_states(self) -> frozenset[str]:
        """States in which a referral no longer holds back a later-staged one
        (``releases_staged: true``, and every final state: a closed case holds back none)."""
        return frozenset(n for n, s in self.states.items() if s.releases_staged or s.final)

    def transition(self, state: str, event: str) -> TransitionDef | None:
        """The transition `event` takes in `state`, None when not allowed there."""
        return next((t for t in self.transitions if t.event == event and state in t.from_), None)

    def with_followers(self, kinds: Iterable[str]) -> list[str]:
        """`kinds`, each followed by the deadlines defined relative to it (``relative_to``):
        those start whenever it starts."""
        out: list[str] = []
        for kind in kinds:
            out.append(kind)
            out += [k for k, d in self.deadlines.items() if d.relative_to == kind]
        return out


class FunderDef(_Strict):
    """The Leistungsträger of a Leistungsart, informed by the ladder action
    ``notify_funder`` (e.g. a crisis longer than four weeks, seed 001 §4 Nr. 2)."""

    title: str = Field(min_length=1, max_length=120)
    email: EmailStr


STAGED_RELEASE_PERIOD = "staged_release"
"""The period name of the process deadline that releases a staged referral after weeks of
the earlier one's counselling; derived from `ServiceStandard.staged_release`, never listed
under ``periods``."""


class StagedRelease(_Strict):
    """When a referral staged after another Leistungsart (``staged_after``) is released,
    once the earlier referral is "laufende Therapie" (seed 002 §4.2, gestufte Einschaltung:
    Schuldnerberatung "danach bzw. bei laufender Therapie"):

    - ``after: first_appointment_kept`` (default): on the day the earlier referral's first
      appointment is kept (it enters a state with ``releases_staged``);
    - ``after: weeks_in_counselling`` with ``weeks`` (1-52): `weeks` calendar weeks after
      that day (the process deadline ``staged_release``, its ladder fires the release; the
      period is ``P<weeks>W``, § 26 SGB X).

    Either way a closed earlier referral releases it at once (the seed's "danach").
    """

    after: Literal["first_appointment_kept", "weeks_in_counselling"] = "first_appointment_kept"
    weeks: int | None = Field(default=None, ge=1, le=52)

    @model_validator(mode="after")
    def _weeks_with_weeks_variant(self) -> StagedRelease:
        if (self.after == "weeks_in_counselling") != (self.weeks is not None):
            raise ValueError("'weeks' genau bei 'after: weeks_in_counselling' angeben")
        return self

    @property
    def period(self) -> str | None:
        """``P<weeks>W`` for the weeks variant, else None (no deadline: released at once)."""
        return f"P{self.weeks}W" if self.weeks is not None else None


class ServiceStandard(_Strict):
    """Mindeststandards of one Leistungsart (seed 002 §4.2).

    ``retention``: how long a closed case is kept before it is anonymised (``PnY`` or
    ``PnM``, counted from its closure, `tasks.retention`); None: ``KEL_RETENTION_YEARS``.
    ``funder``: the Leistungsträger that ``notify_funder`` ladder steps inform.
    ``consent``: the Schweigepflichtentbindung at the start. ``optional``: none needed;
    ``required``: the start is refused without one; ``status_without``: the start is
    allowed without one, and as long as no consent of scope content names the provider,
    its reports carry the Sachstand only (appointment kept / counselling ongoing / ended;
    need group, modules and texts are refused: `models.report_checks.check_status_only`).
    Seed 003 (Wiesbaden, Suchtberatung): "Stimmt der eHb dem schriftlichen Austausch der
    beratungsrelevanten Daten nicht zu, so wird in der EV lediglich vereinbart, dass der eHb
    das Formular ‚Sachstandsbericht' ausfüllen zu lassen [hat]".
    """

    title: str
    process: str
    day_count: Literal["calendar", "working_days"] = "calendar"
    consent: Literal["optional", "required", "status_without"] = "optional"
    staged_after: list[str] = []
    staged_release: StagedRelease = StagedRelease()
    periods: dict[str, str | None]
    retention: str | None = None
    funder: FunderDef | None = None
    # provider-reported phases (Leistungsabschnitte, seed 002 §4.1, `models.phases`); left
    # out of the stored version when there are none
    phases: list[PhaseDef] = Field(default=[], exclude_if=lambda value: not value)

    def period_named(self, name: str) -> str | None:
        """The period `name` of ``periods``; `STAGED_RELEASE_PERIOD` from `staged_release`."""
        if name == STAGED_RELEASE_PERIOD:
            return self.staged_release.period
        return self.periods.get(name)


class EscalationStandard(_Strict):
    """The second step of the escalation ladder (the standards' ``escalation`` block).

    An escalation still open or acknowledged when ``second_step_after_working_days``
    working days (of the service's Land, `models.calendar`) have ended after the day it
    was raised goes to ``second_step_email`` (e.g. the Teamleitung), once
    (`tasks.escalations`). ``second_step_title`` names the recipient in the dashboard.
    """

    second_step_after_working_days: int = Field(ge=1, le=60)
    second_step_email: EmailStr
    second_step_title: str = Field(default="Teamleitung", min_length=1, max_length=60)


class HolidaysDef(_Strict):
    """Which public holidays count besides the Land's (see `models.calendar.HolidayCalendar`):
    a `subdivision` of the `holidays` package inside the Land (e.g. ``Augsburg``) and the
    `categories` (``public``, plus ``catholic`` for Mariä Himmelfahrt in Bavarian Catholic
    municipalities or Fronleichnam in parts of Saxony and Thuringia)."""

    subdivision: str | None = None
    categories: list[Literal["public", "catholic"]] = ["public"]


class StandardsDef(_Strict):
    kind: Literal["standards"]
    kommune: str
    land: str = "NW"
    holidays: HolidaysDef | None = None
    source: str
    services: dict[str, ServiceStandard]
    escalation: EscalationStandard | None = None


DEFAULT_MAX_HOURS = 100.0
"""Bound of the E-Stunden one report may give for a module whose catalog entry names no
hours (Schuldnerberatung: "Stunden nach Vereinbarung"). No report period of the shipped
standards is longer than 26 weeks (Ergebnismeldung Schulden, P26W): 100 hours are almost
four hours a week for one module over that period."""


class ServiceModule(_Strict):
    """A Leistungsmodul: bookable unit of counselling (hours are Einzel-Stunden).

    ``code`` is a whole number, or ``J<n>`` for a youth module (seed 002 §4.6.2).
    ``individual_hours``/``group_sessions`` are the seed's usual amount; ``max_hours`` and
    ``max_group_sessions`` bound what one report may give for the module (see
    `hours_bound`, `sessions_bound`); ``age_groups`` limits the module to referrals of those
    age groups (None: all).
    """

    code: int | str
    title: str
    individual_hours: float = Field(default=0, ge=0)
    group_sessions: int = Field(default=0, ge=0)
    max_hours: float | None = Field(default=None, ge=0, le=MAX_HOURS_PER_MODULE)
    max_group_sessions: int | None = Field(default=None, ge=0, le=MAX_GROUP_SESSIONS_PER_MODULE)
    age_groups: list[AgeGroup] | None = None
    phase: int | None = None
    special: bool = False
    note: str | None = None

    @field_validator("code")
    @classmethod
    def _code_form(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not re.fullmatch(MODULE_CODE_PATTERN, value):
            raise ValueError(f"Modulnummer {value!r} ist weder eine Zahl noch von der Form J1")
        if isinstance(value, int) and not 1 <= value <= 999:
            raise ValueError(f"Modulnummer {value} liegt nicht zwischen 1 und 999")
        return value

    @property
    def hours_bound(self) -> float:
        """Most E-Stunden one report may give: ``max_hours``, else twice the usual amount,
        else `DEFAULT_MAX_HOURS` when the seed names no hours."""
        if self.max_hours is not None:
            return self.max_hours
        return 2 * self.individual_hours if self.individual_hours else DEFAULT_MAX_HOURS

    @property
    def sessions_bound(self) -> int:
        """Most Gruppensitzungen one report may give: ``max_group_sessions``, else twice
        the usual number; 0 for a module without group sessions."""
        if self.max_group_sessions is not None:
            return self.max_group_sessions
        return 2 * self.group_sessions


class NeedGroup(_Strict):
    """A Hilfebedarfsgruppe (HBG) and the modules it usually books."""

    code: int
    title: str
    description: str
    modules: list[int | str] = []
    effort: str | None = None


class ServiceCatalog(_Strict):
    source: str
    need_groups: list[NeedGroup] = []
    modules: list[ServiceModule] = []


class CatalogDef(_Strict):
    kind: Literal["catalog"]
    source: str
    services: dict[str, ServiceCatalog]


Document = Annotated[ProcessDef | StandardsDef | CatalogDef, Field(discriminator="kind")]
_DOCUMENT: TypeAdapter[ProcessDef | StandardsDef | CatalogDef] = TypeAdapter(Document)


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the state machine needs for one Leistungsart (service type)."""

    service_type: str
    standard: ServiceStandard
    process: ProcessDef
    land: str
    catalog: ServiceCatalog | None = None
    calendar: HolidayCalendar = field(default_factory=HolidayCalendar)  # whose holidays count

    @property
    def title(self) -> str:
        return self.standard.title

    @property
    def working_days(self) -> bool:
        return self.standard.day_count == "working_days"

    @property
    def reportable_events(self) -> frozenset[str]:
        """Events someone may report (``by`` not empty); the rest only the system fires."""
        return frozenset(t.event for t in self.process.transitions if t.by)

    def period(self, deadline: str) -> str | None:
        """The ISO period of `deadline` for this service, None when "individuell".

        A deadline relative to another (``relative_to``) has the period from the common
        start to its due date, e.g. ``P22M`` for ``-P2M`` before a ``P24M`` deadline (its
        due date itself is counted from the other's due date, `models.statemachine`); None
        when the other one is "individuell".
        """
        definition = self.process.deadlines[deadline]
        if definition.relative_to is None:
            return self.standard.period_named(definition.period or "")
        base = self.period(definition.relative_to)
        if base is None or definition.offset is None:
            return None
        return relative_period(base, definition.offset)


@dataclass(frozen=True)
class Registry:
    """All loaded definitions; `services` is keyed by service type (e.g. ``schulden``)."""

    kommune: str
    processes: dict[str, ProcessDef]
    services: dict[str, ServiceConfig] = field(default_factory=dict)
    escalation: EscalationStandard | None = None  # None: no second escalation step

    def service(self, service_type: str) -> ServiceConfig:
        """The config of `service_type`; raises `UnknownServiceType` naming the known ones."""
        try:
            return self.services[service_type]
        except KeyError:
            raise UnknownServiceType(service_type, sorted(self.services)) from None


class UnknownServiceType(KeyError):
    def __init__(self, service_type: str, known: Sequence[str]) -> None:
        super().__init__(
            f"Unbekannte Leistungsart {service_type!r}; bekannt sind: {', '.join(known)}"
        )
        self.service_type = service_type
        self.known = list(known)


class ProcessDefinitionError(ValueError):
    """The process definitions are invalid; ``problems`` holds ``file:line: message`` lines."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "Prozessdefinition ungültig:\n" + "\n".join(f"  {p}" for p in self.problems)
        )


@dataclass
class _Source:
    path: Path
    root: yaml.Node | None

    def line(self, loc: Iterable[Any]) -> int:
        """1-based line of the node at pydantic location `loc` (nearest existing ancestor)."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if k.value == part), None)
                if pair is None:
                    break
                line, node = pair[0].start_mark.line + 1, pair[1]  # the key's line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    break
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def duplicate_keys(self) -> list[str]:
        """``file:line`` problems for keys given twice in one mapping (YAML keeps the last)."""
        problems, stack = [], [self.root]
        while stack:
            node = stack.pop()
            if isinstance(node, yaml.MappingNode):
                seen: set[Any] = set()
                for key, value in node.value:
                    if key.value in seen:
                        problems.append(
                            f"{self.path}:{key.start_mark.line + 1}: "
                            f"Schlüssel {key.value!r} doppelt angegeben"
                        )
                    seen.add(key.value)
                    stack.append(value)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
        return sorted(problems)

    def where(self, *loc: Any) -> str:
        return f"{self.path}:{self.line(loc)}"


@functools.cache
def load_registry(directory: Path | None = None) -> Registry:
    """Load and validate every ``*.yaml`` in `directory` (default: the shipped definitions).

    Returns a `Registry`. Raises `ProcessDefinitionError` listing every problem found as
    ``file:line: message`` (German). Cached per directory: call once at start-up.
    """
    directory = directory or SHIPPED_DIR
    files = sorted(directory.glob("*.yaml"))
    problems: list[str] = []
    if not files:
        raise ProcessDefinitionError([f"{directory}: keine *.yaml-Dateien gefunden"])
    docs: list[tuple[_Source, ProcessDef | StandardsDef | CatalogDef]] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            source = _Source(path, yaml.compose(text))
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            problems.append(f"{path}:{line}: kein gültiges YAML ({exc})")
            continue
        if duplicates := source.duplicate_keys():
            problems += duplicates
            continue
        try:
            docs.append((source, _DOCUMENT.validate_python(data)))
        except ValidationError as exc:
            for error in exc.errors():
                loc = error["loc"][1:] if error["loc"] else ()
                place = ".".join(str(p) for p in loc)
                problems.append(f"{source.where(*loc)}: {place or 'Dokument'}: {error['msg']}")
    if problems:
        raise ProcessDefinitionError(problems)
    return _assemble(docs)


def _assemble(docs: list[tuple[_Source, ProcessDef | StandardsDef | CatalogDef]]) -> Registry:
    problems: list[str] = []
    processes: dict[str, ProcessDef] = {}
    for source, doc in docs:
        if isinstance(doc, ProcessDef):
            if doc.name in processes:
                problems.append(f"{source.where('name')}: Prozess {doc.name!r} doppelt definiert")
            processes[doc.name] = doc
            problems += [f"{source.where(*loc)}: {msg}" for loc, msg in _check_process(doc)]
    standards = [(s, d) for s, d in docs if isinstance(d, StandardsDef)]
    catalogs = {
        key: (source, cat)
        for source, doc in docs
        if isinstance(doc, CatalogDef)
        for key, cat in doc.services.items()
    }
    if len(standards) != 1:
        problems.append(
            f"genau eine Datei mit 'kind: standards' erwartet, gefunden: {len(standards)}"
        )
        raise ProcessDefinitionError(problems)
    source, std = standards[0]
    calendar = HolidayCalendar()
    try:
        chosen = std.holidays or HolidaysDef()
        calendar = HolidayCalendar(std.land, chosen.subdivision, tuple(chosen.categories))
    except ValueError as exc:
        where = source.where("holidays") if std.holidays else source.where("land")
        problems.append(f"{where}: {exc}")
    services: dict[str, ServiceConfig] = {}
    for key, service in std.services.items():
        process = processes.get(service.process)
        if process is None:
            problems.append(
                f"{source.where('services', key, 'process')}: unbekannter Prozesstyp "
                f"{service.process!r} (bekannt: {', '.join(sorted(processes))})"
            )
            continue
        problems += [
            f"{source.where('services', key, *loc)}: {msg}"
            for loc, msg in _check_standard(key, service, process, std.services)
        ]
        found = catalogs.get(key)
        services[key] = ServiceConfig(
            key, service, process, std.land, found[1] if found else None, calendar
        )
    for key, (cat_source, catalog) in catalogs.items():
        if key not in std.services:
            problems.append(f"{cat_source.where('services', key)}: Leistungsart {key!r} unbekannt")
        problems += [
            f"{cat_source.where('services', key, *loc)}: {msg}"
            for loc, msg in _check_catalog(catalog)
        ]
    if problems:
        raise ProcessDefinitionError(problems)
    return Registry(std.kommune, processes, services, std.escalation)


Problem = tuple[tuple[Any, ...], str]


def _check_process(p: ProcessDef) -> list[Problem]:
    out: list[Problem] = []
    states, deadlines = set(p.states), set(p.deadlines)
    for key, name in (("initial", p.initial), ("staged", p.staged)):
        if name is not None and name not in states:
            out.append(((key,), f"Zustand {name!r} ist nicht unter 'states' definiert"))
    out += [
        (("initial_deadlines",), f"Frist {d!r} ist nicht unter 'deadlines' definiert")
        for d in p.initial_deadlines
        if d not in deadlines
    ]
    events = {t.event for t in p.transitions}
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(p.transitions):
        for s in [*t.from_, *([t.to] if t.to else [])]:
            if s not in states:
                out.append((("transitions", i), f"{t.event}: Zustand {s!r} nicht definiert"))
            elif s in t.from_ and p.states[s].final:
                out.append(
                    (("transitions", i), f"{t.event}: Endzustand {s!r} hat keine Ereignisse")
                )
        for s in t.from_:
            if (s, t.event) in seen:
                out.append((("transitions", i), f"{t.event}: doppelt im Zustand {s!r}"))
            seen.add((s, t.event))
        lists = [*t.start, *t.complete, *([] if t.cancel == "all" else t.cancel)]
        out += [
            (("transitions", i), f"{t.event}: Frist {d!r} nicht definiert")
            for d in lists
            if d not in deadlines
        ]
        if t.to in p.states and p.states[t.to].final and not t.outcome:
            out.append((("transitions", i), f"{t.event}: Abschluss ohne 'outcome'"))
    for name, d in p.deadlines.items():
        for j, step in enumerate(d.ladder):
            if (step.action == "event") != (step.event is not None):
                out.append(
                    (("deadlines", name, "ladder", j), "'event' gehört genau zu action: event")
                )
            elif step.event is not None and step.event not in events:
                out.append(
                    (("deadlines", name, "ladder", j), f"Ereignis {step.event!r} nicht definiert")
                )
    out += _check_forms(p)
    return out + _check_timing(p) + _check_entry(p) + _check_course(p) + _check_flags(p)


def _check_timing(p: ProcessDef) -> list[Problem]:
    """Relative and recurring deadlines (``relative_to``/``offset``, ``recurs``)."""
    out: list[Problem] = []
    for name, d in p.deadlines.items():
        where = ("deadlines", name)
        if d.relative_to is None:
            if d.period is None:
                out.append((where, f"Frist {name!r}: 'period' oder 'relative_to' fehlt"))
            if d.offset is not None:
                out.append(((*where, "offset"), f"Frist {name!r}: 'offset' nur mit 'relative_to'"))
            continue
        if d.period is not None:
            out.append(
                ((*where, "period"), f"Frist {name!r}: nur eines von 'period' und 'relative_to'")
            )
        if d.offset is None:
            out.append(((*where, "relative_to"), f"Frist {name!r}: 'offset' fehlt"))
        base = p.deadlines.get(d.relative_to)
        if base is None:
            out.append(((*where, "relative_to"), f"Frist {d.relative_to!r} nicht definiert"))
        elif base.period is None:
            out.append(
                ((*where, "relative_to"), f"Bezugsfrist {d.relative_to!r} hat keine 'period'")
            )
        if d.recurs:
            out.append(((*where, "recurs"), f"Frist {name!r}: 'recurs' nur mit 'period'"))
    lists: list[tuple[tuple[Any, ...], list[str]]] = [
        (("initial_deadlines",), p.initial_deadlines),
        *[(("transitions", i), t.start) for i, t in enumerate(p.transitions)],
    ]
    for loc, kinds in lists:
        out += [
            (loc, f"Frist {k!r} startet mit {p.deadlines[k].relative_to!r}, nicht selbst")
            for k in kinds
            if k in p.deadlines and p.deadlines[k].relative_to is not None
        ]
    completed = {k for t in p.transitions for k in t.complete}
    out += [
        (("deadlines", name, "recurs"), f"Frist {name!r} wiederholt sich, wird aber nie erfüllt")
        for name, d in p.deadlines.items()
        if d.recurs and name not in completed
    ]
    return out


_FORM_NEEDS: dict[str, tuple[str, Any]] = {
    "termin": ("records", "appointment_on"),
    "ablehnung": ("reason_code", True),
    "bericht": ("report", True),
}
"""What a transition needs for a form of each kind (attribute, value)."""


def _check_forms(p: ProcessDef) -> list[Problem]:
    """Provider forms (``form``): only for events a provider reports, one slug per event
    (an event's form may be given on one of its transitions; where given twice, the same),
    the kind fitting the event (`_FORM_NEEDS`), ``answers``/``pdf`` only for reports; a
    deadline's ``form`` names one of them."""
    out: list[Problem] = []
    slugs: dict[str, str] = {}
    for i, t in enumerate(p.transitions):
        if t.form is None:
            continue
        where = ("transitions", i, "form")
        if "provider" not in t.by:
            out.append((where, f"{t.event}: 'form' nur für Ereignisse mit by: [provider]"))
        if slugs.setdefault(t.form.slug, t.event) != t.event:
            out.append(((*where, "slug"), f"Formular {t.form.slug!r} doppelt"))
        need = _FORM_NEEDS.get(t.form.kind)
        if need is not None and getattr(t, need[0]) != need[1]:
            out.append(
                ((*where, "kind"), f"{t.event}: kind {t.form.kind} braucht {need[0]}: {need[1]}")
            )
        for key in ("answers", "pdf"):
            if getattr(t.form, key) and t.form.kind != "bericht":
                out.append(((*where, key), f"{t.event}: {key!r} nur bei kind bericht"))
    out += [
        (("transitions", i, "reason_code"), f"{t.event}: 'reason_code' anders als beim selben")
        for i, t in enumerate(p.transitions)
        if t.reason_code != (t.event in p.reason_events)
    ]
    others = [t for t in p.transitions if t.form is not None]
    out += [
        (("transitions", i, "form"), f"{t.event}: 'form' anders als beim selben Ereignis")
        for i, t in enumerate(p.transitions)
        if t.form is not None and any(o.event == t.event and o.form != t.form for o in others)
    ]
    out += [
        (("deadlines", name, "form"), f"Formular {d.form!r} ist bei keinem Ereignis definiert")
        for name, d in p.deadlines.items()
        if d.form is not None and d.form not in slugs
    ]
    return out


def _check_flags(p: ProcessDef) -> list[Problem]:
    """``report`` and ``records`` the same for every transition of an event; a staged
    process names the states that release it (``releases_staged``)."""
    out: list[Problem] = [
        (("transitions", i, "report"), f"{t.event}: 'report' anders als beim selben Ereignis")
        for i, t in enumerate(p.transitions)
        if t.report != (t.event in p.report_events)
    ]
    out += [
        (("transitions", i, "records"), f"{t.event}: 'records' anders als beim selben Ereignis")
        for i, t in enumerate(p.transitions)
        if t.records != p.records_of(t.event)
    ]
    if p.staged is not None and not any(s.releases_staged for s in p.states.values()):
        out.append((("staged",), "kein Zustand mit 'releases_staged: true' gibt sie frei"))
    if p.staged is not None and p.release_event("now") is None:
        out.append((("staged",), "kein Ereignis mit 'release: now' gibt sie frei"))
    for i, t in enumerate(p.transitions):
        where = ("transitions", i, "release")
        if t.release is not None and t.from_ != [p.staged]:
            out.append((where, f"{t.event}: 'release' nur für Ereignisse aus {p.staged!r}"))
        elif t.release is not None and p.release_event(t.release) != t.event:
            out.append((where, f"{t.event}: 'release: {t.release}' hat schon ein Ereignis"))
    return out


def _check_course(p: ProcessDef) -> list[Problem]:
    """The ``course``: starts in ``initial``, each step a legal transition, ends final."""
    out: list[Problem] = []
    events = {t.event for t in p.transitions}
    state: str | None = None
    for i, step in enumerate(p.course):
        where = ("course", i)
        if step.state not in p.states:
            out.append((where, f"Zustand {step.state!r} ist nicht unter 'states' definiert"))
        if (step.event is None) != (i == 0):
            out.append((where, "nur der erste Schritt (der Start) hat kein 'event'"))
        elif step.event is None and step.state != p.initial:
            out.append((where, f"der Start führt nach {p.initial!r}, nicht {step.state!r}"))
        elif step.event is not None and step.event not in events:
            out.append((where, f"Ereignis {step.event!r} nicht definiert"))
        elif step.event is not None and state is not None:
            t = p.transition(state, step.event)
            if t is None:
                out.append((where, f"{step.event}: im Zustand {state!r} nicht erlaubt"))
            elif (t.to or state) != step.state:
                out.append((where, f"{step.event}: führt nach {t.to or state!r}"))
        state = step.state
    if state is not None and state in p.states and not p.states[state].final:
        out.append((("course",), f"Ablauf endet in {state!r}, keinem Endzustand"))
    return out


def _check_entry(p: ProcessDef) -> list[Problem]:
    out: list[Problem] = []
    for i, condition in enumerate(p.entry):
        if (condition.refuse_if is None) == (condition.refuse_below is None):
            out.append((("entry", i), "genau eines von 'refuse_if' und 'refuse_below' angeben"))
        if condition.fact in [c.fact for c in p.entry[:i]]:
            out.append((("entry", i, "fact"), f"Angabe {condition.fact!r} doppelt"))
    return out


def _check_standard(
    key: str, s: ServiceStandard, p: ProcessDef, all_services: dict[str, ServiceStandard]
) -> list[Problem]:
    out: list[Problem] = []
    needed = {d.period for d in p.deadlines.values() if d.period is not None}
    needed.discard(STAGED_RELEASE_PERIOD)  # from `staged_release`, not from `periods`
    out += [
        (("periods",), f"Frist {n!r} fehlt (für 'individuell' null eintragen)")
        for n in sorted(needed - set(s.periods))
    ]
    out += [
        (("periods", n), f"Frist {n!r} wird vom Prozess nicht verwendet")
        for n in sorted(set(s.periods) - needed)
    ]
    for name, period in s.periods.items():
        if period is None:
            continue
        try:
            parsed = parse_period(period)
        except InvalidPeriod as exc:
            out.append((("periods", name), str(exc)))
            continue
        if s.day_count == "working_days" and (parsed.years or parsed.months or parsed.weeks):
            out.append((("periods", name), f"{period}: Arbeitstage nur als PnD angeben"))
    if s.staged_after and p.staged is None:
        out.append((("staged_after",), f"Prozess {p.name!r} kennt keine Stufung ('staged')"))
    if s.staged_release.weeks is not None and not s.staged_after:
        out.append((("staged_release",), "Freigabe nach Wochen ohne 'staged_after'"))
    uses_weeks = any(d.period == STAGED_RELEASE_PERIOD for d in p.deadlines.values())
    if s.staged_release.weeks is not None and not uses_weeks:
        out.append(
            (("staged_release",), f"Prozess {p.name!r} hat keine Frist 'period: staged_release'")
        )
    if s.staged_release.weeks is not None and p.release_event("after_weeks") is None:
        out.append(
            (("staged_release",), f"Prozess {p.name!r} hat kein Ereignis 'release: after_weeks'")
        )
    out += _check_relative_periods(s, p) + _check_retention_and_funder(s, p)
    out += [(("phases", i, "code"), msg) for i, msg in check_phases(s.phases)]
    if s.phases and not p.phase_events:
        out.append((("phases",), f"Prozess {p.name!r} hat kein Ereignis 'reports_phase: true'"))
    out += [
        (("staged_after",), f"Leistungsart {other!r} unbekannt")
        for other in s.staged_after
        if other not in all_services or other == key
    ]
    return out


def _check_relative_periods(s: ServiceStandard, p: ProcessDef) -> list[Problem]:
    """A relative deadline must fall after its start for this service's periods."""
    out: list[Problem] = []
    for name, d in p.deadlines.items():
        base = p.deadlines.get(d.relative_to or "")
        if base is None or base.period is None or d.offset is None:
            continue
        period = s.periods.get(base.period)
        if period is None:
            continue
        try:
            combined = relative_period(period, d.offset)
        except InvalidPeriod:
            continue  # reported with the period itself
        if combined is None:
            out.append(
                (
                    ("periods", base.period),
                    f"Frist {name!r} ({d.offset} zu {period}) läge nicht nach ihrem Beginn "
                    "oder mischt Monate und Tage",
                )
            )
    return out


def _check_retention_and_funder(s: ServiceStandard, p: ProcessDef) -> list[Problem]:
    out: list[Problem] = []
    if s.retention is not None:
        try:
            parsed = parse_period(s.retention)
        except InvalidPeriod as exc:
            out.append((("retention",), str(exc)))
        else:
            if parsed.weeks or parsed.days:
                out.append((("retention",), f"{s.retention}: Aufbewahrung nur als PnY oder PnM"))
    informs = any(step.action == "notify_funder" for d in p.deadlines.values() for step in d.ladder)
    if informs and s.funder is None:
        out.append(
            (("process",), f"Prozess {p.name!r} informiert den Leistungsträger: 'funder' fehlt")
        )
    return out


def _check_catalog(c: ServiceCatalog) -> list[Problem]:
    codes = {m.code for m in c.modules}
    out: list[Problem] = [
        (("need_groups", i, "modules"), f"HBG {g.code}: Modul {m} nicht definiert")
        for i, g in enumerate(c.need_groups)
        for m in g.modules
        if m not in codes
    ]
    codes_of: dict[str, list[int | str]] = {
        "need_groups": [g.code for g in c.need_groups],
        "modules": [m.code for m in c.modules],
    }
    for kind, listed in codes_of.items():
        out += [
            ((kind, i, "code"), f"Nummer {code} doppelt")
            for i, code in enumerate(listed)
            if code in listed[:i]
        ]
    for i, m in enumerate(c.modules):
        if m.max_hours is not None and m.max_hours < m.individual_hours:
            out.append((("modules", i, "max_hours"), f"Modul {m.code}: unter individual_hours"))
        if m.max_group_sessions is not None and m.max_group_sessions < m.group_sessions:
            out.append(
                (("modules", i, "max_group_sessions"), f"Modul {m.code}: unter group_sessions")
            )
    return out
