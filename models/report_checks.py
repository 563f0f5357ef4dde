"""Checks a provider's Rückmeldung against the catalog of the referral's Leistungsart.

Pure: no database, web or Prefect code. The one entry point is `check_feedback`; it raises
`InvalidReport` (a `ValueError`, answered with 422) naming the field, in German.

What is checked (issue 7, point 6; catalog: ``models/process_definitions/catalog.yaml``,
seed 002 §4.6.1 Sucht, §4.6.2 Jugend(Sucht)Beratung, §4.6.3 Vertrag, §4.6.4 Schulden):

- ``need_group`` is a Hilfebedarfsgruppe of the Leistungsart's catalog;
- every ``modules[i].code`` is a Leistungsmodul of that catalog, given at most once per
  report (so a bound cannot be dodged by splitting a module into two entries);
- a module limited to some age groups (the youth modules ``J1``, ``J4``, ``J6`` of the
  Jugend(Sucht)Beratung: under-25s only) is refused for a referral of another age group.
  The adult modules 1-13 stay open to under-25s: the seed names only three youth modules,
  so refusing the adult ones would leave young clients without e.g. group work;
- ``hours`` (E-Stunden of the report's period) is finite, >= 0 and at most the module's
  bound (`ServiceModule.hours_bound`: the catalog's ``max_hours``, else twice the seed's
  usual amount, else `models.process.DEFAULT_MAX_HOURS`);
- ``group_sessions`` (Gruppensitzungen of 90 minutes, a whole number) only for modules the
  catalog counts group sessions for, at most `ServiceModule.sessions_bound`.

A Leistungsart without a catalog (Kinderbetreuung, Pflege, Psychosoziale Betreuung in the
shipped definitions) has no Hilfebedarfsgruppen and no Leistungsmodule: a report for it
must leave ``need_group`` and ``modules`` empty. Accepting them unchecked would store
numbers nobody can interpret (the half-year report groups by them), so they are refused.

Not checked: whether a module belongs to the reported HBG's usual modules (the HBG lists
are the usual programme, special modules 8-13 are booked in parallel, and a case can be
re-classified between reports).
"""

from __future__ import annotations

import math

from models.commands import FeedbackIn
from models.process import ServiceCatalog, ServiceConfig, ServiceModule

__all__ = ["InvalidReport", "check_feedback", "check_status_only"]


class InvalidReport(ValueError):
    """A reported value the catalog does not allow; ``field`` is its path in the report
    (e.g. ``modules[0].hours``), the message German and starting with the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check_feedback(feedback: FeedbackIn, service: ServiceConfig, age_group: str) -> None:
    """Check `feedback` for a referral of the Leistungsart `service` and the customer's
    `age_group` (``u25``, ``25-49``, ``50+``) against `service`'s catalog.

    `service` is the version the referral runs on (`tasks.process_versions.service_for`),
    so a report is checked against the catalog the case started under, not a later one.
    Returns None if every value is allowed. Raises `InvalidReport` for the first value that
    is not (see the module docstring for the rules).
    """
    catalog = service.catalog
    where = f"für die Leistungsart „{service.title}“"
    if catalog is None:
        if feedback.need_group is not None:
            raise InvalidReport(
                "need_group",
                f"{where} gibt es keinen Katalog der Hilfebedarfsgruppen; bitte weglassen",
            )
        if feedback.modules:
            raise InvalidReport(
                "modules", f"{where} gibt es keinen Katalog der Leistungsmodule; bitte weglassen"
            )
        return
    source = f"(Katalog {catalog.source})"
    if feedback.need_group is not None:
        groups = [g.code for g in catalog.need_groups]
        if feedback.need_group not in groups:
            raise InvalidReport(
                "need_group",
                f"Hilfebedarfsgruppe {feedback.need_group} gibt es {where} nicht; "
                f"zulässig: {_listing(groups)} {source}",
            )
    modules = {m.code: m for m in catalog.modules}
    seen: set[int | str] = set()
    for index, booked in enumerate(feedback.modules):
        field = f"modules[{index}]"
        module = modules.get(booked.code)
        if module is None:
            raise InvalidReport(
                f"{field}.code",
                f"Modul {booked.code} gibt es {where} nicht; "
                f"zulässig: {_listing(_codes_for(catalog, age_group))} {source}",
            )
        if booked.code in seen:
            raise InvalidReport(f"{field}.code", f"Modul {booked.code} ist doppelt angegeben")
        seen.add(booked.code)
        if module.age_groups is not None and age_group not in module.age_groups:
            raise InvalidReport(
                f"{field}.code",
                f"Modul {booked.code} gilt nur für die Altersgruppe "
                f"{', '.join(module.age_groups)}, die Zuweisung hat {age_group} {source}",
            )
        _check_amounts(field, booked.hours, booked.group_sessions, module)


def check_status_only(feedback: FeedbackIn, service_title: str) -> None:
    """Refuse every content field of `feedback`: for a referral without a Schweigepflicht-
    entbindung of scope content naming the provider, where the standards allow the start
    without one (``consent: status_without``), the provider sends the Sachstandsbericht
    only: appointment kept, counselling ongoing, ended (seed 003, Wiesbaden Suchtberatung;
    § 67b SGB X). Raises `InvalidReport` naming the first content field given."""
    texts = feedback.content.model_dump()
    given = [
        *(["need_group"] if feedback.need_group is not None else []),
        *(["modules"] if feedback.modules else []),
        *(f"content.{name}" for name, text in texts.items() if str(text).strip()),
    ]
    if given:
        raise InvalidReport(
            given[0],
            f"Für „{service_title}“ liegt keine Schweigepflichtentbindung für Inhalte vor, die "
            "den Träger nennt: gemeldet wird nur der Sachstand (Termin wahrgenommen, Beratung "
            "läuft, beendet); bitte Hilfebedarfsgruppe, Module und Berichtstexte weglassen",
        )


def _check_amounts(field: str, hours: float, sessions: int, module: ServiceModule) -> None:
    if not isinstance(hours, int | float) or not math.isfinite(hours) or hours < 0:
        raise InvalidReport(
            f"{field}.hours", "Stunden müssen eine endliche Zahl größer oder gleich 0 sein"
        )
    if hours > module.hours_bound:
        raise InvalidReport(
            f"{field}.hours",
            f"{_number(hours)} E-Stunden für Modul {module.code} in einer Meldung; "
            f"höchstens {_number(module.hours_bound)}",
        )
    if isinstance(sessions, bool) or not isinstance(sessions, int) or sessions < 0:
        raise InvalidReport(
            f"{field}.group_sessions", "Gruppensitzungen müssen eine ganze Zahl ab 0 sein"
        )
    bound = module.sessions_bound
    if sessions and not bound:
        raise InvalidReport(
            f"{field}.group_sessions",
            f"Modul {module.code} hat keine Gruppensitzungen; Einzelberatung als hours melden",
        )
    if sessions > bound:
        raise InvalidReport(
            f"{field}.group_sessions",
            f"{sessions} Gruppensitzungen für Modul {module.code} in einer Meldung; "
            f"höchstens {bound}",
        )


def _codes_for(catalog: ServiceCatalog, age_group: str) -> list[int | str]:
    return [m.code for m in catalog.modules if m.age_groups is None or age_group in m.age_groups]


def _listing(codes: list[int] | list[int | str]) -> str:
    return ", ".join(str(c) for c in codes)


def _number(value: float) -> str:
    """German decimal comma, no trailing zeros: 7 -> "7", 1.5 -> "1,5"."""
    return f"{value:g}".replace(".", ",")
