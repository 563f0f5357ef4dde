"""The caseworker's forms (Neue Zuweisung, Schweigepflichtentbindung): what a posted form
means as a command payload, and German messages per field for what it does not say right.

Only the form's syntax and the date bounds of the API (`api.limits.check_dates`) are checked
here; what the process, the provider list and the site allow is decided on the one path
(`api.dashboard.actions.submit_form` -> `tasks.commands`). Pure: no database or web code.

Field names (the ``name`` of the inputs): ``aktenzeichen``, ``kundennummer``,
``altersgruppe``, ``traeger``, ``ifk_email``, ``kontakt_email``, ``erinnerungen``
(``"ja"`` when ticked) and, in both forms, ``einwilligung_form`` (``""`` none,
``written``, ``electronic``), ``einwilligung_umfang`` (``status``/``content``),
``einwilligung_am``, ``einwilligung_bis`` (``YYYY-MM-DD`` from ``<input type=date>``, or
``TT.MM.JJJJ``) and on the case page ``einwilligung_traeger``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from api.errors import Problem
from api.limits import check_dates
from models.commands import REFERENCE_PATTERN, ConsentGrant, StartReferral
from models.settings import Settings

AGE_GROUPS = {"u25": "unter 25 Jahre", "25-49": "25 bis 49 Jahre", "50+": "50 Jahre und älter"}
CONSENT_FORMS = {"written": "schriftlich", "electronic": "elektronisch"}
CONSENT_SCOPES = {
    "status": "nur Status (Termin wahrgenommen, Beratung läuft, beendet)",
    "content": "Status und Inhalte der Berichte",
}

MESSAGES = {
    "aktenzeichen": "Das Aktenzeichen hat 1 bis 40 Zeichen: Buchstaben A–Z, Ziffern, Punkt, "
    "Unterstrich oder Bindestrich, am Anfang ein Buchstabe oder eine Ziffer (z.\u00a0B. "
    "Z-2026-0042).",
    "kundennummer": "Bitte die Kundennummer aus dem Fachverfahren angeben: 1 bis 40 Zeichen, "
    "Buchstaben A–Z, Ziffern, Punkt, Unterstrich oder Bindestrich.",
    "altersgruppe": "Bitte die Altersgruppe wählen.",
    "traeger": "Bitte einen Träger aus der Liste wählen.",
    "ifk_email": "Bitte eine gültige E-Mail-Adresse der Integrationsfachkraft angeben.",
    "kontakt_email": "Bitte eine gültige E-Mail-Adresse angeben oder das Feld leer lassen.",
    "erinnerungen": "Für Erinnerungen per E-Mail bitte die E-Mail-Adresse angeben.",
    "einwilligung_form": "Bitte wählen, ob die Entbindung schriftlich oder elektronisch vorliegt.",
    "einwilligung_umfang": "Bitte den Umfang der Entbindung wählen.",
    "einwilligung_am": "Bitte das Datum der Erteilung als Datum angeben (TT.MM.JJJJ).",
    "einwilligung_bis": "Bitte das Ablaufdatum als Datum angeben (TT.MM.JJJJ) oder leer lassen.",
    "einwilligung_traeger": "Bitte den Träger wählen, den die Entbindung nennt.",
}
"""German message per form field, shown next to the field and in the summary."""

_PAYLOAD_FIELDS = {
    "customer_number": "kundennummer",
    "age_group": "altersgruppe",
    "provider_code": "traeger",
    "caseworker_email": "ifk_email",
    "contact_email": "kontakt_email",
    "form": "einwilligung_form",
    "scope": "einwilligung_umfang",
    "granted_on": "einwilligung_am",
    "expires_on": "einwilligung_bis",
}
_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


@dataclass
class Parsed:
    """Field -> German message for what the form does not say right (empty: fine)."""

    errors: dict[str, str] = field(default_factory=dict)

    def refuse(self, name: str, message: str | None = None) -> None:
        self.errors.setdefault(name, message or MESSAGES[name])


def parse_day(text: str) -> date | None:
    """``YYYY-MM-DD`` or ``TT.MM.JJJJ`` as a date; None when empty; raises `ValueError`."""
    text = text.strip()
    if not text:
        return None
    found = _GERMAN_DATE.match(text)
    if found:
        return date(int(found[3]), int(found[2]), int(found[1]))
    return datetime.strptime(text, "%Y-%m-%d").date()


def _value(values: Mapping[str, str], name: str) -> str:
    return str(values.get(name, "") or "").strip()


def _consent_values(
    values: Mapping[str, str], today: date, parsed: Parsed, *, provider: bool = False
) -> dict[str, Any] | None:
    """The consent part of a form as the fields of `ConsentGrant`; None without a form."""
    form = _value(values, "einwilligung_form")
    if not form:
        return None
    if form not in CONSENT_FORMS:
        parsed.refuse("einwilligung_form")
    scope = _value(values, "einwilligung_umfang") or "content"
    if scope not in CONSENT_SCOPES:
        parsed.refuse("einwilligung_umfang")
    days: dict[str, date | None] = {}
    for name in ("einwilligung_am", "einwilligung_bis"):
        try:
            days[name] = parse_day(_value(values, name))
        except ValueError:
            parsed.refuse(name)
    grant: dict[str, Any] = {
        "form": form,
        "scope": scope,
        "granted_on": days.get("einwilligung_am") or today,
        "expires_on": days.get("einwilligung_bis"),
    }
    if provider:
        grant["provider_code"] = _value(values, "einwilligung_traeger") or None
    return grant


def _validated(model: type[Any], data: dict[str, Any], parsed: Parsed) -> Any:
    """`model` from `data`, or None with a message per refused field."""
    try:
        return model.model_validate(data)
    except ValidationError as refused:
        for error in refused.errors():
            names = [str(part) for part in error["loc"]]
            known = [_PAYLOAD_FIELDS[n] for n in names if n in _PAYLOAD_FIELDS]
            parsed.refuse(known[-1] if known else "kundennummer")
        return None


def _date_bounds(payload: Any, today: date, settings: Settings, parsed: Parsed) -> None:
    """The API's date bounds (`check_dates`), as messages on the consent's date fields."""
    try:
        check_dates(payload, today, settings)
    except Problem as refused:
        for error in refused.extra.get("errors", []):
            name = _PAYLOAD_FIELDS.get(str(error["field"]).rpartition(".")[2], "einwilligung_am")
            parsed.refuse(name, str(error["message"]))


def parse_referral(
    values: Mapping[str, str],
    *,
    service_type: str,
    site: str,
    today: date,
    settings: Settings,
) -> tuple[StartReferral | None, str | None, Parsed]:
    """The Zuweisung form as (`StartReferral`, the Aktenzeichen typed in or None, errors);
    the payload is None when anything is refused."""
    parsed = Parsed()
    reference = _value(values, "aktenzeichen") or None
    if reference is not None and not re.fullmatch(REFERENCE_PATTERN, reference):
        parsed.refuse("aktenzeichen")
    contact = _value(values, "kontakt_email") or None
    reminders = _value(values, "erinnerungen") == "ja"
    if reminders and contact is None:
        parsed.refuse("erinnerungen")
    data = {
        "customer_number": _value(values, "kundennummer"),
        "site": site,
        "age_group": _value(values, "altersgruppe"),
        "service_type": service_type,
        "provider_code": _value(values, "traeger"),
        "caseworker_email": _value(values, "ifk_email"),
        "contact_email": contact,
        "reminders_consented": reminders,
        "consent": _consent_values(values, today, parsed),
    }
    if not data["provider_code"]:
        parsed.refuse("traeger")
    payload = _validated(StartReferral, data, parsed)
    if payload is not None:
        _date_bounds(payload, today, settings, parsed)
    return (None if parsed.errors else payload), reference, parsed


def parse_consent(
    values: Mapping[str, str], *, today: date, settings: Settings
) -> tuple[ConsentGrant | None, Parsed]:
    """The consent form of the case page as a `ConsentGrant` (None when refused)."""
    parsed = Parsed()
    data = _consent_values(values, today, parsed, provider=True)
    if data is None:
        parsed.refuse("einwilligung_form")
        return None, parsed
    grant = _validated(ConsentGrant, data, parsed)
    if grant is not None:
        _date_bounds(grant, today, settings, parsed)
    return (None if parsed.errors else grant), parsed
