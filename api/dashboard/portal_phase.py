"""Träger-Portal: report a phase (Leistungsabschnitt) of a case begun or completed, and the
case page's box "Leistungsabschnitt" (current phase and since when; seed 002 §4.1,
`models.phases`).

* ``GET|POST /dashboard/faelle/{reference}/leistungsabschnitt`` (`models.urls.phase_form_path`):
  the provider's form. A case outside the user's view, or of a Leistungsart without phases,
  answers the 404 page; a user who is not a provider the 403 page; a state that allows no
  phase report now 409. The choices follow the rules (the open phase can be completed;
  without one, a phase not yet begun can begin). A posted form goes through the one path
  (`api.dashboard.actions.submit_form`: CSRF-checked, idempotent per form key, committed)
  and answers 303 to the case page (``?hinweis=leistungsabschnitt``); a refusal shows the
  form again with the German message (422, 409 when the state does not allow it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.access import check_may_report, referral_for
from api.dashboard.actions import submit_form
from api.dashboard.cases import error_page
from api.dashboard.csrf import CsrfDep
from api.dashboard.web import DashboardUser, page
from api.deps import NowDep, RegistryDep, SessionDep, SettingsDep, TriggerDep
from api.errors import Problem
from api.service import Submission
from models.clock import local_date
from models.commands import ReferralEvent
from models.phases import STEP_TITLES, PhaseDef, PhasePeriod, current
from models.process import Registry, ServiceConfig
from models.statemachine import allowed_events
from models.tables import Referral, Role, User
from models.urls import case_path, phase_form_path
from tasks.phases import periods_of
from tasks.process_versions import service_for
from tasks.repository import NotFound

router = APIRouter()

NOTICE = "leistungsabschnitt"
"""The ``?hinweis=`` value of the case page after a phase was reported."""
DONE = "Der Leistungsabschnitt ist gemeldet."
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORM_KEY = re.compile(r"[\x21-\x7e]{8,128}")


@dataclass(frozen=True)
class Choice:
    """One option of the form: ``<code>:<begun|completed>`` and its German label."""

    value: str
    label: str


@dataclass(frozen=True)
class PeriodRow:
    title: str
    begun_on: date
    completed_on: date | None


@dataclass(frozen=True)
class PhaseBox:
    """The case page's box: the open phase (title, since), every period, the form's link
    (providers, when the state allows a report now); the notice after a report is one of
    the case page's ``portal_notices`` (`api.dashboard.portal`)."""

    current_title: str | None
    current_since: date | None
    periods: list[PeriodRow]
    form_url: str | None


def choices(phases: list[PhaseDef], periods: list[PhasePeriod]) -> list[Choice]:
    """What may be reported now: complete the open phase, or (none open) begin a phase not
    begun yet, in the order of the standards."""
    titles = {p.code: p.title for p in phases}
    running = current(periods)
    if running is not None:
        title = titles.get(running.phase, running.phase)
        return [Choice(f"{running.phase}:completed", f"{title} {STEP_TITLES['completed']}")]
    begun = {p.phase for p in periods}
    return [
        Choice(f"{p.code}:begun", f"{p.title} {STEP_TITLES['begun']}")
        for p in phases
        if p.code not in begun
    ]


def _periods(session: Session, referral: Referral) -> list[PhasePeriod]:
    assert referral.id is not None
    return [
        PhasePeriod(r.phase, r.begun_on, r.completed_on) for r in periods_of(session, referral.id)
    ]


def _phase_event(service: ServiceConfig) -> str | None:
    events = sorted(service.process.phase_events)
    return events[0] if events and service.standard.phases else None


def case_context(
    session: Session, referral: Referral, user: User, registry: Registry, request: Request
) -> dict[str, Any]:
    """``phase_box`` for the case page of a Leistungsart with phases; {} otherwise."""
    service = service_for(session, registry, referral)
    event = _phase_event(service)
    if event is None:
        return {}
    titles = {p.code: p.title for p in service.standard.phases}
    periods = _periods(session, referral)
    running = current(periods)
    may = (
        user.role == Role.provider
        and event in allowed_events(service, referral.state)
        and bool(choices(service.standard.phases, periods))
    )
    return {
        "phase_box": PhaseBox(
            titles.get(running.phase, running.phase) if running else None,
            running.begun_on if running else None,
            [PeriodRow(titles.get(p.phase, p.phase), p.begun_on, p.completed_on) for p in periods],
            phase_form_path(referral.reference) if may else None,
        )
    }


