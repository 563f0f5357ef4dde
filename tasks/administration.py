"""Administration of a jobcenter's master data: Träger, Standorte and accounts (issue 8.5).

One place for the ``kel provider|site|user`` commands and the Verwaltung pages of the
dashboard: both build an input (`ProviderInput`, `SiteInput`, `UserInput`, raw values as
typed, read from a form or from an import file) and call the functions here, which check
every value, write, and append one audit entry per change (DESIGN §4.7; the detail holds
codes, account names and the NAMES of the changed fields, never values such as e-mail
addresses or passwords). Nothing here commits: the caller does, so an import is written
all or nothing.

Every refusal is an `InvalidInput` listing each `Mistake` (field, German message, line of
an import file); `UnknownRecord` (a subclass) when the Träger, Standort or account named
does not exist. Deactivating an account ends its sessions at once (`api.security`); an
inactive Träger gets no new referrals (`tasks.commands`) but keeps its running cases.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.security import hash_password, revoke_sessions
from models.calendar import LANDS
from models.passwords import MIN_SCORE, password_problem
from models.process import Registry
from models.tables import Provider, Role, Site, User
from tasks.repository import Actor, audit

MAX_CODE = 60
MAX_CAPACITY = 100_000
_CODE = re.compile(r"[^\W_][\w .-]*")  # letters (also ä, ß), digits, space, "." "_" "-"
_USERNAME = re.compile(r"[^\W_][\w.@-]*")
_DIGITS = re.compile(r"[0-9]{1,9}")
_PHONE = re.compile(r"[0-9+()/ .-]{3,40}")
_YES = {"ja", "j", "true", "wahr", "1", "aktiv", "yes", "y"}
_NO = {"nein", "n", "false", "falsch", "0", "inaktiv", "no"}
ROLE_TITLES: dict[str, str] = {
    Role.caseworker: "Integrationsfachkraft",
    Role.provider: "Träger",
    Role.coordinator: "Koordination §\u00a016a",
    Role.admin: "Administration",
}
#: Characters of a generated password: no 0/O, 1/l/I that are mistaken when read out.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


# --- refusals --------------------------------------------------------------------------


@dataclass(frozen=True)
class Mistake:
    """One refused value: the input `field` (``email``, ``services``, …), a German
    `message`, and the `line` of an import file it stands on (None outside imports)."""

    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return self.message if self.line is None else f"Zeile {self.line}: {self.message}"


class InvalidInput(ValueError):
    """Refused input; `mistakes` names every bad value (German). Nothing was written."""

    def __init__(self, mistakes: Sequence[Mistake]) -> None:
        self.mistakes = list(mistakes)
        super().__init__("\n".join(str(m) for m in self.mistakes))

    def by_field(self) -> dict[str, str]:
        """The first message per field (for the error next to a form field)."""
        found: dict[str, str] = {}
        for mistake in self.mistakes:
            found.setdefault(mistake.field, mistake.message)
        return found


class UnknownRecord(InvalidInput):
    """The Träger, Standort or account named does not exist."""


def _unknown(what: str, key: str, field_name: str) -> UnknownRecord:
    return UnknownRecord([Mistake(field_name, f"{what} „{key}“ gibt es nicht.")])


class _Check:
    """Collects the mistakes of one record; `lines` maps fields to lines of a file."""

    def __init__(self, line: int | None = None, lines: Mapping[str, int] | None = None) -> None:
        self.line, self.lines = line, dict(lines or {})
        self.mistakes: list[Mistake] = []

    def fail(self, field_name: str, message: str) -> None:
        self.mistakes.append(Mistake(field_name, message, self.lines.get(field_name, self.line)))

    def done(self) -> None:
        if self.mistakes:
            raise InvalidInput(self.mistakes)

    def text(self, name: str, value: object, label: str, limit: int, *, required: bool) -> str:
        """`value` stripped; refused when required and empty or longer than `limit`."""
        text = "" if value is None else str(value).strip()
        if required and not text:
            self.fail(name, f"{label} fehlt.")
        elif len(text) > limit:
            self.fail(name, f"{label} ist zu lang (höchstens {limit} Zeichen).")
        return text

    def code(self, name: str, value: object, label: str) -> str:
        code = self.text(name, value, label, MAX_CODE, required=True)
        if code and not _CODE.fullmatch(code):
            self.fail(
                name,
                f"{label} „{code}“ ist ungültig: erlaubt sind Buchstaben, Ziffern, "
                "Leerzeichen, Punkt, Binde- und Unterstrich.",
            )
        return code

    def email(self, name: str, value: object, *, required: bool) -> str:
        text = self.text(name, value, "Die E-Mail-Adresse", 254, required=required)
        if not text:
            return ""
        try:
            return validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError:
            self.fail(name, f"„{text}“ ist keine gültige E-Mail-Adresse.")
            return text

    def phone(self, name: str, value: object) -> str:
        text = self.text(name, value, "Die Telefonnummer", 40, required=False)
        if text and not _PHONE.fullmatch(text):
            self.fail(
                name,
                f"Die Telefonnummer „{text}“ ist ungültig: erlaubt sind Ziffern, "
                "Leerzeichen und + ( ) / . -",
            )
        return text

    def count(self, name: str, value: object, label: str) -> int:
        """A whole number 0..`MAX_CAPACITY`; an empty text is 0."""
        text = "" if value is None else str(value).strip()
        if text == "" and not isinstance(value, bool):
            return 0
        if isinstance(value, bool) or not _DIGITS.fullmatch(text) or int(text) > MAX_CAPACITY:
            self.fail(
                name,
                f"{label} muss eine ganze Zahl von 0 bis {MAX_CAPACITY} sein (nicht „{text}“).",
            )
            return 0
        return int(text)

    def flag(self, name: str, value: object) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in _YES | _NO:
            self.fail(name, f"„{value}“ ist keine Angabe für aktiv: bitte „ja“ oder „nein“.")
        return text in _YES

    def multiline(self, name: str, value: object, label: str, limit: int) -> str:
        """A text of several lines (an address), each line stripped."""
        text = self.text(name, value, label, limit, required=False).replace("\r\n", "\n")
        return "\n".join(line.strip() for line in text.split("\n"))

    def items(self, value: object) -> list[str]:
        """A list from a list or a comma-separated text; blanks dropped, order kept."""
        if isinstance(value, str):
            raw: list[object] = list(value.split(","))
        elif isinstance(value, list | tuple):
            raw = list(value)
        else:
            raw = [] if value is None else [value]
        return list(dict.fromkeys(str(v).strip() for v in raw if str(v).strip()))


# --- the context of a change -----------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """Who changes what, when: the session (not committed here), the process definitions
    (the known Leistungsarten), the audit actor, the time and the least password score."""

    session: Session
    registry: Registry
    actor: Actor
    now: datetime
    password_min_score: int = MIN_SCORE

    def audit(self, action: str, **detail: Any) -> None:
        audit(self.session, self.now, self.actor, action, None, **detail)


def _changes(row: Any, values: Mapping[str, Any]) -> list[str]:
    """Set `values` on `row`; the names of the fields that changed, sorted."""
    changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
    for name in changed:
        setattr(row, name, values[name])
    return changed


# --- Träger and Standorte --------------------------------------------------------------


@dataclass(frozen=True)
class ProviderInput:
    """A Träger as entered; None leaves a field unchanged (or at its default when new).

    `services` are Leistungsarten of the process definitions (``schulden``), `sites`
    codes of `Site` rows (none: every site), `capacity` new cases a month (0 or more).
    """

    code: str
    name: str | None = None
    email: str | None = None
    services: Sequence[str] | str | None = None
    sites: Sequence[str] | str | None = None
    capacity: int | str | None = None
    address: str | None = None
    phone: str | None = None
    hint: str | None = None
    active: bool | str | None = None


@dataclass(frozen=True)
class SiteInput:
    """A Standort as entered; `land` the Bundesland (ISO code, e.g. ``NW``) whose public
    holidays count for its deadlines; `jobcenter` the name on Gutschein and reports."""

    code: str
    name: str | None = None
    land: str | None = None
    jobcenter: str | None = None
    address: str | None = None
    active: bool | str | None = None


def _provider_values(ctx: Context, data: ProviderInput, new: bool, check: _Check) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if new or data.name is not None:
        values["name"] = check.text("name", data.name, "Der Name", 200, required=True)
    if new or data.email is not None:
        values["email"] = check.email("email", data.email, required=True)
    if new or data.services is not None:
        values["service_types"] = _services(ctx, check, data.services)
    if data.sites is not None:
        values["sites"] = _sites(ctx.session, check, "sites", check.items(data.sites))
    if data.capacity is not None:
        values["monthly_capacity"] = check.count("capacity", data.capacity, "Die Kapazität")
    if data.address is not None:
        values["address"] = check.multiline("address", data.address, "Die Adresse", 500)
    if data.hint is not None:
        values["appointment_hint"] = check.multiline(
            "hint", data.hint, "Der Hinweis zur Terminvereinbarung", 500
        )
    if data.phone is not None:
        values["phone"] = check.phone("phone", data.phone)
    if data.active is not None:
        values["active"] = check.flag("active", data.active)
    return values


def _services(ctx: Context, check: _Check, value: object) -> list[str]:
    services = check.items(value)
    known = ctx.registry.services
    if not services:
        check.fail("services", "Mindestens eine Leistungsart ist anzugeben.")
    for service in services:
        if service not in known:
            listed = ", ".join(sorted(known))
            check.fail("services", f"Unbekannte Leistungsart „{service}“; bekannt sind: {listed}.")
    return services


def _sites(session: Session, check: _Check, field_name: str, codes: list[str]) -> list[str]:
    known = set(session.exec(select(Site.code).where(col(Site.code).in_(codes))))
    for code in codes:
        if code not in known:
            check.fail(
                field_name, f"Unbekannter Standort „{code}“: bitte zuerst den Standort anlegen."
            )
    return codes


def _site_values(ctx: Context, data: SiteInput, new: bool, check: _Check) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if new or data.name is not None:
        values["name"] = check.text("name", data.name, "Der Name", 200, required=True)
    if new or data.land is not None:
        land = check.text("land", data.land, "Das Bundesland", 40, required=True).upper()
        if land and land not in LANDS:
            check.fail(
                "land",
                f"Unbekanntes Bundesland „{land}“: erwartet wird eines von "
                f"{', '.join(sorted(LANDS))}.",
            )
        values["land"] = land
    if data.jobcenter is not None:
        values["jobcenter"] = check.text(
            "jobcenter", data.jobcenter, "Das Jobcenter", 200, required=False
        )
    if data.address is not None:
        values["address"] = check.multiline("address", data.address, "Die Adresse", 500)
    if data.active is not None:
        values["active"] = check.flag("active", data.active)
    return values


@dataclass(frozen=True)
class _Kind:
    """What differs between Träger and Standorte: the table, the German words, the audit
    action and the checks."""

    model: type[Provider] | type[Site]
    noun: str  # "Träger" / "Standort"
    article: str  # "einen Träger" / "einen Standort"
    action: str  # "provider" / "site"
    values: Callable[[Context, Any, bool, _Check], dict[str, Any]]
    make: Callable[..., Any]


PROVIDERS = _Kind(Provider, "Träger", "einen Träger", "provider", _provider_values, ProviderInput)
SITES = _Kind(Site, "Standort", "einen Standort", "site", _site_values, SiteInput)


def _find(session: Session, kind: _Kind, code: str) -> Any:
    return session.exec(select(kind.model).where(kind.model.code == code)).first()


@dataclass(frozen=True)
class Saved:
    """The outcome of a save: the row and ``created``, ``updated`` or ``unchanged``."""

    row: Any
    outcome: str


def _plan(
    ctx: Context, kind: _Kind, data: Any, create: bool | None, check: _Check
) -> tuple[Any, dict[str, Any]]:
    """The existing row (or None) and the checked values; raises `InvalidInput`."""
    code = check.code("code", data.code, "Das Kürzel")
    existing = _find(ctx.session, kind, code) if code else None
    if create is True and existing is not None:
        check.fail("code", f"Es gibt bereits {kind.article} mit dem Kürzel „{code}“.")
    if create is False and existing is None and code:
        raise _unknown(kind.noun, code, "code")
    values = kind.values(ctx, data, existing is None, check)
    check.done()
    return existing, {"code": code, **values}


def _write(ctx: Context, kind: _Kind, existing: Any, values: dict[str, Any]) -> Saved:
    code = values["code"]
    if existing is None:
        row = kind.model(**values)
        ctx.session.add(row)
        try:
            ctx.session.flush()
        except IntegrityError:  # created by a concurrent change since the check
            message = f"Es gibt bereits {kind.article} mit dem Kürzel „{code}“."
            raise InvalidInput([Mistake("code", message)]) from None
        ctx.audit(f"{kind.action}_created", **{kind.action: code, "fields": sorted(values)})
        return Saved(row, "created")
    changed = _changes(existing, values)
    if not changed:
        return Saved(existing, "unchanged")
    ctx.session.add(existing)
    ctx.session.flush()
    detail: dict[str, Any] = {kind.action: code, "fields": changed}
    if "active" in changed:
        detail["active"] = existing.active
    ctx.audit(f"{kind.action}_updated", **detail)
    return Saved(existing, "updated")


def _save(ctx: Context, kind: _Kind, data: Any, create: bool | None) -> Saved:
    existing, values = _plan(ctx, kind, data, create, _Check())
    return _write(ctx, kind, existing, values)


def add_provider(ctx: Context, data: ProviderInput) -> Provider:
    """Create a Träger; refused: a code in use, a bad value. Audited ``provider_created``."""
    row: Provider = _save(ctx, PROVIDERS, data, create=True).row
    return row


def update_provider(ctx: Context, data: ProviderInput) -> Saved:
    """Change the given fields of the Träger `data.code` (``provider_updated``, with the
    names of the changed fields); `UnknownRecord` when there is none."""
    return _save(ctx, PROVIDERS, data, create=False)


def set_provider_active(ctx: Context, code: str, active: bool) -> Saved:
    """Activate or deactivate a Träger; an inactive one gets no new referrals."""
    return update_provider(ctx, ProviderInput(code=code, active=active))


def add_site(ctx: Context, data: SiteInput) -> Site:
    """Create a Standort (``site_created``); refused: a code in use, an unknown Land."""
    row: Site = _save(ctx, SITES, data, create=True).row
    return row


def update_site(ctx: Context, data: SiteInput) -> Saved:
    """Change the given fields of the Standort `data.code` (``site_updated``)."""
    return _save(ctx, SITES, data, create=False)


def set_site_active(ctx: Context, code: str, active: bool) -> Saved:
    """Mark a Standort active or not (shown in the lists; nothing else depends on it yet)."""
    return update_site(ctx, SiteInput(code=code, active=active))


def providers(session: Session) -> list[Provider]:
    """Every Träger, by code."""
    return list(session.exec(select(Provider).order_by(col(Provider.code))))


def sites(session: Session) -> list[Site]:
    """Every Standort, by code."""
    return list(session.exec(select(Site).order_by(col(Site.code))))


# --- import files ----------------------------------------------------------------------

PROVIDER_COLUMNS = tuple(f.name for f in fields(ProviderInput))
SITE_COLUMNS = tuple(f.name for f in fields(SiteInput))


@dataclass(frozen=True)
class Row:
    """One record of an import file: its `values` by column, the `line` it starts on and
    the line of each value (YAML; a CSV record is one line)."""

    line: int
    values: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # the record could not be read (German)


@dataclass(frozen=True)
class Imported:
    """Codes created, updated and unchanged by an import, in file order."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]


