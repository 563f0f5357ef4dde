"""The Gutschein as a PDF the customer takes along (seed 002 §4.3, Zuweisungsverfahren).

One A4 page in plain German (short sentences, "Sie"): the voucher number, the
Beratungsstelle with address, phone, e-mail and how to make the appointment
(`Provider.appointment_hint`), what the customer must do and by when: the first
appointment within the period of the Mindeststandard of the Leistungsart (deadline
``first_appointment``, e.g. 14 days; none for Pflege, "individuell"), valid until the due
date of the deadline ``voucher_validity`` (the standards' ``voucher_validity`` period,
moved off weekends and holidays). The issuer is the jobcenter and site of the case
(`issuer`). Accessible as `api.dashboard.pdf_layout` makes it: Unicode text, tagged,
de-DE, with a title.

The customer's name is not on it: kel-flow holds none (the customer number neither, it is
the Fachverfahren's); the jobcenter writes the name by hand or prints it from the
Fachverfahren if wanted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from api.dashboard.pdf_layout import TaggedPdf
from models.calendar import parse_period
from models.german import datum
from models.process import Registry
from models.settings import Settings
from models.tables import Deadline, Provider, Referral, Site, Voucher, VoucherStatus


@dataclass(frozen=True)
class Issuer:
    """Who issues the Gutschein: the jobcenter's name, the site's name and address."""

    jobcenter: str
    site: str
    address: str


def issuer(session: Session, site_code: str, settings: Settings) -> Issuer:
    """The jobcenter and site of `site_code`: `Site.jobcenter` / `Site.name` /
    `Site.address`; a site without a record or without a jobcenter name falls back to the
    setting ``jobcenter_name`` (``KEL_JOBCENTER_NAME``) and the code as its name."""
    site = session.exec(select(Site).where(Site.code == site_code)).first()
    if site is None:
        return Issuer(settings.jobcenter_name, site_code, "")
    return Issuer(site.jobcenter or settings.jobcenter_name, site.name or site_code, site.address)


@dataclass(frozen=True)
class VoucherSheet:
    """What the Gutschein shows (dates are local calendar dates)."""

    number: str
    reference: str
    service: str
    issued_on: date
    valid_until: date | None
    first_appointment: str | None  # the period in words ("14 Tagen"), None: individuell
    first_appointment_by: date | None
    provider_name: str
    provider_address: str
    provider_phone: str
    provider_email: str
    appointment_hint: str
    issuer: Issuer
    caseworker_email: str
    printed_on: date


_UNITS = (("years", "Jahr", "Jahren"), ("months", "Monat", "Monaten"), ("weeks", "Woche", "Wochen"))


def period_words(period: str, *, working_days: bool = False) -> str:
    """An ISO period in German, in the dative after "innerhalb von": ``P14D`` ->
    "14 Tagen", ``P1W`` -> "1 Woche", ``P1M14D`` -> "1 Monat und 14 Tagen"; working days
    -> "10 Arbeitstagen". Raises `models.calendar.InvalidPeriod` for a bad period."""
    parsed = parse_period(period)
    day = ("Arbeitstag", "Arbeitstagen") if working_days else ("Tag", "Tagen")
    parts = [
        f"{amount} {one if amount == 1 else many}"
        for name, one, many in (*_UNITS, ("days", *day))
        if (amount := getattr(parsed, name))
    ]
    return " und ".join(parts)


def issued_voucher(session: Session, referral: Referral) -> Voucher | None:
    """The Gutschein the customer takes along: the referral's latest voucher issued to its
    current provider and still ``issued``; None when there is none (staged, rerouting,
    redeemed at the first appointment, or closed)."""
    return session.exec(
        select(Voucher)
        .where(
            Voucher.referral_id == referral.id,
            Voucher.provider_id == referral.provider_id,
            Voucher.status == VoucherStatus.issued,
        )
        .order_by(col(Voucher.id).desc())
    ).first()


def voucher_sheet(
    session: Session, registry: Registry, referral: Referral, settings: Settings, today: date
) -> VoucherSheet | None:
    """What the Gutschein of `referral` shows; None without an `issued_voucher`."""
    voucher = issued_voucher(session, referral)
    provider = session.get(Provider, referral.provider_id) if referral.provider_id else None
    if voucher is None or provider is None:
        return None
    service = registry.service(referral.service_type)
    period = service.period("first_appointment")
    return VoucherSheet(
        number=voucher.number,
        reference=referral.reference,
        service=service.title,
        issued_on=voucher.issued_on,
        valid_until=_due(session, referral, "voucher_validity"),
        first_appointment=period_words(period, working_days=service.working_days)
        if period
        else None,
        first_appointment_by=_due(session, referral, "first_appointment") if period else None,
        provider_name=provider.name,
        provider_address=provider.address,
        provider_phone=provider.phone,
        provider_email=provider.email,
        appointment_hint=provider.appointment_hint,
        issuer=issuer(session, referral.site, settings),
        caseworker_email=referral.caseworker_email,
        printed_on=today,
    )


def _due(session: Session, referral: Referral, kind: str) -> date | None:
    """Due date of the latest deadline `kind` of `referral` (the current voucher's)."""
    return session.exec(
        select(col(Deadline.due_on))
        .where(Deadline.referral_id == referral.id, Deadline.kind == kind)
        .order_by(col(Deadline.id).desc())
    ).first()


def steps(sheet: VoucherSheet) -> list[str]:
    """What the customer must do, as short numbered sentences."""
    contact = "Rufen Sie bitte bald bei der Beratungsstelle an"
    if not sheet.provider_phone:
        contact = "Melden Sie sich bitte bald bei der Beratungsstelle"
    appointment = f"{contact}. Vereinbaren Sie einen Termin für ein erstes Gespräch."
    if sheet.first_appointment:
        appointment += (
            f" Das erste Gespräch soll innerhalb von {sheet.first_appointment} stattfinden"
            + (
                f", also bis zum {datum(sheet.first_appointment_by)}."
                if sheet.first_appointment_by
                else "."
            )
        )
    texts = [appointment, "Bringen Sie diesen Gutschein zum ersten Gespräch mit."]
    if sheet.valid_until:
        texts.append(
            f"Der Gutschein gilt bis zum {datum(sheet.valid_until)}. Vereinbaren Sie bis "
            "dahin einen Termin. Sonst verfällt der Gutschein."
        )
    texts.append(
        "Sie können einen Termin nicht wahrnehmen? Sagen Sie ihn bitte vorher bei der "
        "Beratungsstelle ab und vereinbaren Sie einen neuen."
    )
    return [f"{number}. {text}" for number, text in enumerate(texts, start=1)]


def render_voucher(sheet: VoucherSheet, *, compress: bool = True) -> bytes:
    """The Gutschein as a one-page, tagged PDF (`api.dashboard.pdf_layout`)."""
    pdf = TaggedPdf(
        title=f"Gutschein {sheet.number} – {sheet.service}",
        footer=f"Gutschein {sheet.number} – {sheet.issuer.jobcenter} – "
        f"erstellt am {datum(sheet.printed_on)} mit kel-flow",
        compress=compress,
    )
    pdf.add_page()
    _issuer_block(pdf, sheet)
    pdf.heading("Gutschein", level=1)
    pdf.paragraph(f"für eine Beratung: {sheet.service}", size=13, height=6.5)
    _number_box(pdf, sheet)
    pdf.heading("Ihre Beratungsstelle")
    pdf.paragraph(sheet.provider_name, size=12, style="B", height=6)
    lines = [*sheet.provider_address.splitlines()]
    lines += [f"Telefon: {sheet.provider_phone}"] if sheet.provider_phone else []
    lines += [f"E-Mail: {sheet.provider_email}"] if sheet.provider_email else []
    pdf.paragraph("\n".join(lines) or "Die Anschrift erhalten Sie im Jobcenter.", size=12, height=6)
    if sheet.appointment_hint:
        pdf.paragraph(f"So bekommen Sie einen Termin: {sheet.appointment_hint}", size=12, height=6)
    pdf.heading("Was Sie jetzt tun")
    for step in steps(sheet):
        pdf.paragraph(step, size=12, height=6)
        pdf.ln(1)
    pdf.heading("Gut zu wissen")
    pdf.paragraph(
        "Die Beratung ist für Sie kostenlos. Die Beratungsstelle sagt dem Jobcenter, ob Sie "
        "zum Termin gekommen sind und ob die Beratung läuft. Was Sie in der Beratung "
        "besprechen, erfährt das Jobcenter nur, wenn Sie es erlauben "
        "(Schweigepflichtentbindung).",
        size=12,
        height=6,
    )
    pdf.heading("Fragen?")
    pdf.paragraph(
        f"Fragen Sie Ihr Jobcenter: {sheet.issuer.jobcenter}, Standort {sheet.issuer.site}. "
        f"E-Mail: {sheet.caseworker_email}",
        size=12,
        height=6,
    )
    return pdf.render()


def _issuer_block(pdf: TaggedPdf, sheet: VoucherSheet) -> None:
    """Top of the page: the issuing jobcenter and site (left), the date of issue (right)."""
    half = pdf.epw / 2
    top = pdf.get_y()
    block = "\n".join(
        [
            sheet.issuer.jobcenter,
            f"Standort {sheet.issuer.site}",
            *sheet.issuer.address.splitlines(),
        ]
    )
    pdf.paragraph(block, size=10, height=5, width=half)
    bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + half, top)
    pdf.paragraph(
        f"Ausgestellt am {datum(sheet.issued_on)}", size=10, height=5, width=half, align="R"
    )
    pdf.set_y(max(bottom, pdf.get_y()) + 8)


def _number_box(pdf: TaggedPdf, sheet: VoucherSheet) -> None:
    """The voucher number, the Aktenzeichen and the validity in a framed box."""
    pdf.ln(3)
    top = pdf.get_y()
    pdf.set_x(pdf.l_margin + 4)
    pdf.paragraph(
        f"Gutschein-Nummer: {sheet.number}", size=15, style="B", height=8, width=pdf.epw - 8
    )
    pdf.set_x(pdf.l_margin + 4)
    valid = (
        f"Gültig bis: {datum(sheet.valid_until)}"
        if sheet.valid_until
        else "Gültig: ohne Ablaufdatum"
    )
    pdf.paragraph(valid, size=13, style="B", height=7, width=pdf.epw - 8)
    pdf.set_x(pdf.l_margin + 4)
    pdf.paragraph(
        f"Aktenzeichen im Jobcenter: {sheet.reference}", size=10, height=5.5, width=pdf.epw - 8
    )
    bottom = pdf.get_y() + 2
    with pdf.artifact():
        pdf.set_line_width(0.6)
        pdf.rect(pdf.l_margin, top - 2, pdf.epw, bottom - top + 2)
        pdf.set_line_width(0.2)
    pdf.set_y(bottom + 2)
