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
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from models.calendar import InvalidPeriod, parse_period
from models.commands import (
    MAX_GROUP_SESSIONS_PER_MODULE,
    MAX_HOURS_PER_MODULE,
    MODULE_CODE_PATTERN,
    AgeGroup,
)

SHIPPED_DIR = Path(__file__).parent / "process_definitions"

Action = Literal["remind_provider", "remind_customer", "notify_caseworker", "escalate", "event"]
VoucherAction = Literal["issue", "redeem", "expire", "invalidate"]
_OFFSET = re.compile(r"^(-)?P(\d+)([DW])$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LadderStep(_Strict):
    """One rung of an escalation ladder, relative to the deadline's due date.

    ``offset`` is ``P3D``/``-P5D``/``P2W`` (calendar days or weeks; negative = before the
    due date). A step fires at 00:00 Europe/Berlin of ``due_on + offset``.
    """

    offset: str
    action: Action
    event: str | None = None

    @field_validator("offset")
    @classmethod
    def _offset_form(cls, value: str) -> str:
        if not _OFFSET.match(value):
            raise ValueError(f"Versatz {value!r} ist nicht von der Form P3D, -P5D oder P2W")
        return value

    @property
    def offset_days(self) -> int:
        """The offset in calendar days (negative before the due date)."""
        match = _OFFSET.match(self.offset)
        assert match is not None
        sign, amount, unit = match.groups()
        days = int(amount) * (7 if unit == "W" else 1)
        return -days if sign else days


class DeadlineDef(_Strict):
    """A Frist: its German title, the name of its period in the standards, its ladder."""

    title: str
    period: str
    ladder: list[LadderStep] = Field(min_length=1)


class StateDef(_Strict):
    title: str
    final: bool = False


class TransitionDef(_Strict):
    """What an event does in the states it is allowed in.

    ``to`` None keeps the state. ``complete`` marks deadlines met, ``cancel`` drops open
    deadlines (``all`` for every one), ``start`` opens deadlines counted from the event date.
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
    states: dict[str, StateDef]
    deadlines: dict[str, DeadlineDef]
    transitions: list[TransitionDef]


class ServiceStandard(_Strict):
    """Mindeststandards of one Leistungsart (seed 002 §4.2)."""

    title: str
    process: str
    day_count: Literal["calendar", "working_days"] = "calendar"
    consent: Literal["optional", "required"] = "optional"
    staged_after: list[str] = []
    periods: dict[str, str | None]


class StandardsDef(_Strict):
    kind: Literal["standards"]
    kommune: str
    land: str = "NW"
    source: str
    services: dict[str, ServiceStandard]


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
        """The ISO period of `deadline` for this service, None when "individuell"."""
        return self.standard.periods.get(self.process.deadlines[deadline].period)


@dataclass(frozen=True)
class Registry:
    """All loaded definitions; `services` is keyed by service type (e.g. ``schulden``)."""

    kommune: str
    processes: dict[str, ProcessDef]
    services: dict[str, ServiceConfig] = field(default_factory=dict)

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
        services[key] = ServiceConfig(key, service, process, std.land, found[1] if found else None)
    for key, (cat_source, catalog) in catalogs.items():
        if key not in std.services:
            problems.append(f"{cat_source.where('services', key)}: Leistungsart {key!r} unbekannt")
        problems += [
            f"{cat_source.where('services', key, *loc)}: {msg}"
            for loc, msg in _check_catalog(catalog)
        ]
    if problems:
        raise ProcessDefinitionError(problems)
    return Registry(std.kommune, processes, services)


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
    return out


def _check_standard(
    key: str, s: ServiceStandard, p: ProcessDef, all_services: dict[str, ServiceStandard]
) -> list[Problem]:
    out: list[Problem] = []
    needed = {d.period for d in p.deadlines.values()}
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
    out += [
        (("staged_after",), f"Leistungsart {other!r} unbekannt")
        for other in s.staged_after
        if other not in all_services or other == key
    ]
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