def read_rows(path: Path) -> list[Row]:
    """The records of a ``.yaml``/``.yml`` file (a list of mappings) or a ``.csv`` file
    (a header line, ``;`` or ``,`` separated, UTF-8); raises `InvalidInput` when the file
    cannot be read as such."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput([Mistake("file", f"Datei {path} nicht lesbar ({exc}).")]) from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return yaml_rows(text)
    if suffix == ".csv":
        return csv_rows(text)
    raise InvalidInput(
        [Mistake("file", f"Dateityp „{suffix}“ unbekannt: erwartet .yaml oder .csv.")]
    )


def yaml_rows(text: str) -> list[Row]:
    """Records of a YAML list of mappings, with the line of each value."""
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InvalidInput([Mistake("file", "Kein gültiges YAML.", line)]) from None
    if data is None:
        return []
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        raise InvalidInput([Mistake("file", "Erwartet wird eine Liste (Zeilen mit „- “).", 1)])
    rows = []
    for item, values in zip(node.value, data, strict=True):
        line = item.start_mark.line + 1
        if not isinstance(values, dict) or not isinstance(item, yaml.MappingNode):
            rows.append(Row(line, {}, error="Ein Eintrag besteht aus Zeilen „feld: wert“."))
            continue
        lines = {str(k.value): k.start_mark.line + 1 for k, _ in item.value}
        rows.append(Row(line, {str(k): v for k, v in values.items()}, lines))
    return rows


def csv_rows(text: str) -> list[Row]:
    """Records of a CSV text with a header line; empty lines are skipped."""
    first = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if ";" in first else ",")
    rows = []
    try:
        for record in reader:
            values = {
                str(k).strip().lower(): (v or "").strip()
                for k, v in record.items()
                if k is not None
            }
            if None in record:
                rows.append(Row(reader.line_num, {}, error="Mehr Werte als Spalten."))
            elif any(values.values()):
                rows.append(Row(reader.line_num, {k: v for k, v in values.items() if v}))
    except csv.Error as exc:
        raise InvalidInput([Mistake("file", f"Keine gültige CSV-Datei ({exc}).")]) from None
    return rows


def _input_of(kind: _Kind, row: Row, columns: Sequence[str], check: _Check) -> Any:
    """The input of `row` from its known columns; an unknown column is a mistake that
    `_plan` reports together with the row's bad values."""
    if row.error is not None:
        check.fail("file", row.error)
        check.done()
    for key in row.values:
        if key not in columns:
            check.fail(key, f"Unbekanntes Feld „{key}“; erlaubt sind: {', '.join(columns)}.")
    if not row.values.get("code"):
        check.fail("code", "Das Kürzel (code) fehlt.")
        check.done()
    return kind.make(**{k: v for k, v in row.values.items() if k in columns})


