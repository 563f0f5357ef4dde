"""Träger-Portal: the Gutschein-Eingang and the provider's forms for one case.

* ``GET /dashboard/portal``: incoming Gutscheine as a waiting list and the running cases
  (`api.dashboard.portal_lists`); provider role only, others get the 404 page.
* ``GET|POST /dashboard/faelle/{reference}/meldung/{form}``: one form per event a provider
  reports (`api.dashboard.portal_forms.forms` of the case's process version). Scope and role
  are checked first (a case outside the user's view: 404 page; a user who is not a provider:
  403 page); a form the case's state does not allow now answers 409 with the state's German
  title. A posted form goes through the one path (`api.dashboard.actions.submit_form`:
  idempotent per form key, committed, follow-up flow started) and answers 303 to the case
  page with ``?hinweis=<form>``; a refusal shows the form again with the values and the
  German message next to its input (422, 409 when the state does not allow it).
* ``GET /dashboard/link/{token}``: a signed link from a reminder e-mail
  (`models.form_links`): 303 to its form (which asks for a login when there is no
  session), 410 when it expired, 400 when it is not ours or was changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.access import check_may_report, referral_for
from api.dashboard import portal_phase as phase_notice
from api.dashboard.actions import submit_form
from api.dashboard.cases import error_page
from api.dashboard.csrf import CsrfDep
from api.dashboard.portal_forms import (
    CONTENT_FIELDS,
    STATUS_FIELDS,
    FormContext,
    FormDef,
    defaults,
    forms,
    input_for,
    parse,
)
from api.dashboard.portal_lists import Step, provider_steps, running_cases, waiting_list
from api.dashboard.web import TEMPLATES, DashboardUser, page
from api.deps import NowDep, RegistryDep, SessionDep, SettingsDep, TriggerDep
from api.errors import Problem
from api.security import signing_key
from api.service import Submission
from models.clock import local_date
from models.commands import DECLINE_REASONS, MAX_TEXT_CHARS
from models.form_links import LinkExpired, LinkInvalid, read_form_link
from models.process import Registry, ServiceConfig
from models.settings import Settings
from models.tables import Customer, Referral, Role, User
from models.urls import case_path, form_path
from tasks.process_versions import service_for
from tasks.repository import NotFound
from tasks.visibility import content_released

router = APIRouter()


async def _posted(request: Request) -> dict[str, str]:
    form = await request.form()  # parsed once per request (the CSRF check read it already)
    return {key: value for key, value in form.items() if isinstance(value, str)}


Posted = Annotated[dict[str, str], Depends(_posted)]


@dataclass(frozen=True)
class OpenForm:
    """A form of a case the user may use: the referral, the form, what the form needs."""

    referral: Referral
    form: FormDef
    ctx: FormContext
    registry: Registry


@router.get("/portal", response_class=HTMLResponse, summary="Gutschein-Eingang")
def portal(
    request: Request, user: DashboardUser, session: SessionDep, registry: RegistryDep, now: NowDep
) -> HTMLResponse:
    """Eingehende Gutscheine (älteste zuerst, Tage bis zur Frist) und laufende Fälle des
    Trägers; für andere Rollen die 404-Seite."""
    if user.role != Role.provider:
        return error_page(request, user, 404)
    today = local_date(now)
    return page(
        request,
        "portal.html.j2",
        user,
        nav="portal",
        today=today,
        waiting=waiting_list(session, registry, user, today),
        running=running_cases(session, registry, user, today),
    )


@router.get("/faelle/{reference}/meldung/{slug}", response_class=HTMLResponse)
def form_page(
    request: Request,
    reference: str,
    slug: str,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
) -> HTMLResponse:
    """Ein Formular des Trägers zu einem Fall; 409, wenn der Zustand es gerade nicht zulässt."""
    found = _open(request, session, user, registry, settings, now, reference, slug)
    if isinstance(found, HTMLResponse):
        return found
    refused = _not_now(found)
    values = defaults(found.form, found.ctx)
    return _render(request, user, found, values, {}, 409 if refused else 200, refused)


@router.post("/faelle/{reference}/meldung/{slug}", response_model=None, dependencies=[CsrfDep])
def send_form(
    request: Request,
    reference: str,
    slug: str,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    trigger: TriggerDep,
    now: NowDep,
    values: Posted,
) -> Response:
    """Sendet das Formular über den einen Weg; 303 zur Fallseite oder das Formular mit
    Fehlern (422) bzw. dem Hinweis, dass der Zustand es nicht zulässt (409)."""
    found = _open(request, session, user, registry, settings, now, reference, slug)
    if isinstance(found, HTMLResponse):
        return found
    parsed = parse(found.form, values, found.ctx)
    if parsed.payload is None or parsed.occurred_on is None:
        refused = _not_now(found)
        status = 409 if refused else 422
        return _render(request, user, found, values, parsed.errors, status, refused)
    submission = Submission("event", found.referral.reference, parsed.occurred_on, parsed.payload)
    result = submit_form(
        request,
        session,
        user,
        submission,
        form_key=values["form_key"],
        success=found.form.done,
        registry=registry,
        settings=settings,
        trigger=trigger,
        now=now,
    )
    if result.ok:
        target = f"{case_path(reference)}?hinweis={found.form.slug}#meldungen"
        return RedirectResponse(target, status_code=303)
    if result.status == 409:
        return _render(request, user, found, values, {}, 409, result.message)
    errors = {input_for(result.field, parsed.booked): _for_people(result.message)}
    return _render(request, user, found, values, errors, result.status)


@router.get("/link/{token}", response_model=None)
def open_link(
    request: Request, token: str, settings: SettingsDep, registry: RegistryDep, now: NowDep
) -> Response:
    """Ein signierter Link aus einer Erinnerung: weiter zum Formular (303; ohne Sitzung über
    die Anmeldung), abgelaufen 410, ungültig 400."""
    try:
        link = read_form_link(signing_key(settings), token, now, settings.form_link_days)
    except LinkExpired:
        return _link_refused(request, 410)
    except LinkInvalid:
        return _link_refused(request, 400)
    if not any(link.form in forms(s) for s in registry.services.values()):
        return _link_refused(request, 400)
    return RedirectResponse(form_path(link.reference, link.form), status_code=303)


def case_context(
    session: Session, referral: Referral, user: User, registry: Registry, now: Any
) -> dict[str, Any]:
    """For the case page of a provider: links to the forms the state allows now
    (``portal_actions``) and the texts of the ``?hinweis=<form>`` codes shown after a form
    was saved (``portal_notices``), both of the case's process version."""
    if user.role != Role.provider:
        return {}
    service = service_for(session, registry, referral)
    steps = [
        Step(form.title, form_path(referral.reference, form.slug))
        for form in provider_steps(service, referral, registry)
    ]
    notices = {form.slug: form.done for form in forms(service, registry).values()}
    notices[phase_notice.NOTICE] = phase_notice.DONE  # one status region on the page
    return {"portal_actions": steps, "portal_notices": notices}


