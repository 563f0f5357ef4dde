"""Who reads what of a case: report content and need group in their scope.

Sources: seed 003 (Wiesbaden: without a Schweigepflichtentbindung the provider reports
status only, never content), § 67b SGB X (consent names the body the data go to and the
purpose), § 203 StGB (the provider's professional secrecy), DESIGN §4.7.

A Schweigepflichtentbindung (`models.tables.Consent`) names one provider and one scope:
``status`` (appointment kept, counselling ongoing, ended) or ``content`` (the report form,
booked modules and the Hilfebedarfsgruppe as well). It is in force from ``granted_on``
through ``expires_on`` (inclusive) and until the day before ``withdrawn_on``.

Rules (everyone here already sees the case, `api.access.visible`):

* The status fields of a report (kind, date, appointment kept / ongoing / ended) are
  readable by everyone who sees the case.
* A **provider** reads content and need group of the reports it wrote itself
  (``Feedback.provider_id``). After a reroute (``provider_assigned``) the new provider
  reads the earlier provider's reports as status only, unless a consent of scope content
  in force names the new provider.
* The **jobcenter** (caseworker of the site, coordinator, admin) reads the content of a
  report only with a consent of scope content in force that names the provider who wrote
  the report.
* A report without a known author (rows from before migration 0005) is status only for
  everyone.
* ``Referral.need_group`` is the classification of the latest report that gave one; it is
  shown exactly when that report's content may be read.

A consent without a named provider (``provider_id`` NULL: recorded before migration 0008
or by a writer that does not name one yet) names the provider the referral was started
with (the provider of its first voucher; the referral's provider if it has none): that is
who the customer released the data to when they signed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from models.tables import Consent, Feedback, Referral, Role, User, Voucher


def in_force(consent: Consent, on: date) -> bool:
    """Whether `consent` applies on day `on` (granted, not expired, not withdrawn)."""
    return (
        consent.granted_on <= on
        and (consent.expires_on is None or consent.expires_on >= on)
        and (consent.withdrawn_on is None or consent.withdrawn_on > on)
    )


def first_provider(session: Session, referral: Referral) -> int | None:
    """The provider the referral was started with: that of its first voucher, else its own."""
    first = session.exec(
        select(Voucher.provider_id)
        .where(Voucher.referral_id == referral.id)
        .order_by(col(Voucher.issued_on), col(Voucher.id))
    ).first()
    return first if first is not None else referral.provider_id


def released_to(session: Session, referral: Referral, on: date) -> frozenset[int]:
    """The providers named by a consent of scope ``content`` in force on `on`."""
    consents = [
        c
        for c in session.exec(select(Consent).where(Consent.referral_id == referral.id))
        if c.scope == "content" and in_force(c, on)
    ]
    if not consents:
        return frozenset()
    legacy = any(c.provider_id is None for c in consents)
    fallback = first_provider(session, referral) if legacy else None
    named = (c.provider_id if c.provider_id is not None else fallback for c in consents)
    return frozenset(p for p in named if p is not None)


def content_released(
    session: Session, referral: Referral, provider_id: int | None, on: date
) -> bool:
    """Whether a consent of scope ``content``, naming `provider_id`, is in force on `on`
    (seed 003; § 67b SGB X)."""
    return provider_id is not None and provider_id in released_to(session, referral, on)


@dataclass(frozen=True)
class ContentScope:
    """What one reader may read of one referral's reports on one day."""

    role: str
    provider_id: int | None  # the reader's provider (role provider only)
    released: frozenset[int]  # providers named by a content consent in force

    def may_read(self, author_id: int | None) -> bool:
        """Whether the reader may read content and need group of a report by `author_id`."""
        if author_id is None:
            return False
        if self.role == Role.provider:
            own = self.provider_id is not None and author_id == self.provider_id
            return own or (self.provider_id is not None and self.provider_id in self.released)
        return author_id in self.released

    def need_group(self, referral: Referral, reports: Iterable[Feedback]) -> int | None:
        """`referral.need_group` if the report that set it may be read, else None.

        `reports` are the referral's reports in the order they were received (by id)."""
        setter = None
        for report in reports:
            if report.need_group is not None:
                setter = report
        if referral.need_group is None or setter is None:
            return None
        return referral.need_group if self.may_read(setter.provider_id) else None


def content_scope(session: Session, referral: Referral, user: User, on: date) -> ContentScope:
    """The `ContentScope` of `user` for `referral` on day `on`."""
    provider_id = user.provider_id if user.role == Role.provider else None
    return ContentScope(user.role, provider_id, released_to(session, referral, on))