def _import(ctx: Context, kind: _Kind, rows: Iterable[Row], columns: Sequence[str]) -> Imported:
    """Check every row first (duplicates in the file too); write only if all are good."""
    planned: list[tuple[Any, dict[str, Any]]] = []
    mistakes: list[Mistake] = []
    seen: dict[str, int] = {}
    for row in rows:
        check = _Check(row.line, row.lines)
        try:
            data = _input_of(kind, row, columns, check)
            code = str(data.code).strip()
            if code in seen:
                check.fail("code", f"Das Kürzel „{code}“ steht schon in Zeile {seen[code]}.")
            seen.setdefault(code, row.line)
            planned.append(_plan(ctx, kind, data, None, check))
        except InvalidInput as refused:
            mistakes += refused.mistakes
    if mistakes:
        raise InvalidInput(mistakes)
    outcomes: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    for existing, values in planned:
        outcomes[_write(ctx, kind, existing, values).outcome].append(values["code"])
    return Imported(**outcomes)


def import_providers(ctx: Context, rows: Iterable[Row]) -> Imported:
    """Create or update the Träger of `rows` (columns as `ProviderInput`; lists in CSV
    separated by commas), all or nothing: `InvalidInput` lists every bad row by line."""
    return _import(ctx, PROVIDERS, rows, PROVIDER_COLUMNS)