def _open(
    request: Request,
    session: Session,
    user: User,
    registry: Registry,
    settings: Settings,
    now: datetime,
    reference: str,
    slug: str,
) -> OpenForm | HTMLResponse:
    """The case and form if `user` may use them; else the 404 page (not in the user's view,
    no such form) or the 403 page (not a provider, or the process does not let them)."""
    try:
        referral = referral_for(session, user, reference)
    except NotFound:
        return error_page(request, user, 404)
    service = service_for(session, registry, referral)
    form = forms(service, registry).get(slug)
    if form is None:
        return error_page(request, user, 404)
    if user.role != Role.provider:  # the forms report as the provider: not for others
        return error_page(request, user, 403)
    try:
        check_may_report(user, service, form.event)
    except Problem:
        return error_page(request, user, 403)
    ctx = _form_context(session, referral, user, service, settings, now)
    return OpenForm(referral, form, ctx, registry)


def _form_context(
    session: Session,
    referral: Referral,
    user: User,
    service: ServiceConfig,
    settings: Settings,
    now: datetime,
) -> FormContext:
    today = local_date(now)
    customer = session.get(Customer, referral.customer_id)
    return FormContext(
        today=today,
        started_on=referral.started_on,
        appointment_on=referral.appointment_on,
        service=service,
        age_group=customer.age_group if customer else "25-49",
        content_allowed=content_released(session, referral, user.provider_id, today),
        max_appointment_days=settings.max_appointment_days,
    )


_SOURCE = re.compile(r"\s*\(Katalog [^()]*(?:\([^()]*\)[^()]*)*\)")


def _for_people(message: str) -> str:
    """A refusal of the catalog check without its source reference ("(Katalog seed 002
    §4.6.4 …)", meant for REST clients) and without field names of the API."""
    return _SOURCE.sub("", message).replace("als hours melden", "als E-Stunden melden")


def _not_now(found: OpenForm) -> str | None:
    """None if the case's state allows the form now, else why not (German, no codes; the
    state's title of the case's process version)."""
    service = found.ctx.service
    if found.form in provider_steps(service, found.referral, found.registry):
        return None
    state = service.process.states[found.referral.state].title
    return (
        f"„{found.form.title}“ ist im Zustand „{state}“ nicht möglich. Die Meldungen, die "
        "jetzt möglich sind, finden Sie auf der Seite des Falls."
    )


def _render(
    request: Request,
    user: User,
    found: OpenForm,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    refused: str | None = None,
) -> HTMLResponse:
    reference = found.referral.reference
    response = page(
        request,
        "portal_form.html.j2",
        user,
        nav="portal",
        form=found.form,
        ctx=found.ctx,
        reference=reference,
        case_url=case_path(reference),
        action=form_path(reference, found.form.slug),
        values=values,
        errors=errors,
        refused=refused,
        decline_reasons=DECLINE_REASONS,
        status_fields=STATUS_FIELDS,
        content_fields=CONTENT_FIELDS,
        max_text=MAX_TEXT_CHARS,
    )
    response.status_code = status
    return response


def _link_refused(request: Request, status: int) -> HTMLResponse:
    """The German page for an expired (410) or invalid (400) link; no login needed."""
    return TEMPLATES.TemplateResponse(
        request,
        "portal_link.html.j2",
        {"user": None, "expired": status == 410},
        status_code=status,
    )
