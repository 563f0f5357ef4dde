"""Fall: one case with its facts, deadlines, timeline, notifications, escalations, vouchers
and feedback, and for coordinators and admins a link to its Prefect flow runs (tagged
``fall-<Aktenzeichen>``, `models.urls.prefect_runs_url`). Reads of content collapse into
one line of the history (`timeline_rows`).

The case view is `api.views.detail`: report content and need group only in the reader's
scope (`tasks.visibility`: own reports for a provider, otherwise a consent naming the
provider), every read of content audited. A case outside the user's view answers with the
same German 404 page as a reference that does not exist (the page does not repeat the
reference), so its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from api.access import referral_for
from api.dashboard.web import DashboardUser, page
from api.deps import NowDep, RegistryDep, SessionDep, SettingsDep
from api.schemas import TimelineEntry
from api.views import detail
from models.audit_titles import AUDIT_TITLES, OTHER_ACTION, action_title, event_titles
from models.clock import BERLIN, local_date, start_of_day
from models.commands import DECLINE_REASONS
from models.german import anzahl
from models.phases import STEP_TITLES
from models.process import Registry, ServiceConfig
from models.settings import Settings
from models.tables import Notification, Provider, Referral, Role, User
from models.urls import prefect_runs_url
from tasks.process_versions import service_for
from tasks.repository import NotFound

router = APIRouter()

#: Roles that see the link to the case's flow runs (the Prefect UI has no per-user access).
PREFECT_ROLES = (Role.coordinator, Role.admin)
#: Audit actions that only read (content, reports): one line "12 Lesezugriffe" in the history.
READ_SUFFIX = "_read"
DEADLINE_STATES = {"open": "offen", "met": "erfüllt", "cancelled": "entfallen"}
ESCALATION_STATES = {"open": "offen", "acknowledged": "quittiert", "resolved": "erledigt"}
VOUCHER_STATES = {
    "issued": "ausgegeben",
    "redeemed": "eingelöst",
    "expired": "verfallen",
    "returned_invalid": "ungültig zurückgegeben",
}
NOTIFICATION_STATES = {
    "pending": "ausstehend",
    "sent": "versandt",
    "failed": "fehlgeschlagen",
    "given_up": "aufgegeben",
}
NOTIFICATION_TEMPLATES = {
    "provider_reminder": "Erinnerung an den Träger",
    "customer_reminder": "Erinnerung an die Kundin / den Kunden",
    "caseworker_overdue": "Frist überschritten",
    "caseworker_status": "Statusmeldung",
    "coordinator_escalation": "Eskalation",
    "escalation_second_step": "Eskalation, 2. Stufe",
    "funder_notice": "Information an den Leistungsträger",
}
ROLES = {
    "caseworker": "Integrationsfachkraft",
    "provider": "Träger",
    "coordinator": "Koordination §\u00a016a",
    "admin": "Administration",
    "customer": "Kundin / Kunde",
    "system": "System",
    "teamleitung": "Teamleitung",
    "funder": "Leistungsträger",
}
ACTIONS = AUDIT_TITLES  # audit actions that are no event: one table (`models.audit_titles`)
CONTENT_LABELS = {
    "ausgangssituation": "Ausgangssituation",
    "ziele": "Ziele / Module",
    "ergebnis": "Ergebnis",
    "weitere_massnahmen": "Weitere Maßnahmen",
    "mitwirkung": "Mitwirkung",
}
ERRORS = {
    403: ("Keine Berechtigung", "Diese Aktion ist für Ihre Rolle nicht erlaubt."),
    404: (
        "Fall nicht gefunden",
        "Einen Fall mit diesem Aktenzeichen gibt es nicht, oder er gehört nicht zu "
        "Ihrem Zuständigkeitsbereich.",
    ),
}


@dataclass(frozen=True)
class TimelineRow:
    at: datetime  # local time (Europe/Berlin)
    title: str
    actor: str
    role: str
    note: str


@dataclass(frozen=True)
class NotificationRow:
    template: str
    recipient_role: str
    recipient: str | None  # None for providers: they never see e-mail addresses
    status: str
    created_at: datetime
    sent_at: datetime | None


@router.get("/faelle/{reference}", response_class=HTMLResponse, summary="Fall")
def case_page(
    request: Request,
    reference: str,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
    settings: SettingsDep,
) -> Response:
    """Ein Fall im Sichtbereich von `user`; ein Aktenzeichen in anderer Groß-/Kleinschreibung
    leitet zum Fall weiter (303, `worklists.case_by_spelling`); sonst eine 404-Seite."""
    try:
        referral = referral_for(session, user, reference)
    except NotFound:
        from api.dashboard.worklists import case_by_spelling  # it imports this module

        return case_by_spelling(session, user, reference) or error_page(request, user, 404)
    return render_case(request, user, session, registry, settings, now, referral)


def render_case(
    request: Request,
    user: User,
    session: Session,
    registry: Registry,
    settings: Settings,
    now: datetime,
    referral: Referral,
    *,
    status: int = 200,
    **form: Any,
) -> HTMLResponse:
    """The case page of `referral` (in `user`'s view). `form` is template context of a form
    on the page that was refused and is shown again with its values and German message,
    answered with `status` (409/422), e.g. by `api.dashboard.caseworker`."""
    assert referral.id is not None
    view = detail(session, referral, registry, user, now)
    service = service_for(session, registry, referral)  # titles of the case's own version
    provider = session.get(Provider, referral.provider_id) if referral.provider_id else None
    notifications = session.exec(
        select(Notification)
        .where(Notification.referral_id == referral.id)
        .order_by(col(Notification.created_at), col(Notification.id))
    ).all()
    from api.dashboard import caseworker, portal, portal_phase  # their forms live here
    from api.dashboard.pdf import report_sheets  # it imports this module

    extras = {
        **portal.case_context(session, referral, user, registry, now),
        **caseworker.case_context(session, referral, user, registry, now),
        **portal_phase.case_context(session, referral, user, registry, request),
        **form,
    }
    response = page(
        request,
        "case.html.j2",
        user,
        nav="overview",
        case=view,
        provider=provider,
        today=local_date(now),
        timeline=timeline_rows(view.timeline, service),
        notifications=[_notification_row(n, user) for n in notifications],
        titles=event_titles(service.process),
        report_pdfs=report_sheets(service, registry),  # reports with a PDF sheet
        outcomes={t.outcome: t.title for t in service.process.transitions if t.outcome},
        prefect_runs=_prefect_runs(settings, referral, user, now),
        deadline_states=DEADLINE_STATES,
        escalation_states=ESCALATION_STATES,
        voucher_states=VOUCHER_STATES,
        content_labels=CONTENT_LABELS,
        status_only=service.standard.consent == "status_without",  # seed 003
        local=_local,
        **extras,
    )
    response.status_code = status
    return response


def error_page(request: Request, user: User, status: int) -> HTMLResponse:
    """A German error page (404: not found or outside the user's view; 403: not allowed)."""
    title, text = ERRORS[status]
    response = page(request, "case.html.j2", user, nav=None, error=(title, text))
    response.status_code = status
    return response


def _local(moment: datetime | None) -> str:
    return "–" if moment is None else f"{moment.astimezone(BERLIN):%d.%m.%Y, %H:%M} Uhr"


def _prefect_runs(settings: Settings, referral: Referral, user: User, now: datetime) -> str | None:
    """The Prefect UI's list of the case's flow runs since the day before it started, for
    coordinators and admins; None for everyone else."""
    if user.role not in PREFECT_ROLES:
        return None
    since = now - start_of_day(referral.started_on - timedelta(days=1))
    return prefect_runs_url(settings.prefect_ui_url, referral.reference, int(since.total_seconds()))


def timeline_rows(entries: Sequence[TimelineEntry], service: ServiceConfig) -> list[TimelineRow]:
    """The history: one row per audit entry, oldest first, except reads (``*_read``: content
    of reports read, report PDFs fetched), which make one row "12 Lesezugriffe" with the
    first and last read, placed at the last read. A PDF download audits a report read and a
    content read at the same moment: one Lesezugriff per reader and moment."""
    rows = [_timeline_row(e, service) for e in entries if not e.action.endswith(READ_SUFFIX)]
    reads = sorted({(e.at, e.actor, e.role) for e in entries if e.action.endswith(READ_SUFFIX)})
    if reads:
        rows.append(_reads_row(reads))
        rows.sort(key=lambda row: row.at)
    return rows


def _reads_row(reads: Sequence[tuple[datetime, str, str]]) -> TimelineRow:
    first, last = reads[0][0], reads[-1][0]
    readers = sorted({(actor, role) for _, actor, role in reads})
    when = f"erster {_local(first)}, letzter {_local(last)}" if first != last else _local(last)
    return TimelineRow(
        at=last.astimezone(BERLIN),
        title=anzahl(len(reads), "Lesezugriff", "Lesezugriffe"),
        actor=", ".join(f"{actor} ({ROLES.get(role, role)})" for actor, role in readers),
        role="",
        note=f"Rückmeldungen oder Berichte gelesen; {when}",
    )


def _timeline_row(entry: TimelineEntry, service: ServiceConfig) -> TimelineRow:
    states = service.process.states
    title = action_title(entry.action, service.process) or OTHER_ACTION
    note = _note(entry.detail, states)
    return TimelineRow(
        at=entry.at.astimezone(BERLIN),
        title=title or "–",
        actor=entry.actor,
        role=ROLES.get(entry.role, entry.role),
        note=note,
    )


def _note(detail: dict[str, Any], states: dict[str, Any]) -> str:
    """A short German note from an audit entry's detail (IDs and codes only)."""

    def state(name: Any) -> str:
        return states[name].title if name in states else str(name)

    before, after = detail.get("state_from"), detail.get("state_to")
    reason = DECLINE_REASONS.get(str(detail.get("reason_code")))
    if after is not None and before != after:
        change = f"{state(before)} → {state(after)}" if before in states else state(after)
        return f"Zustand: {change}" + (f"; Grund: {reason}" if reason else "")
    if "escalation_id" in detail:
        return f"Eskalation Nr. {detail['escalation_id']}"
    if "reports" in detail:
        return anzahl(int(detail["reports"]), "Rückmeldung", "Rückmeldungen")
    if "phase" in detail:  # a Leistungsabschnitt (models.phases)
        return f"{detail['phase']} {STEP_TITLES.get(str(detail.get('phase_step')), '')}".strip()
    return ""


def _notification_row(notification: Notification, user: User) -> NotificationRow:
    return NotificationRow(
        template=NOTIFICATION_TEMPLATES.get(notification.template, "Benachrichtigung"),
        recipient_role=ROLES.get(notification.recipient_role, "–"),
        recipient=None if user.role == Role.provider else notification.recipient,
        status=NOTIFICATION_STATES.get(notification.status, "–"),
        created_at=notification.created_at,
        sent_at=notification.sent_at,
    )
