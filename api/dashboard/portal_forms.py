"""The provider's forms (Träger-Portal): which form reports which event, and what a posted
form means as a `models.commands.ReferralEvent`.

One form per event a provider reports (a transition's ``form`` in the process YAML,
`models.process.ProviderForm`: no event name here), each on its own page
(``/dashboard/faelle/<Aktenzeichen>/meldung/<slug>``, `models.urls.form_path`). The
reports (Rückmeldung, Zwischen-, Ergebnis-, Abschlussbericht) follow the report form of
seed 002 §4.6.5 (Anlage 2: 2. Ausgangssituation, 3. Ziele/Leistungsmodule, 4. Ergebnis,
5. Weitere Maßnahmen, 6. Sonstiges/Mitwirkung; its part 1, the person's name and address,
is left out: the Aktenzeichen identifies the case) with the status fields of
`models.commands.FeedbackIn`, the Hilfebedarfsgruppe and the Leistungsmodule of the
service's catalog (seed 002 §4.6.1, §4.6.4). Without a Schweigepflichtentbindung of scope
content naming the provider, a report is status only (seed 003; § 67b SGB X).

Here only the form's syntax is checked (a date is a date, hours are a number); what the
process and the catalog allow is decided on the one path (`api.dashboard.actions.submit_form`
-> `models.report_checks.check_feedback`). Pure: no database or web code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydantic import ValidationError

from models.commands import (
    DECLINE_REASONS,
    MAX_TEXT_CHARS,
    BookedModule,
    FeedbackIn,
    ReferralEvent,
    ReportContent,
)
from models.german import datum
from models.process import FormKind, ProcessDef, Registry, ServiceConfig, ServiceModule


@dataclass(frozen=True)
class FormDef:
    """One form: its URL `slug`, the `event` it reports, what it asks (`kind`), its German
    `title`, the label of its button, the message shown after it was saved (`done`), the
    status questions a report opens answered with "ja" (`answers`) and the heading of a
    report's PDF sheet (`pdf`)."""

    slug: str
    event: str
    kind: FormKind
    title: str
    button: str
    done: str
    intro: str = ""
    answers: tuple[str, ...] = ()
    pdf: str | None = None  # heading of the report's PDF sheet; None: no PDF


def forms(service: ServiceConfig, registry: Registry | None = None) -> dict[str, FormDef]:
    """The provider's forms of `service` (the version a case runs on) by slug, in the order
    of its transitions: each transition's ``form`` (`models.process.ProviderForm`). A
    version stored before forms were part of the process YAML names none: it takes those of
    the current definition of its Leistungsart in `registry`, for the events it knows."""
    process = _with_forms(service, registry)
    known = {t.event for t in service.process.transitions}
    return {
        t.form.slug: FormDef(
            t.form.slug,
            t.event,
            t.form.kind,
            t.form.title or t.title,
            t.form.button,
            t.form.done,
            t.form.intro,
            tuple(t.form.answers),
            t.form.pdf,
        )
        for t in process.transitions
        if t.form is not None and t.event in known
    }


def deadline_form(
    service: ServiceConfig, kind: str, registry: Registry | None = None
) -> str | None:
    """The slug of the form a reminder about the Frist `kind` links to (its ``form``)."""
    found = _with_forms(service, registry).deadlines.get(kind)
    return found.form if found is not None else None


def _with_forms(service: ServiceConfig, registry: Registry | None) -> ProcessDef:
    if any(t.form for t in service.process.transitions) or registry is None:
        return service.process
    current = registry.services.get(service.service_type)
    return current.process if current is not None else service.process


STATUS_FIELDS = (
    ("termin_wahrgenommen", "appointment_kept", "Erstgespräch wahrgenommen?"),
    ("beratung_laeuft", "counselling_ongoing", "Beratung läuft?"),
    ("beendet", "ended", "Beratung beendet?"),
)
"""Radio groups of a report: form name, `FeedbackIn` field, question."""

CONTENT_FIELDS = (
    ("ausgangssituation", "2. Ausgangssituation"),
    ("ziele", "3. Ziele der Beratung / Leistungsmodule"),
    ("ergebnis", "4. (Zwischen-)Ergebnis"),
    ("weitere_massnahmen", "5. Weitere Maßnahmen / Zeitraum / Ausblick"),
    ("mitwirkung", "6. Sonstiges (u. a. Mitwirkung der Kundin / des Kunden)"),
)
"""The text sections of the report form (seed 002 §4.6.5, Anlage 2), by `ReportContent`
field; part 1 (name, address) is left out."""