def import_sites(ctx: Context, rows: Iterable[Row]) -> Imported:
    """Create or update the Standorte of `rows` (columns as `SiteInput`), all or nothing."""
    return _import(ctx, SITES, rows, SITE_COLUMNS)


# --- accounts --------------------------------------------------------------------------


@dataclass(frozen=True)
class UserInput:
    """An account as entered; None leaves a field unchanged, "" clears `site`, `provider`
    or `email`. `provider` is a Träger code. Roles: caseworker (needs a site), provider
    (needs a Träger), coordinator, admin (neither)."""

    username: str
    role: str | None = None
    site: str | None = None
    provider: str | None = None
    email: str | None = None


def _user(session: Session, username: str) -> User:
    found = session.exec(select(User).where(User.username == username.strip())).first()
    if found is None:
        raise _unknown("Ein Benutzerkonto", username.strip(), "username")
    return found


def user_by_name(session: Session, username: str) -> User:
    """The account `username`; raises `UnknownRecord`."""
    return _user(session, username)


def users(session: Session) -> list[User]:
    """Every account, by name."""
    return list(session.exec(select(User).order_by(col(User.username))))


def _role_values(
    ctx: Context, data: UserInput, existing: User | None, check: _Check
) -> dict[str, Any]:
    """Role, site and Träger, checked together. A field not given keeps its value if the
    (new) role uses it and is cleared otherwise."""
    role = (data.role or "").strip() or (existing.role if existing else "")
    if not role:
        check.fail("role", "Die Rolle fehlt.")
        return {}
    if role not in Role.__members__:
        titles = ", ".join(f"{r} ({t})" for r, t in ROLE_TITLES.items())
        check.fail("role", f"Unbekannte Rolle „{role}“: erwartet wird eine von {titles}.")
        return {}
    kept_site = existing.site or "" if existing else ""
    site = _given_or_kept(data.site, kept_site, role == Role.caseworker)
    kept_code = _provider_code(ctx.session, existing)
    code = _given_or_kept(data.provider, kept_code, role == Role.provider)
    if role == Role.caseworker and not site:
        check.fail("site", "Integrationsfachkräfte brauchen einen Standort.")
    if role != Role.caseworker and site:
        check.fail("site", "Einen Standort haben nur Integrationsfachkräfte.")
    if role == Role.provider and not code:
        check.fail("provider", "Träger-Konten brauchen einen Träger.")
    if role != Role.provider and code:
        check.fail("provider", "Zu einem Träger gehören nur Träger-Konten.")
    if site:
        _sites(ctx.session, check, "site", [site])
    found = _find(ctx.session, PROVIDERS, code) if code else None
    if code and found is None:
        check.fail("provider", f"Unbekannter Träger „{code}“.")
    return {"role": role, "site": site or None, "provider_id": found.id if found else None}


