"""Versions of a Leistungsart's process definition (issue 10, point 4).

A version is the content of one `ServiceConfig` (process type, Mindeststandards, catalog,
holiday calendar) as canonical JSON (`definition_of`), named by the first 12 hex digits
of its SHA-256 (`version_of`). A referral keeps the version it started with
(`tasks.process_versions`); a changed Kommune file gives a new version for new referrals
only. `rebuild` turns a stored definition back into a `ServiceConfig`; `differences`
says in German what changed between two versions (for ``kel check-config``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from models.calendar import HolidayCalendar
from models.process import (
    DeadlineDef,
    ProcessDef,
    ServiceCatalog,
    ServiceConfig,
    ServiceStandard,
    StateDef,
)

VERSION_LENGTH = 12
"""Hex digits of the SHA-256 kept as the version name (48 bits: no collision among the
few versions of one Leistungsart)."""


def definition_of(service: ServiceConfig) -> dict[str, Any]:
    """The definition of `service` as JSON values (aliases as in the YAML, e.g. ``from``)."""
    calendar = service.calendar
    return {
        "service_type": service.service_type,
        "land": service.land,
        "standard": service.standard.model_dump(mode="json", by_alias=True),
        "process": service.process.model_dump(mode="json", by_alias=True),
        "catalog": (
            None
            if service.catalog is None
            else service.catalog.model_dump(mode="json", by_alias=True)
        ),
        "calendar": {
            "land": calendar.land,
            "subdivision": calendar.subdivision,
            "categories": list(calendar.categories),
        },
    }


def canonical(definition: dict[str, Any]) -> str:
    """`definition` as canonical JSON: sorted keys, no spaces, UTF-8 characters kept."""
    return json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def version_of(definition: dict[str, Any]) -> str:
    """The version name of `definition`: 12 lowercase hex digits of its SHA-256."""
    return hashlib.sha256(canonical(definition).encode("utf-8")).hexdigest()[:VERSION_LENGTH]


def rebuild(definition: dict[str, Any]) -> ServiceConfig:
    """The `ServiceConfig` stored as `definition` (from `definition_of`); raises pydantic's
    `ValidationError` for a definition the current schema no longer reads."""
    calendar = definition["calendar"]
    catalog = definition.get("catalog")
    return ServiceConfig(
        service_type=definition["service_type"],
        standard=ServiceStandard.model_validate(definition["standard"]),
        process=ProcessDef.model_validate(definition["process"]),
        land=definition["land"],
        catalog=None if catalog is None else ServiceCatalog.model_validate(catalog),
        calendar=HolidayCalendar(
            calendar["land"], calendar["subdivision"], tuple(calendar["categories"])
        ),
    )


def _period_text(period: str | None) -> str:
    return "individuell" if period is None else period


def period_changes(old: ServiceConfig, new: ServiceConfig) -> list[tuple[str, str, str]]:
    """Deadlines defined in both versions whose period differs: (title, old, new), with
    ``individuell`` for none, e.g. ``("Zwischenmeldung", "P6W", "P8W")``."""
    out = []
    for kind, definition in new.process.deadlines.items():
        if kind not in old.process.deadlines:
            continue
        before, after = old.period(kind), new.period(kind)
        if before != after:
            out.append((definition.title, _period_text(before), _period_text(after)))
    return out


def differences(old: ServiceConfig, new: ServiceConfig) -> list[str]:
    """What changes from `old` to `new`, one German line each: states and deadlines added
    or removed, periods, ladders and transitions changed, standards, catalog and calendar.
    Empty when both are the same definition."""
    out: list[str] = []
    p, q = old.process, new.process
    for label, before, after in (
        ("Zustand", _titles(p.states), _titles(q.states)),
        ("Frist", _titles(p.deadlines), _titles(q.deadlines)),
    ):
        out += [f"{label} neu: {title}" for k, title in after.items() if k not in before]
        out += [f"{label} entfällt: {title}" for k, title in before.items() if k not in after]
    out += [f"{title}: {a} → {b}" for title, a, b in period_changes(old, new)]
    out += [
        f"{d.title}: Erinnerungs- und Eskalationsstufen geändert"
        for k, d in q.deadlines.items()
        if k in p.deadlines and p.deadlines[k].ladder != d.ladder
    ]
    events_old = {t.event: t for t in p.transitions}
    events_new = {t.event: t for t in q.transitions}
    out += [f"Ereignis neu: {t.title}" for e, t in events_new.items() if e not in events_old]
    out += [f"Ereignis entfällt: {t.title}" for e, t in events_old.items() if e not in events_new]
    changed = [
        t.title
        for e, t in events_new.items()
        if e in events_old
        and [x for x in p.transitions if x.event == e] != [x for x in q.transitions if x.event == e]
    ]
    out += [f"Ereignis geändert: {title}" for title in changed]
    out += _other_changes(old, new)
    return out


def _titles(named: Mapping[str, StateDef] | Mapping[str, DeadlineDef]) -> dict[str, str]:
    return {key: value.title for key, value in named.items()}


def _other_changes(old: ServiceConfig, new: ServiceConfig) -> list[str]:
    out: list[str] = []
    standard_old = old.standard.model_dump(exclude={"periods"})
    if standard_old != new.standard.model_dump(exclude={"periods"}):
        out.append("Mindeststandards geändert (außer Fristen)")
    if old.catalog != new.catalog:
        out.append("Katalog (Hilfebedarfsgruppen, Module) geändert")
    if old.calendar != new.calendar or old.land != new.land:
        out.append("Feiertagskalender geändert")
    if old.process.entry != new.process.entry:
        out.append("Ausschlusskriterien geändert")
    return out