FORM_KEY = re.compile(r"[\x21-\x7e]{8,128}")
_NUMBER = re.compile(r"\d{1,4}(?:[.,]\d{1,2})?")
_WHOLE = re.compile(r"\d{1,3}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ModuleField:
    """A Leistungsmodul of the catalog as form inputs (hours; sessions only if it has any)."""

    code: int | str
    title: str
    hours_bound: float
    sessions_bound: int

    @property
    def hours_id(self) -> str:
        return f"modul-{self.code}-stunden"

    @property
    def sessions_id(self) -> str:
        return f"modul-{self.code}-sitzungen"


@dataclass(frozen=True)
class FormContext:
    """What a form needs to know of its case: today, the referral's start and booked
    appointment, its service, the customer's age group, whether content may be reported."""

    today: date
    started_on: date
    appointment_on: date | None
    service: ServiceConfig
    age_group: str
    content_allowed: bool
    max_appointment_days: int

    @property
    def need_groups(self) -> list[tuple[int, str, str]]:
        """(code, title, description) of the catalog's Hilfebedarfsgruppen; [] without one."""
        catalog = self.service.catalog
        groups = catalog.need_groups if catalog else []
        return [(g.code, g.title, g.description) for g in groups]

    @property
    def modules(self) -> list[ModuleField]:
        """The catalog's modules for the customer's age group (`models.report_checks`)."""
        catalog = self.service.catalog
        return [
            _module_field(m)
            for m in (catalog.modules if catalog else [])
            if m.age_groups is None or self.age_group in m.age_groups
        ]


def _module_field(module: ServiceModule) -> ModuleField:
    return ModuleField(module.code, module.title, module.hours_bound, module.sessions_bound)


@dataclass
class Parsed:
    """A posted form: the event to submit (None while `errors` is not empty), its date, the
    errors by input id (``""``: the whole form), and the booked module codes in the order of
    ``feedback.modules`` (to place a catalog refusal next to its input)."""

    payload: ReferralEvent | None = None
    occurred_on: date | None = None
    errors: dict[str, str] = field(default_factory=dict)
    booked: list[int | str] = field(default_factory=list)


def defaults(form: FormDef, ctx: FormContext) -> dict[str, str]:
    """The values a form opens with."""
    if form.kind == "datum":
        seen = ctx.appointment_on
        return {"am": (seen if seen is not None and seen <= ctx.today else ctx.today).isoformat()}
    if form.kind == "bericht":
        return {name: "ja" if field in form.answers else "" for name, field, _ in STATUS_FIELDS}
    return {}


def parse(form: FormDef, values: Mapping[str, str], ctx: FormContext) -> Parsed:
    """Read the posted `values` of `form` into a `ReferralEvent` dated today (or the day the
    form asks for); every syntax error as a German message next to its input."""
    parsed = Parsed(occurred_on=ctx.today)
    if not FORM_KEY.fullmatch(values.get("form_key", "")):
        parsed.errors[""] = "Das Formular ist unvollständig. Bitte laden Sie die Seite neu."
    event = _READERS[form.kind](form.event, values, ctx, parsed)
    if not parsed.errors:
        parsed.payload = event
    return parsed


def _appointment(
    event: str, values: Mapping[str, str], ctx: FormContext, parsed: Parsed
) -> ReferralEvent:
    day = _day(values, "termin_am", "Termin", parsed)
    if day is None:
        return ReferralEvent(event=event)
    latest = ctx.today + timedelta(days=ctx.max_appointment_days)
    _bounded(parsed, "termin_am", day, ctx.started_on, latest, "Der Termin")
    return ReferralEvent(event=event, appointment_on=day)


def _dated(
    event: str, values: Mapping[str, str], ctx: FormContext, parsed: Parsed
) -> ReferralEvent:
    day = _day(values, "am", "Tag des Erstgesprächs", parsed)
    if day is not None:
        _bounded(parsed, "am", day, ctx.started_on, ctx.today, "Der Tag")
        parsed.occurred_on = day
    return ReferralEvent(event=event)


def _decline(
    event: str, values: Mapping[str, str], _: FormContext, parsed: Parsed
) -> ReferralEvent:
    reason = values.get("grund", "")
    if reason not in DECLINE_REASONS:
        parsed.errors["grund"] = "Bitte wählen Sie einen Grund der Ablehnung."
        return ReferralEvent(event=event)
    return ReferralEvent.model_validate({"event": event, "reason_code": reason})


def _report(
    event: str, values: Mapping[str, str], ctx: FormContext, parsed: Parsed
) -> ReferralEvent:
    return ReferralEvent(event=event, feedback=_feedback(values, ctx, parsed))


def _confirm(event: str, _: Mapping[str, str], __: FormContext, ___: Parsed) -> ReferralEvent:
    return ReferralEvent(event=event)


_READERS: dict[FormKind, Callable[[str, Mapping[str, str], FormContext, Parsed], ReferralEvent]] = {
    "termin": _appointment,
    "datum": _dated,
    "ablehnung": _decline,
    "bericht": _report,
    "bestaetigung": _confirm,
}


def _day(values: Mapping[str, str], name: str, what: str, parsed: Parsed) -> date | None:
    """The ISO date (``YYYY-MM-DD``, what a date input sends) in `name`, else an error."""
    text = values.get(name, "").strip()
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    parsed.errors[name] = f"{what}: bitte ein gültiges Datum angeben."
    return None


def _bounded(parsed: Parsed, name: str, day: date, earliest: date, latest: date, what: str) -> None:
    if day < earliest:
        parsed.errors[name] = f"{what} darf nicht vor dem {datum(earliest)} liegen."
    elif day > latest:
        parsed.errors[name] = f"{what} darf nicht nach dem {datum(latest)} liegen."


def _feedback(values: Mapping[str, str], ctx: FormContext, parsed: Parsed) -> FeedbackIn:
    status = {
        attribute: {"ja": True, "nein": False}.get(values.get(name, ""))
        for name, attribute, _ in STATUS_FIELDS
    }
    if not ctx.content_allowed:
        if any(values.get(name, "").strip() for name in _content_names(ctx)):
            parsed.errors[""] = (
                "Ohne Schweigepflichtentbindung für Inhalte melden Sie nur den Status; "
                "bitte lassen Sie Hilfebedarfsgruppe, Module und Texte leer."
            )
        return FeedbackIn.model_validate(status)
    modules = _modules(values, ctx, parsed)
    content = {}
    for name, _ in CONTENT_FIELDS:
        text = values.get(name, "").strip()
        if len(text) > MAX_TEXT_CHARS:
            parsed.errors[name] = f"Höchstens {MAX_TEXT_CHARS:,} Zeichen.".replace(",", ".")
            text = ""
        content[name] = text
    return FeedbackIn(
        **status,
        need_group=_need_group(values, parsed),
        modules=modules,
        content=ReportContent(**content),
    )


def _content_names(ctx: FormContext) -> list[str]:
    inputs = [m.hours_id for m in ctx.modules] + [m.sessions_id for m in ctx.modules]
    return ["hbg", *inputs, *(name for name, _ in CONTENT_FIELDS)]


def _need_group(values: Mapping[str, str], parsed: Parsed) -> int | None:
    text = values.get("hbg", "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 99:
        parsed.errors["hbg"] = "Bitte wählen Sie eine Hilfebedarfsgruppe aus der Liste."
        return None
    return int(text)


def _modules(values: Mapping[str, str], ctx: FormContext, parsed: Parsed) -> list[BookedModule]:
    """The modules with hours or sessions entered (a module left at 0 is not booked)."""
    booked = []
    for module in ctx.modules:
        hours = _amount(values, module.hours_id, _NUMBER, parsed)
        sessions = 0.0
        if module.sessions_bound:
            sessions = _amount(values, module.sessions_id, _WHOLE, parsed)
        if not hours and not sessions:
            continue
        try:
            booked.append(BookedModule(code=module.code, hours=hours, group_sessions=int(sessions)))
        except ValidationError:
            parsed.errors[module.hours_id] = "Dieser Wert ist zu groß."
            continue
        parsed.booked.append(module.code)
    return booked


def _amount(values: Mapping[str, str], name: str, form: re.Pattern[str], parsed: Parsed) -> float:
    text = values.get(name, "").strip()
    if not text:
        return 0.0
    if not form.fullmatch(text):
        parsed.errors[name] = (
            "Bitte eine Zahl ab 0 angeben, z. B. 1,5."
            if form is _NUMBER
            else "Bitte eine ganze Zahl ab 0 angeben."
        )
        return 0.0
    value = float(text.replace(",", "."))
    return value if math.isfinite(value) else 0.0


def input_for(field_path: str | None, booked: list[int | str]) -> str:
    """The input id a refusal of `models.report_checks.check_feedback` is about (its
    ``field``, e.g. ``modules[0].hours``); ``""`` for the whole form."""
    if field_path == "need_group":
        return "hbg"
    found = re.fullmatch(r"modules\[(\d+)\]\.(code|hours|group_sessions)", field_path or "")
    if found is None or int(found[1]) >= len(booked):
        return ""
    suffix = "sitzungen" if found[2] == "group_sessions" else "stunden"
    return f"modul-{booked[int(found[1])]}-{suffix}"
