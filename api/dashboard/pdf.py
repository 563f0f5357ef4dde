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

Rendered with fpdf2 and the core font Helvetica (Latin-1); typographic characters outside
Latin-1 („“–…) are replaced by ASCII equivalents.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlmodel import Session, col, select

from api.access import referral_for
from api.dashboard.cases import error_page
from api.dashboard.web import DashboardUser
from api.deps import NowDep, RegistryDep, SessionDep
from api.views import may_read_content
from models.clock import local_date
from models.german import datum
from models.process import Registry
from models.tables import Feedback, Provider, Referral, Voucher
from tasks.repository import Actor, NotFound, audit
from tasks.visibility import content_scope

router = APIRouter()

#: fpdf2 compresses page streams; tests switch this off to find the text in the raw bytes.
COMPRESS = True

REPORT_TITLES = {
    "interim_report": "Zwischenbericht",
    "result_report": "Zwischenbericht",
    "final_report": "Abschlussbericht",
}
KIND_NOTES = {
    "interim_report": "Zwischenmeldung",
    "result_report": "Ergebnismeldung",
    "final_report": "Abschluss der Beratung",
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

_ASCII = str.maketrans(
    {
        "„": '"',
        "“": '"',
        "”": '"',
        "‚": "'",
        "‘": "'",
        "’": "'",
        "–": "-",
        "—": "-",
        "−": "-",
        "…": "...",
        "•": "-",
        "€": "EUR",
        "\u202f": " ",
        "\u2009": " ",
        "\u200b": "",
    }
)


def latin1(text: str) -> str:
    """`text` in the core font's Latin-1: typography as ASCII, anything else as ``?``."""
    return text.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")


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
    return "-" if value is None else ("ja" if value else "nein")


def _goals(feedback: Feedback, registry: Registry, service_type: str) -> str:
    """Section 3: the goals, the Hilfebedarfsgruppe and the booked Leistungsmodule."""
    catalog = registry.service(service_type).catalog
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
) -> ReportSheet:
    """The form's data; sections 2-6 are `WITHHELD` unless `may_read`."""
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
                _goals(feedback, registry, referral.service_type)
                if key == "ziele"
                else str(feedback.content.get(key) or "").strip() or EMPTY,
            )
            for title, key in SECTIONS
        ]
    else:
        sections = [(title, WITHHELD) for title, _ in SECTIONS]
    return ReportSheet(
        title=REPORT_TITLES[feedback.kind],
        kind_note=KIND_NOTES[feedback.kind],
        commissioner=f"Jobcenter {registry.kommune}",
        provider=provider.name if provider else "-",
        reference=referral.reference,
        voucher=voucher.number if voucher else "-",
        service=registry.service(referral.service_type).title,
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


class _Form(FPDF):
    """A4 portrait with a confidentiality footer and page numbers."""

    def __init__(self, footer: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = latin1(footer)
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(auto=True, margin=20)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 5, f"{self.footer_text} - Seite {self.page_no()}/{{nb}}", align="C")

    def line_of(self, label: str, value: str, *, width: float = 45) -> None:
        self.set_font("Helvetica", "B", 10)
        self.cell(width, 6, latin1(label))
        self.set_font("Helvetica", "", 10)
        self.multi_cell(0, 6, latin1(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font("Helvetica", "B", 11)
        self.cell(0, 7, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def paragraph(self, text: str, *, note: bool = False) -> None:
        self.set_font("Helvetica", "I" if note else "", 10)
        self.multi_cell(
            0, 5, latin1(text), border="B", align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )


def render_report(sheet: ReportSheet, *, compress: bool = True) -> bytes:
    """The PDF of `sheet` (seed 002 §4.6.5 form)."""
    pdf = _Form(
        f"{sheet.title} {sheet.reference} - vertraulich: Sozialdaten (§ 35 SGB I), "
        f"erstellt am {datum(sheet.printed_on)} mit kel-flow"
    )
    pdf.set_compression(compress)
    pdf.set_title(latin1(f"{sheet.title} {sheet.reference}"))
    pdf.set_author("kel-flow")
    pdf.add_page()
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    pdf.set_font("Helvetica", "", 10)
    top = pdf.get_y()
    pdf.multi_cell(half, 5, latin1(f"Kooperationspartner:\n{sheet.provider}"))
    left_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + half, top)
    pdf.multi_cell(
        half,
        5,
        latin1(f"Auftraggeber: {sheet.commissioner}\nAz.: {sheet.reference}"),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_y(max(left_bottom, pdf.get_y()) + 6)
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, latin1(sheet.title), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(
        0,
        5,
        latin1(f"{sheet.kind_note}, eingegangen am {datum(sheet.received_on)}"),
        align="C",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.heading("1. Persönliche Daten des Ratsuchenden (pseudonymisiert)")
    pdf.line_of("Gutschein-Nr.:", sheet.voucher)
    pdf.line_of("Aktenzeichen:", sheet.reference)
    pdf.line_of("Träger:", sheet.provider)
    pdf.line_of("Leistungsart:", sheet.service)
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(
        0,
        5,
        latin1(
            "Name und Anschrift führt kel-flow nicht; die Zuordnung erfolgt über "
            "Aktenzeichen und Gutschein-Nr. im Fachverfahren."
        ),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(1)
    pdf.line_of("Stand:", ", ".join(f"{label}: {value}" for label, value in sheet.status))
    for title, text in sheet.sections:
        pdf.heading(title)
        pdf.paragraph(text, note=sheet.withheld)
    return bytes(pdf.output())


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
        or feedback.kind not in REPORT_TITLES
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
    sheet = report_sheet(session, registry, referral, feedback, may_read=may_read, today=today)
    return Response(
        render_report(sheet, compress=COMPRESS),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{_filename(sheet, feedback_id)}"',
            "Cache-Control": "no-store",
        },
    )
