"""Zwischen- and Abschlussbericht of a case as PDF, in the form of seed 002 §4.6.5.

Sections as in the form: 1. Persönliche Daten (kel-flow holds none: the case is named by
Gutschein-Nr. and Aktenzeichen only), 2. Ausgangssituation, 3. Ziele der Beratung /
Leistungsmodule, 4. (Zwischen-)Ergebnis, 5. Weitere Maßnahmen / Zeitraum / Ausblick,
6. Sonstiges (u. a. Mitwirkung). The content follows `tasks.visibility` as the case view
does: it is printed for the provider who wrote the report, and otherwise only with a
Schweigepflichtentbindung of scope content naming the reading provider (for the jobcenter:
the writing provider); otherwise sections 2-6 say so. Every download is audited
(``report_read``), and a printed content also as ``feedback_content_read``. A report
outside the user's view, of another case or that does not exist answers the same German
404 page as the case page.

Rendered with fpdf2 as an accessible, tagged PDF in a Unicode font (`api.dashboard.pdf_layout`:
Source Sans Pro, so "Yılmaz" and „Łukasiewicz“ print as written; language de-DE, title,
bookmarks, headings and paragraphs tagged). The Auftraggeber is the jobcenter of the case's
site (`Site.jobcenter`), else the setting ``KEL_JOBCENTER_NAME`` (`voucher_pdf.issuer`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from api.access import referral_for
from api.dashboard.cases import error_page
from api.dashboard.pdf_layout import TaggedPdf
from api.dashboard.portal_forms import forms
from api.dashboard.voucher_pdf import issuer
from api.dashboard.web import DashboardUser
from api.deps import NowDep, RegistryDep, SessionDep, SettingsDep
from api.views import may_read_content
from models.clock import local_date
from models.german import datum
from models.process import Registry, ServiceConfig
from models.settings import Settings
from models.tables import Feedback, Provider, Referral, Voucher
from tasks.process_versions import service_for
from tasks.repository import Actor, NotFound, audit
from tasks.visibility import content_scope

router = APIRouter()

#: fpdf2 compresses page streams; off, the raw PDF can be read (text is glyph ids: use pypdf).
COMPRESS = True


def report_sheets(service: ServiceConfig, registry: Registry) -> dict[str, tuple[str, str]]:
    """Report event -> (heading of its PDF sheet, German title of the event), for the
    events whose form names a ``pdf`` in the process YAML of `service`, the case's version
    (`api.dashboard.portal_forms.forms`)."""
    titles = {t.event: t.title for t in service.process.transitions}
    return {
        form.event: (form.pdf, titles[form.event])
        for form in forms(service, registry).values()
        if form.pdf is not None
    }


WITHHELD = "Inhalt nicht freigegeben (keine Schweigepflichtentbindung)"
EMPTY = "keine Angaben"
SECTIONS = (
    ("2. Ausgangssituation", "ausgangssituation"),
    ("3. Ziele der Beratung/Leistungsmodule", "ziele"),
    ("4. (Zwischen-)Ergebnis", "ergebnis"),
    ("5. Weitere Maßnahmen/Zeitraum/Ausblick", "weitere_massnahmen"),
    ("6. Sonstiges (u. a. Mitwirkung des Ratsuchenden)", "mitwirkung"),
)


@dataclass(frozen=True)
class ReportSheet:
    """What the form shows: the case's identifiers, status fields and sections 2-6."""

    title: str
    kind_note: str
    commissioner: str
    provider: str
    reference: str
    voucher: str
    service: str
    received_on: date
    printed_on: date
    status: Sequence[tuple[str, str]]
    sections: Sequence[tuple[str, str]]
    withheld: bool


def _yes_no(value: bool | None) -> str:
    return "–" if value is None else ("ja" if value else "nein")


def _goals(feedback: Feedback, service: ServiceConfig) -> str:
    """Section 3: the goals, the Hilfebedarfsgruppe and the booked Leistungsmodule (titles
    from the catalog of `service`, the case's version)."""
    catalog = service.catalog
    modules = {m.code: m.title for m in catalog.modules} if catalog else {}
    groups = {g.code: g.title for g in catalog.need_groups} if catalog else {}
    lines = [str(feedback.content.get("ziele") or "").strip() or EMPTY]
    if feedback.need_group is not None:
        title = groups.get(feedback.need_group, "")
        lines.append(
            f"Hilfebedarfsgruppe: {feedback.need_group}" + (f" ({title})" if title else "")
        )
    if feedback.modules:
        lines.append("Leistungsmodule:")
        for booked in feedback.modules:
            code = booked.get("code")
            hours = float(booked.get("hours") or 0)
            title = modules.get(code, "") if isinstance(code, int | str) else ""
            hours_text = f"{hours:.1f}".replace(".", ",")
            sessions = int(booked.get("group_sessions") or 0)
            lines.append(
                f"- Modul {code}"
                + (f" {title}" if title else "")
                + f": {hours_text} Std."
                + (f", {sessions} Gruppensitzungen" if sessions else "")
            )
    return "\n".join(lines)


