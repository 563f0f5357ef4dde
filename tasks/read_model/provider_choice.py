"""Which Träger a caseworker may choose for a new Zuweisung, with the figures to choose by.

Offered are the active providers (`Provider.active`) that offer the Leistungsart and serve
the site (a provider without sites serves every site). For each, three figures, counted over
all of the provider's cases (its load, not only the caseworker's site; counts only):

* **offene Fälle**: its referrals in a state that is not ``final`` (`models.figures.states`);
* **Kapazität je Monat**: ``Provider.monthly_capacity`` (new cases a month);
* **Tage bis zum Erstgespräch** (median): for every referral whose first appointment lies in
  the last twelve calendar months (`models.figures.providers.default_start` to today), the
  days from the redeemed voucher (the latest one issued on or before the first appointment)
  to the first appointment, counted for the provider on that voucher: the definition and
  the code of the Träger page (`models.figures.providers.first_appointment_waits`), so the
  figures agree.

Set-based: one query for the providers, one grouped count of open cases, one query for the
first appointments of all offered providers, whatever the number of cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from statistics import median

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.figures.providers import default_start, first_appointment_waits
from models.figures.states import registry_states
from models.german import anzahl, zahl
from models.process import Registry
from models.tables import Provider, Referral
from tasks.read_model.providers import waits_rows


@dataclass(frozen=True)
class ProviderChoice:
    """One row of the provider table of the Zuweisung form."""

    code: str
    name: str
    address: str
    phone: str
    appointment_hint: str
    capacity: int
    open_cases: int
    first_appointments: int  # first appointments in the window (the median's base)
    median_days: float | None  # None: no first appointment in the window

    @property
    def median_text(self) -> str:
        """The median in German: "9 Tage", "1 Tag", "9,5 Tage" or "–"."""
        if self.median_days is None:
            return "–"
        if self.median_days.is_integer():
            return anzahl(int(self.median_days), "Tag", "Tage")
        return f"{zahl(self.median_days, 1)} Tage"


def offered_providers(session: Session, service_type: str, site: str) -> list[Provider]:
    """Active providers offering `service_type` at `site`, by name."""
    providers = session.exec(
        select(Provider).where(col(Provider.active)).order_by(col(Provider.name))
    )
    return [
        p for p in providers if service_type in p.service_types and (not p.sites or site in p.sites)
    ]


def provider_choices(
    session: Session, registry: Registry, service_type: str, site: str, today: date
) -> list[ProviderChoice]:
    """The offered providers with their figures (see the module docstring)."""
    providers = offered_providers(session, service_type, site)
    ids = [p.id for p in providers if p.id is not None]
    open_cases = _open_cases(session, ids, sorted(registry_states(registry).final))
    waits = first_appointment_waits(waits_rows(session, default_start(today), today))
    return [
        ProviderChoice(
            code=p.code,
            name=p.name,
            address=p.address,
            phone=p.phone,
            appointment_hint=p.appointment_hint,
            capacity=p.monthly_capacity,
            open_cases=open_cases.get(p.id or 0, 0),
            first_appointments=len(waits.get(p.id or 0, [])),
            median_days=float(median(waits[p.id or 0])) if waits.get(p.id or 0) else None,
        )
        for p in providers
    ]


def _open_cases(session: Session, ids: list[int], final: list[str]) -> dict[int, int]:
    rows = session.execute(
        select(col(Referral.provider_id), func.count())
        .where(col(Referral.provider_id).in_(ids), col(Referral.state).not_in(final))
        .group_by(col(Referral.provider_id))
    )
    return {int(pid): int(n) for pid, n in rows if pid is not None}