@dataclass(frozen=True)
class _Open:
    referral: Referral
    service: ServiceConfig
    event: str


def _open(
    request: Request, session: Session, user: User, registry: Registry, reference: str
) -> _Open | HTMLResponse:
    try:
        referral = referral_for(session, user, reference)
    except NotFound:
        return error_page(request, user, 404)
    service = service_for(session, registry, referral)
    event = _phase_event(service)
    if event is None:
        return error_page(request, user, 404)
    if user.role != Role.provider:
        return error_page(request, user, 403)
    try:
        check_may_report(user, service, event)
    except Problem:
        return error_page(request, user, 403)
    return _Open(referral, service, event)


def _render(
    request: Request,
    user: User,
    session: Session,
    found: _Open,
    today: date,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    refused = None
    if found.event not in allowed_events(found.service, found.referral.state):
        state = found.service.process.states[found.referral.state].title
        refused = f"Im Zustand „{state}“ ist keine Meldung eines Leistungsabschnitts möglich."
        status = 409
    reference = found.referral.reference
    response = page(
        request,
        "portal_phase.html.j2",
        user,
        nav="portal",
        reference=reference,
        case_url=case_path(reference),
        action=phase_form_path(reference),
        service_title=found.service.title,
        choices=choices(found.service.standard.phases, _periods(session, found.referral)),
        started_on=found.referral.started_on,
        today=today,
        values={"am": today.isoformat(), **values},
        errors=errors,
        refused=refused or errors.get("*"),
    )
    response.status_code = status
    return response


@router.get("/faelle/{reference}/leistungsabschnitt", response_class=HTMLResponse)
def phase_form(
    request: Request,
    reference: str,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
) -> HTMLResponse:
    """Leistungsabschnitt melden (begonnen/abgeschlossen)."""
    found = _open(request, session, user, registry, reference)
    if isinstance(found, HTMLResponse):
        return found
    return _render(request, user, session, found, local_date(now), {}, {})


async def _posted(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def parse(values: dict[str, str], started_on: date, today: date) -> tuple[Any, dict[str, str]]:
    """(`ReferralEvent` fields and date, or None; errors by input id) of a posted form."""
    errors: dict[str, str] = {}
    if not _FORM_KEY.fullmatch(values.get("form_key", "")):
        errors["*"] = "Das Formular ist unvollständig. Bitte laden Sie die Seite neu."
    code, _, step = values.get("schritt", "").partition(":")
    if step not in STEP_TITLES or not code:
        errors["schritt"] = "Bitte wählen Sie, was Sie melden."
    text = values.get("am", "").strip()
    day = None
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
    if day is None:
        errors["am"] = "Bitte ein gültiges Datum angeben."
    elif not started_on <= day <= today:
        errors["am"] = (
            f"Der Tag muss zwischen dem {started_on:%d.%m.%Y} und dem {today:%d.%m.%Y} liegen."
        )
    return ((code, step, day) if not errors else None), errors


@router.post("/faelle/{reference}/leistungsabschnitt", response_model=None, dependencies=[CsrfDep])
def send_phase(
    request: Request,
    reference: str,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    trigger: TriggerDep,
    now: NowDep,
    values: Annotated[dict[str, str], Depends(_posted)],
) -> Response:
    """Sendet die Meldung über den einen Weg; 303 zur Fallseite oder das Formular mit dem
    Grund der Ablehnung (422; 409, wenn der Zustand es nicht zulässt)."""
    found = _open(request, session, user, registry, reference)
    if isinstance(found, HTMLResponse):
        return found
    today = local_date(now)
    parsed, errors = parse(values, found.referral.started_on, today)
    if parsed is None:
        return _render(request, user, session, found, today, values, errors, 422)
    code, step, day = parsed
    try:
        payload = ReferralEvent.model_validate(
            {"event": found.event, "phase": code, "phase_step": step}
        )
    except ValueError:
        return _render(
            request, user, session, found, today, values, {"schritt": "Unbekannte Auswahl."}, 422
        )
    result = submit_form(
        request,
        session,
        user,
        Submission("event", found.referral.reference, day, payload),
        form_key=values["form_key"],
        success=DONE,
        registry=registry,
        settings=settings,
        trigger=trigger,
        now=now,
    )
    if result.ok:
        target = f"{case_path(reference)}?hinweis={NOTICE}#leistungsabschnitt"
        return RedirectResponse(target, status_code=303)
    return _render(
        request, user, session, found, today, values, {"*": result.message}, result.status
    )
