"""Fall: one case with its facts, deadlines, timeline, notifications, escalations, vouchers
and feedback, and a link to its Prefect flow runs (tagged ``fall-<id>``).

The case view is `api.views.detail`: report content and need group only in the reader's
scope (`tasks.visibility`: own reports for a provider, otherwise a consent naming the
provider), every read of content audited. A case outside the user's view answers with the
same German 404 page as a reference that does not exist (the page does not repeat the
reference), so its existence does not leak.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from api.access import referral_for
from api.dashboard.web import DashboardUser, page
from api.deps import NowDep, RegistryDep, SessionDep
from api.schemas import TimelineEntry
from api.views import detail
from models.clock import BERLIN, local_date
from models.process import ServiceConfig
from models.tables import Notification, Provider, Role, User
from tasks.repository import NotFound

router = APIRouter()

PREFECT_UI_DEFAULT = "http://127.0.0.1:4200"
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
}
ROLES = {
    "caseworker": "Integrationsfachkraft",
    "provider": "Träger",
    "coordinator": "Koordination § 16a",
    "admin": "Administration",
    "customer": "Kundin / Kunde",
    "system": "System",
}
ACTIONS = {
    "started": "Zuweisung angelegt, Gutschein ausgegeben",
    "staged": "Zuweisung angelegt, gestuft",
    "reminder": "Erinnerung",
    "overdue": "Frist überschritten",
    "escalated": "Eskalation an die Koordination",
    "escalation_acknowledge": "Eskalation quittiert",
    "escalation_assign": "Eskalation zugewiesen",
    "escalation_resolve": "Eskalation erledigt",
    "consent_granted": "Schweigepflichtentbindung erfasst",
    "feedback_content_read": "Inhalt der Rückmeldungen gelesen",
    "report_read": "Bericht abgerufen",
    "command_rejected": "Meldung abgewiesen",
    "notification_given_up": "Benachrichtigung aufgegeben",
    "anonymised": "Nach Ablauf der Aufbewahrungsfrist anonymisiert",
}
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
) -> HTMLResponse:
    """Ein Fall im Sichtbereich von `user`; sonst eine 404-Seite."""
    try:
        referral = referral_for(session, user, reference)
    except NotFound:
        return error_page(request, user, 404)
    assert referral.id is not None
    view = detail(session, referral, registry, user, now)
    service = registry.service(referral.service_type)
    provider = session.get(Provider, referral.provider_id) if referral.provider_id else None
    notifications = session.exec(
        select(Notification)
        .where(Notification.referral_id == referral.id)
        .order_by(col(Notification.created_at), col(Notification.id))
    ).all()
    prefect_ui = os.environ.get("PREFECT_UI_URL", PREFECT_UI_DEFAULT).rstrip("/")
    from api.dashboard import caseworker, portal  # their forms live on this page

    extras = {
        **portal.case_context(session, referral, user, registry, now),
        **caseworker.case_context(session, referral, user, registry, now),
    }
    return page(
        request,
        "case.html.j2",
        user,
        nav="overview",
        case=view,
        provider=provider,
        today=local_date(now),
        timeline=[_timeline_row(entry, service) for entry in view.timeline],
        notifications=[_notification_row(n, user) for n in notifications],
        titles=_event_titles(service),
        outcomes={t.outcome: t.title for t in service.process.transitions if t.outcome},
        prefect_runs=f"{prefect_ui}/runs?tags=fall-{referral.id}",
        deadline_states=DEADLINE_STATES,
        escalation_states=ESCALATION_STATES,
        voucher_states=VOUCHER_STATES,
        content_labels=CONTENT_LABELS,
        local=_local,
        **extras,
    )


def error_page(request: Request, user: User, status: int) -> HTMLResponse:
    """A German error page (404: not found or outside the user's view; 403: not allowed)."""
    title, text = ERRORS[status]
    response = page(request, "case.html.j2", user, nav=None, error=(title, text))
    response.status_code = status
    return response


def _local(moment: datetime | None) -> str:
    return "–" if moment is None else f"{moment.astimezone(BERLIN):%d.%m.%Y, %H:%M} Uhr"


def _event_titles(service: ServiceConfig) -> dict[str, str]:
    """German titles of events and feedback kinds, from the process definition."""
    return {t.event: t.title for t in service.process.transitions}


def _timeline_row(entry: TimelineEntry, service: ServiceConfig) -> TimelineRow:
    states = service.process.states
    title = _event_titles(service).get(entry.action) or ACTIONS.get(entry.action, entry.action)
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
    if after is not None and before != after:
        if before in states:
            return f"Zustand: {state(before)} → {state(after)}"
        return f"Zustand: {state(after)}"
    if "escalation_id" in detail:
        return f"Eskalation Nr. {detail['escalation_id']}"
    if "reports" in detail:
        return f"{detail['reports']} Rückmeldung(en)"
    return ""


def _notification_row(notification: Notification, user: User) -> NotificationRow:
    return NotificationRow(
        template=NOTIFICATION_TEMPLATES.get(notification.template, notification.template),
        recipient_role=ROLES.get(notification.recipient_role, notification.recipient_role),
        recipient=None if user.role == Role.provider else notification.recipient,
        status=NOTIFICATION_STATES.get(notification.status, notification.status),
        created_at=notification.created_at,
        sent_at=notification.sent_at,
    )