def report_sheet(
    session: Session,
    registry: Registry,
    referral: Referral,
    feedback: Feedback,
    *,
    may_read: bool,
    today: date,
    settings: Settings,
) -> ReportSheet:
    """The form's data; sections 2-6 are `WITHHELD` unless `may_read`; the Auftraggeber
    is the jobcenter of the referral's site (`issuer`)."""
    service = service_for(session, registry, referral)  # the case's process version
    provider = session.get(Provider, referral.provider_id) if referral.provider_id else None
    vouchers = session.exec(
        select(Voucher).where(Voucher.referral_id == referral.id).order_by(col(Voucher.id))
    ).all()
    own = [v for v in vouchers if v.provider_id == referral.provider_id]
    voucher = (own or vouchers)[-1] if vouchers else None
    if may_read:
        sections = [
            (
                title,
                _goals(feedback, service)
                if key == "ziele"
                else str(feedback.content.get(key) or "").strip() or EMPTY,
            )
            for title, key in SECTIONS
        ]
    else:
        sections = [(title, WITHHELD) for title, _ in SECTIONS]
    heading, note = report_sheets(service, registry)[feedback.kind]
    return ReportSheet(
        title=heading,
        kind_note=note,
        commissioner=issuer(session, referral.site, settings).jobcenter,
        provider=provider.name if provider else "–",
        reference=referral.reference,
        voucher=voucher.number if voucher else "–",
        service=service.title,
        received_on=feedback.received_on,
        printed_on=today,
        status=[
            ("Termin wahrgenommen", _yes_no(feedback.appointment_kept)),
            ("Beratung läuft", _yes_no(feedback.counselling_ongoing)),
            ("Beratung beendet", _yes_no(feedback.ended)),
        ],
        sections=sections,
        withheld=not may_read,
    )


def render_report(sheet: ReportSheet, *, compress: bool = True) -> bytes:
    """The PDF of `sheet` (seed 002 §4.6.5 form), tagged (`api.dashboard.pdf_layout`)."""
    pdf = TaggedPdf(
        title=f"{sheet.title} {sheet.reference}",
        footer=f"{sheet.title} {sheet.reference} – vertraulich: Sozialdaten "
        f"(§\u00a035 SGB\u00a0I), erstellt am {datum(sheet.printed_on)} mit kel-flow",
        compress=compress,
    )
    pdf.add_page()
    half = pdf.epw / 2
    top = pdf.get_y()
    pdf.paragraph(f"Kooperationspartner:\n{sheet.provider}", size=10, height=5, width=half)
    left_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + half, top)
    pdf.paragraph(
        f"Auftraggeber: {sheet.commissioner}\nAz.: {sheet.reference}", size=10, height=5, width=half
    )
    pdf.set_y(max(left_bottom, pdf.get_y()) + 6)
    pdf.heading(sheet.title, level=1, align="C")
    pdf.paragraph(
        f"{sheet.kind_note}, eingegangen am {datum(sheet.received_on)}", size=10, align="C"
    )
    pdf.heading("1. Persönliche Daten des Ratsuchenden (pseudonymisiert)")
    pdf.labelled("Gutschein-Nr.:", sheet.voucher)
    pdf.labelled("Aktenzeichen:", sheet.reference)
    pdf.labelled("Träger:", sheet.provider)
    pdf.labelled("Leistungsart:", sheet.service)
    pdf.paragraph(
        "Name und Anschrift führt kel-flow nicht; die Zuordnung erfolgt über "
        "Aktenzeichen und Gutschein-Nr. im Fachverfahren.",
        size=9,
        style="I",
        height=5,
    )
    pdf.ln(1)
    pdf.labelled("Stand:", ", ".join(f"{label}: {value}" for label, value in sheet.status))
    for title, text in sheet.sections:
        pdf.heading(title)
        pdf.paragraph(text, size=10, style="I" if sheet.withheld else "", height=5, border="B")
    return pdf.render()


def _filename(sheet: ReportSheet, feedback_id: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", sheet.reference)
    return f"{sheet.title}-{safe}-{feedback_id}.pdf"


@router.get("/faelle/{reference}/berichte/{feedback_id:int}.pdf", include_in_schema=False)
def report_pdf(
    request: Request,
    reference: str,
    feedback_id: int,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """The Zwischen- or Abschlussbericht `feedback_id` of case `reference`; one 404 page for
    a case outside the view, another case's report and a report that does not exist."""
    try:
        referral = referral_for(session, user, reference)
    except NotFound:
        return error_page(request, user, 404)
    # an id beyond 64 bits cannot exist (and would overflow the database driver)
    feedback = session.get(Feedback, feedback_id) if 0 < feedback_id < 2**63 else None
    if (
        feedback is None
        or feedback.referral_id != referral.id
        or feedback.kind not in report_sheets(service_for(session, registry, referral), registry)
    ):
        return error_page(request, user, 404)
    today = local_date(now)
    assert referral.id is not None
    may_read = may_read_content(content_scope(session, referral, user, today), feedback)
    actor = Actor(user.username, user.role)
    parameters = {"reference": referral.reference, "feedback_id": feedback.id}
    audit(
        session,
        now,
        actor,
        "report_read",
        referral.id,
        report="bericht_pdf",
        parameters=parameters,
        format="pdf",
    )
    if may_read and (feedback.content or feedback.modules or feedback.need_group is not None):
        audit(
            session,
            now,
            actor,
            "feedback_content_read",
            referral.id,
            reports=1,
            feedback_id=feedback.id,
            format="pdf",
        )
    session.commit()
    sheet = report_sheet(
        session, registry, referral, feedback, may_read=may_read, today=today, settings=settings
    )
    return Response(
        render_report(sheet, compress=COMPRESS),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{_filename(sheet, feedback_id)}"',
            "Cache-Control": "no-store",
        },
    )
