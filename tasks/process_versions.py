"""Referrals keep the version of the process definition they started with (issue 10.4).

- `record_version`: at the start of a referral, the current version of its Leistungsart
  is stored (`models.tables.ProcessVersion`, once per version) and named on the referral.
- `service_for`: the `ServiceConfig` a referral is decided by: the current one when it
  runs on it (or on none: started before versions were kept), else its own version
  rebuilt from the stored definition. A changed Kommune file thus applies to new
  referrals only.
- `pending_changes`: per Leistungsart, the running cases on older versions and what the
  current definition would change for them (``kel check-config``).
- `migrate_cases`: moves running cases to the current version, explicitly and audited
  (``kel process migrate-cases``); running deadlines keep their due dates and timers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select

from models.process import Registry, ServiceConfig
from models.process_versions import (
    definition_of,
    differences,
    period_changes,
    rebuild,
    version_of,
)
from models.tables import Deadline, DeadlineState, ProcessVersion, Referral

if TYPE_CHECKING:
    from tasks.repository import Actor

_CURRENT: dict[int, tuple[ServiceConfig, str]] = {}
_STORED: dict[tuple[str, str], ServiceConfig] = {}


def current_version(service: ServiceConfig) -> str:
    """The version name of `service` (computed once per loaded `ServiceConfig`)."""
    known = _CURRENT.get(id(service))
    if known is None or known[0] is not service:
        known = (service, version_of(definition_of(service)))
        _CURRENT[id(service)] = known
    return known[1]


def record_version(session: Session, service: ServiceConfig, now: datetime) -> str:
    """The current version of `service`, stored as a `ProcessVersion` row if new (in a
    savepoint: a concurrent start storing it too is no error). Commits nothing."""
    version = current_version(service)
    if _stored_row(session, service.service_type, version) is None:
        try:
            with session.begin_nested():
                session.add(
                    ProcessVersion(
                        service_type=service.service_type,
                        version=version,
                        definition=definition_of(service),
                        created_at=now,
                    )
                )
        except IntegrityError:  # stored meanwhile by a concurrent start
            pass
    return version


def _stored_row(session: Session, service_type: str, version: str) -> ProcessVersion | None:
    return session.exec(
        select(ProcessVersion).where(
            ProcessVersion.service_type == service_type, ProcessVersion.version == version
        )
    ).first()


class UnknownVersion(LookupError):
    """A referral names a version that is not stored (the database was edited by hand)."""


def stored_service(session: Session, service_type: str, version: str) -> ServiceConfig:
    """The `ServiceConfig` of the stored `version` (cached: versions never change);
    raises `UnknownVersion`."""
    service = _STORED.get((service_type, version))
    if service is None:
        row = _stored_row(session, service_type, version)
        if row is None:
            raise UnknownVersion(f"Prozessversion {version} von {service_type!r} fehlt")
        service = _STORED[(service_type, version)] = rebuild(row.definition)
    return service


def service_for(session: Session, registry: Registry, referral: Referral) -> ServiceConfig:
    """The definition `referral` is decided by: its own version, the current one when it
    is that (or when it has none). Raises `UnknownServiceType`, `UnknownVersion`."""
    current = registry.service(referral.service_type)
    version = referral.process_version
    if version is None or version == current_version(current):
        return current
    return stored_service(session, referral.service_type, version)


def _running(service_type: str) -> list[object]:
    return [Referral.service_type == service_type, col(Referral.closed_on).is_(None)]


@dataclass
class OlderVersion:
    """Running cases of one Leistungsart on one older version (None: no version kept)."""

    version: str | None
    cases: int
    changes: list[str] = field(default_factory=list)
    periods: list[tuple[str, str, str]] = field(default_factory=list)


def pending_changes(session: Session, registry: Registry) -> dict[str, list[OlderVersion]]:
    """Per Leistungsart of `registry`: its running cases not on the current version,
    grouped by version, with what the current definition changes for them (German lines,
    `models.process_versions.differences`). Cases without a version follow the current
    definition already; they are counted with ``version`` None and no changes."""
    out: dict[str, list[OlderVersion]] = {}
    for key, service in sorted(registry.services.items()):
        current = current_version(service)
        rows = session.exec(
            select(Referral.process_version, func.count())
            .where(*_running(key))  # type: ignore[arg-type]
            .group_by(col(Referral.process_version))
        ).all()
        older = []
        for version, count in sorted(rows, key=lambda r: r[0] or ""):
            if version == current:
                continue
            entry = OlderVersion(version, count)
            if version is not None:
                old = stored_service(session, key, version)
                entry.changes = differences(old, service)
                entry.periods = period_changes(old, service)
            older.append(entry)
        if older:
            out[key] = older
    return out


class MigrationRefused(ValueError):
    """Running cases cannot move to the current version; the message (German) lists each
    case (Aktenzeichen) with the state or open deadline the new version lacks."""


@dataclass
class Migrated:
    """What `migrate_cases` did (or would do, dry run): the target version and the
    Aktenzeichen of the cases moved."""

    version: str
    references: list[str] = field(default_factory=list)


def migrate_cases(
    session: Session,
    registry: Registry,
    service_type: str,
    *,
    now: datetime,
    actor: Actor,
    dry_run: bool = False,
) -> Migrated:
    """Move every running case of `service_type` not on the current version to it, with
    one audit entry each (``process_version_migrated``, old and new version). All or
    none: raises `MigrationRefused` when a case's state or one of its open deadlines does
    not exist in the current version (nothing is written). Open deadlines keep their due
    dates and timers; later events and timers are decided by the new version (a ladder
    rung it no longer has is skipped, `models.statemachine`). `dry_run`: writes nothing.
    The caller commits; rows are locked (``FOR UPDATE`` on PostgreSQL)."""
    from tasks.repository import audit

    service = registry.service(service_type)
    version = current_version(service)
    referrals = session.exec(
        select(Referral)
        .where(*_running(service_type))  # type: ignore[arg-type]
        .where(or_(col(Referral.process_version).is_(None), Referral.process_version != version))
        .order_by(col(Referral.id))
        .with_for_update()
    ).all()
    blocked = [line for r in referrals for line in _lacking(session, registry, r, service)]
    if blocked:
        raise MigrationRefused(
            f"Keine Fälle umgestellt: {len(blocked)} Hindernis(se) in der neuen Version "
            f"von {service.title}:\n" + "\n".join(blocked)
        )
    result = Migrated(version, [r.reference for r in referrals])
    if dry_run or not referrals:
        return result
    record_version(session, service, now)
    for referral in referrals:
        old, referral.process_version = referral.process_version, version
        session.add(referral)
        audit(
            session,
            now,
            actor,
            "process_version_migrated",
            referral.id,
            old_version=old,
            new_version=version,
        )
    return result


def _lacking(
    session: Session, registry: Registry, referral: Referral, new: ServiceConfig
) -> list[str]:
    """German lines for `referral`'s state and open deadlines missing in `new`."""
    old = service_for(session, registry, referral)
    out = []
    if referral.state not in new.process.states:
        title = old.process.states[referral.state].title
        out.append(f"{referral.reference}: Zustand „{title}“ gibt es nicht mehr")
    for deadline in session.exec(
        select(Deadline).where(
            Deadline.referral_id == referral.id, Deadline.state == DeadlineState.open
        )
    ):
        if deadline.kind not in new.process.deadlines:
            out.append(f"{referral.reference}: offene Frist „{deadline.title}“ gibt es nicht mehr")
    return out