def _given_or_kept(given: str | None, kept: str, used: bool) -> str:
    if given is not None:
        return given.strip()
    return kept if used else ""


def _provider_code(session: Session, existing: User | None) -> str:
    if existing is None or existing.provider_id is None:
        return ""
    found = session.get(Provider, existing.provider_id)
    return found.code if found else ""


def _password(ctx: Context, password: str, username: str, email: str | None, check: _Check) -> None:
    weak = password_problem(
        password,
        min_score=ctx.password_min_score,
        user_inputs=tuple(v for v in (username, email) if v),
    )
    if weak:
        check.fail("password", weak)


def generate_password() -> str:
    """A random password of five groups of four characters (about 116 bits), e.g.
    ``k7Qm-x3Vp-…``; shown once, never stored or logged."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(5))


def _keep_an_admin(ctx: Context, user: User, check: _Check) -> None:
    """Refuse to take the last active admin account out of service. The active admins'
    rows are locked (in id order: no deadlock) until the change commits, so two admins
    taking each other out at the same moment go one after the other (PostgreSQL; SQLite
    writes one transaction at a time anyway)."""
    admins = ctx.session.exec(
        select(User.id)
        .where(User.role == Role.admin, User.active)
        .order_by(col(User.id))
        .with_for_update()
    ).all()
    others = next((i for i in admins if i != user.id), None)
    if user.role == Role.admin and user.active and others is None:
        check.fail("username", "Das letzte aktive Administrationskonto muss bleiben.")


def add_user(ctx: Context, data: UserInput, password: str | None) -> tuple[User, str | None]:
    """Create an account with `password` (strength-checked) or, when None, a generated one
    (returned, to be shown once). Audited ``user_created`` (name and role only)."""
    check = _Check()
    username = check.text("username", data.username, "Der Anmeldename", MAX_CODE, required=True)
    if username and not _USERNAME.fullmatch(username):
        check.fail(
            "username",
            f"Der Anmeldename „{username}“ ist ungültig: erlaubt sind Buchstaben, Ziffern "
            "und . _ - @",
        )
    if username and ctx.session.exec(select(User.id).where(User.username == username)).first():
        check.fail("username", f"Ein Benutzerkonto „{username}“ gibt es bereits.")
    email = check.email("email", data.email, required=False) or None
    values = _role_values(ctx, data, None, check)
    generated = generate_password() if password is None else None
    _password(ctx, password or generated or "", username, email, check)
    check.done()
    user = User(
        username=username,
        email=email,
        password_hash=hash_password(password or generated or ""),
        created_at=ctx.now,
        **values,
    )
    ctx.session.add(user)
    try:
        ctx.session.flush()
    except IntegrityError:  # created by a concurrent form since the check
        message = f"Ein Benutzerkonto „{username}“ gibt es bereits."
        raise InvalidInput([Mistake("username", message)]) from None
    ctx.audit("user_created", account=username, account_role=user.role)
    return user, generated


def update_user(ctx: Context, data: UserInput) -> Saved:
    """Change role, site, Träger or e-mail of an account (``user_updated`` with the names
    of the changed fields); demoting the last active admin is refused."""
    user = _user(ctx.session, data.username)
    check = _Check()
    values = _role_values(ctx, data, user, check)
    if data.email is not None:
        values["email"] = check.email("email", data.email, required=False) or None
    if values.get("role", Role.admin) != Role.admin:
        _keep_an_admin(ctx, user, check)
    check.done()
    changed = _changes(user, values)
    if not changed:
        return Saved(user, "unchanged")
    ctx.session.add(user)
    ctx.session.flush()
    ctx.audit("user_updated", account=user.username, fields=changed)
    return Saved(user, "updated")


def set_user_active(ctx: Context, username: str, active: bool) -> Saved:
    """Deactivate an account and end all its sessions at once (``user_deactivated``), or
    activate it again (``user_updated``). Neither one's own account nor the last active
    admin can be deactivated."""
    user = _user(ctx.session, username)
    if user.active == active:
        return Saved(user, "unchanged")
    if not active:
        check = _Check()
        if user.username == ctx.actor.name:
            check.fail("username", "Das eigene Konto kann man nicht deaktivieren.")
        _keep_an_admin(ctx, user, check)
        check.done()
    user.active = active
    ctx.session.add(user)
    if active:
        ctx.audit("user_updated", account=user.username, fields=["active"], active=True)
        return Saved(user, "updated")
    ended = revoke_sessions(ctx.session, user.username, ctx.now)
    ctx.session.flush()
    ctx.audit("user_deactivated", account=user.username, sessions_revoked=ended)
    return Saved(user, "updated")


def reset_password(ctx: Context, username: str, password: str | None) -> str | None:
    """Set a new password: `password` (strength-checked) or, when None, a generated one,
    which is returned to be shown once. The account's sessions end (a forgotten or leaked
    password must not keep a login open). Audited ``user_password_reset``."""
    user = _user(ctx.session, username)
    generated = generate_password() if password is None else None
    new = password if password is not None else generated or ""
    check = _Check()
    _password(ctx, new, user.username, user.email, check)
    check.done()
    user.password_hash = hash_password(new)
    ctx.session.add(user)
    ended = revoke_sessions(ctx.session, user.username, ctx.now)
    ctx.session.flush()
    ctx.audit(
        "user_password_reset",
        account=user.username,
        generated=generated is not None,
        sessions_revoked=ended,
    )
    return generated
