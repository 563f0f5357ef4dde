"""Master data written by commands: customers, their contact for reminders, Träger.

Plain functions on a SQLModel `Session` used by the command handlers (`tasks.handlers`)
and the event recorders (`tasks.recorders`); none commits. Audit entries name changed
fields only, never a value.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.commands import StartReferral
from models.tables import Customer, CustomerContact, Provider
from tasks.rejections import CommandRejected, CustomerOutOfScope
from tasks.repository import Actor, audit


def age_group(age: int) -> str:
    """The age group (``u25``, ``25-49``, ``50+``) of an age in years."""
    return "u25" if age < 25 else "25-49" if age < 50 else "50+"


def customer(
    session: Session, number: str, site: str, group: str, now: datetime, actor: Actor
) -> Customer:
    """The customer `number` of `site`, created if new; master data of a customer of
    another site is never changed (and the answer does not tell which site).

    A changed age group is written and audited (field names only). A customer created by
    a concurrent command since the lookup is used as found. Raises `CustomerOutOfScope`
    for a customer of another site.
    """
    found = session.exec(select(Customer).where(Customer.customer_number == number)).first()
    if found is None:
        try:
            with session.begin_nested():  # a concurrent command may create it first
                found = Customer(customer_number=number, site=site, age_group=group)
                session.add(found)
            return found
        except IntegrityError:  # it did: go on with the row it wrote
            found = session.exec(select(Customer).where(Customer.customer_number == number)).one()
    if found.site != site:
        raise CustomerOutOfScope(
            "Diese Kundennummer kann an Ihrem Standort nicht verwendet werden; ein "
            "Standortwechsel läuft über die Koordination."
        )
    if found.age_group != group:
        found.age_group = group
        audit(
            session,
            now,
            actor,
            "customer_updated",
            None,
            customer_id=found.id,
            fields=["age_group"],
        )
    return found


def update_contact(
    session: Session, customer_id: int, payload: StartReferral, now: datetime, actor: Actor
) -> None:
    """Write the customer's contact for reminders when the referral names one; the audit
    names the changed fields, never the address."""
    if payload.contact_email is None and not payload.reminders_consented:
        return
    contact = session.get(CustomerContact, customer_id) or CustomerContact(customer_id=customer_id)
    changed = [
        name
        for name, old, new in (
            ("contact_email", contact.email, payload.contact_email),
            ("reminders_consented", contact.reminders_consented, payload.reminders_consented),
        )
        if old != new
    ]
    contact.email = payload.contact_email
    contact.reminders_consented = payload.reminders_consented
    session.add(contact)
    if changed:
        audit(
            session, now, actor, "customer_updated", None, customer_id=customer_id, fields=changed
        )


def provider(session: Session, code: str, service_type: str, site: str) -> Provider:
    """The active Träger `code` serving `service_type` at `site`; raises `CommandRejected`
    (unknown, deactivated, another Leistungsart or site)."""
    found = session.exec(select(Provider).where(Provider.code == code)).first()
    if found is None:
        raise CommandRejected(f"Unbekannter Träger {code!r}")
    if not found.active:  # deactivated in the administration: keeps its running cases
        raise CommandRejected(
            f"Träger {code!r} ist deaktiviert und nimmt keine neuen Zuweisungen an"
        )
    if service_type not in found.service_types:
        raise CommandRejected(f"Träger {code!r} erbringt keine Leistungsart {service_type!r}")
    if found.sites and site not in found.sites:
        raise CommandRejected(f"Träger {code!r} ist für den Standort {site!r} nicht zuständig")
    return found
