"""Integrationsfachkraft: Zuweisung anlegen, Schweigepflichtentbindung, Abschluss, Gutschein-PDF.

Pages and forms (every change of a case on the one path, `api.dashboard.actions.submit_form`,
or for a consent `api.consents.consent_writer`, the function the REST API uses):

* ``GET/POST /dashboard/zuweisung/neu``: a new referral (Bedarfsfeststellung, Gutschein,
  seed 002 §4.3) by a caseworker of the site or an admin (`api.access.check_may_start`); in
  two steps: Leistungsart (and, for an admin, Standort), then the form with the provider
  table (`tasks.read_model.provider_choice`). Refused values come back with the form, their
  German message and 403/409/422; success answers 303 to the case page.
* ``POST /dashboard/faelle/{ref}/schweigepflichtentbindung`` (caseworker in scope, admin, as
  the API) and ``…/schweigepflichtentbindung/widerruf`` (event ``consent_withdrawn``).
* ``POST /dashboard/faelle/{ref}/beenden``: ``closed_by_caseworker`` or
  ``customer_withdrew``, as far as the process allows them now for the role (``by``).
* ``GET /dashboard/faelle/{ref}/gutschein.pdf``: the Gutschein for the customer
  (`api.dashboard.voucher_pdf`), audited as ``voucher_printed`` with the voucher number.

A case outside the user's view answers the 404 page; a provider gets 404 for the PDF too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from api.access import check_may_report, check_may_start, referral_for
from api.consents import consent_writer
from api.dashboard.actions import FormResult, submit_form
from api.dashboard.cases import error_page, render_case
from api.dashboard.caseworker_forms import (
    AGE_GROUPS,
    CONSENT_FORMS,
    CONSENT_SCOPES,
    MESSAGES,
    Parsed,
    parse_consent,
    parse_referral,
)
from api.dashboard.csrf import CsrfDep
from api.dashboard.voucher_pdf import issued_voucher, render_voucher, voucher_sheet
from api.dashboard.web import DashboardUser, page
from api.deps import NowDep, RegistryDep, SessionDep, SettingsDep, TriggerDep
from api.errors import Problem
from api.idempotency import IdempotencyKey, idempotent
from api.service import Submission
from api.trigger import FlowTrigger
from models.clock import local_date
from models.commands import ReferralEvent
from models.process import ProcessDef, Registry, ServiceConfig
from models.settings import Settings
from models.statemachine import allowed_events
from models.tables import Consent, Provider, Referral, Role, Site, User
from tasks.commands import REFERENCE_TAKEN
from tasks.process_versions import service_for
from tasks.read_model.provider_choice import offered_providers, provider_choices
from tasks.repository import Actor, NotFound, audit

router = APIRouter()

STARTERS = (Role.caseworker, Role.admin)
"""Who starts referrals and records consents (as `api.access.check_may_start` and the
API's ``POST /referrals/{ref}/consent``)."""
VOUCHER_READERS = (Role.caseworker, Role.coordinator, Role.admin)
HINWEISE = {
    "zuweisung-angelegt": "Die Zuweisung ist angelegt und der Gutschein ausgegeben. Bitte "
    "drucken Sie den Gutschein für die Kundin oder den Kunden.",
    "zuweisung-gestuft": "Die Zuweisung ist angelegt. Sie wartet auf die vorrangige Leistung "
    "(gestuft); der Gutschein wird ausgegeben, sobald diese läuft.",
    "einwilligung-erfasst": "Die Schweigepflichtentbindung ist erfasst.",
    "einwilligung-widerrufen": "Der Widerruf der Schweigepflichtentbindung ist erfasst.",
    "abgeschlossen": "Der Fall ist abgeschlossen.",
}
"""German text per ``?hinweis=`` code on the case page (no free text in URLs)."""
CHECK = "Bitte prüfen Sie die markierten Angaben."


class _FormData(BaseModel):
    """Every form posts a `form_key` (a form sent twice takes effect once)."""

    form_key: str = Field(min_length=8, max_length=128)


class ReferralForm(_FormData):
    """The posted Zuweisung form (all text; `caseworker_forms.parse_referral` reads it)."""

    leistungsart: str = Field(default="", max_length=60)
    standort: str = Field(default="", max_length=60)
    aktenzeichen: str = Field(default="", max_length=200)
    kundennummer: str = Field(default="", max_length=200)
    altersgruppe: str = Field(default="", max_length=20)
    traeger: str = Field(default="", max_length=60)
    ifk_email: str = Field(default="", max_length=320)
    kontakt_email: str = Field(default="", max_length=320)
    erinnerungen: str = Field(default="", max_length=10)
    einwilligung_form: str = Field(default="", max_length=20)
    einwilligung_umfang: str = Field(default="", max_length=20)
    einwilligung_am: str = Field(default="", max_length=20)
    einwilligung_bis: str = Field(default="", max_length=20)


class ConsentForm(_FormData):
    """The posted consent form of the case page."""

    einwilligung_form: str = Field(default="", max_length=20)
    einwilligung_umfang: str = Field(default="", max_length=20)
    einwilligung_am: str = Field(default="", max_length=20)
    einwilligung_bis: str = Field(default="", max_length=20)
    einwilligung_traeger: str = Field(default="", max_length=60)


class CloseForm(_FormData):
    """The posted "Fall beenden" form: the event and the confirmation."""

    ereignis: str = Field(default="", max_length=60)
    bestaetigt: str = Field(default="", max_length=10)


# --- the case page --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentRow:
    provider: str
    form: str
    scope: str
    granted_on: date
    expires_on: date | None
    withdrawn_on: date | None
    status: str  # "gültig", "widerrufen", "abgelaufen", "noch nicht gültig"


@dataclass(frozen=True)
class CaseActions:
    """What the caseworker part of the case page shows and offers to `user`."""

    voucher_number: str | None  # a Gutschein to print (issued to the current provider)
    consents: list[ConsentRow]
    may_consent: bool
    consent_providers: list[tuple[str, str]]  # (code, name) a consent may name
    current_provider: str | None
    may_withdraw: bool
    closing: list[tuple[str, str]]  # (event, German title) allowed now for the role
    messages: dict[str, str]
    forms: dict[str, str]
    scopes: dict[str, str]


def case_context(
    session: Session, referral: Referral, user: User, registry: Registry, now: datetime
) -> dict[str, Any]:
    """Template context of the case page (case.html.j2, case_caseworker_actions.html.j2)
    for caseworkers in scope, coordinators and admins: the responsible caseworker's mailbox
    and the actions (``cw``). Providers get nothing here (they never see e-mail addresses)."""
    if user.role not in VOUCHER_READERS:
        return {}
    context: dict[str, Any] = {"caseworker_email": referral.caseworker_email}
    service = service_for(session, registry, referral)  # the case's process version
    today = local_date(now)
    final = service.process.states[referral.state].final
    consents = _consents(session, referral, today)
    events = _events_for(service, referral.state, user)
    provider = session.get(Provider, referral.provider_id) if referral.provider_id else None
    voucher = issued_voucher(session, referral)
    context["cw"] = CaseActions(
        voucher_number=voucher.number if voucher else None,
        consents=consents,
        may_consent=user.role in STARTERS and not final,
        consent_providers=[
            (p.code, p.name)
            for p in offered_providers(session, service.service_type, referral.site)
        ],
        current_provider=provider.code if provider else None,
        may_withdraw=withdrawal_event(service.process) in dict(events)
        and any(c.withdrawn_on is None for c in consents),
        closing=[(e, t) for e, t in events if e in closing_events(service.process)],
        messages=HINWEISE,
        forms=CONSENT_FORMS,
        scopes=CONSENT_SCOPES,
    )
    return context


def closing_events(process: ProcessDef) -> dict[str, str]:
    """Events a caseworker reports to end a case (``by: [caseworker]``, ``to`` a final state
    in the process YAML) -> German title, in the order of the transitions."""
    return {
        t.event: t.title
        for t in process.transitions
        if "caseworker" in t.by and t.to is not None and process.states[t.to].final
    }


def withdrawal_event(process: ProcessDef) -> str | None:
    """The event that withdraws the Schweigepflichtentbindung (``records:
    consent_withdrawal`` in the process YAML), None when the process has none."""
    return next((t.event for t in process.transitions if t.records == "consent_withdrawal"), None)


def _events_for(service: ServiceConfig, state: str, user: User) -> list[tuple[str, str]]:
    """(event, title) the process allows in `state` and `user`'s role may report."""
    allowed = set(allowed_events(service, state))
    return [
        (t.event, t.title)
        for t in service.process.transitions
        if t.event in allowed and t.by and (user.role == Role.admin or user.role in t.by)
    ]


def _consents(session: Session, referral: Referral, today: date) -> list[ConsentRow]:
    rows = session.exec(
        select(Consent, Provider)
        .join(Provider, col(Provider.id) == Consent.provider_id, isouter=True)
        .where(Consent.referral_id == referral.id)
        .order_by(col(Consent.id))
    ).all()
    return [
        ConsentRow(
            provider=provider.name if provider else "aktueller Träger (ältere Erfassung)",
            form=CONSENT_FORMS.get(consent.form, consent.form),
            scope=CONSENT_SCOPES.get(consent.scope, consent.scope),
            granted_on=consent.granted_on,
            expires_on=consent.expires_on,
            withdrawn_on=consent.withdrawn_on,
            status=_consent_status(consent, today),
        )
        for consent, provider in rows
    ]


def _consent_status(consent: Consent, today: date) -> str:
    if consent.withdrawn_on is not None:
        return "widerrufen"
    if consent.expires_on is not None and consent.expires_on < today:
        return "abgelaufen"
    return "noch nicht gültig" if consent.granted_on > today else "gültig"


def _to_case(reference: str, hinweis: str, anchor: str = "ifk-aktionen") -> RedirectResponse:
    url = f"/dashboard/faelle/{quote(reference, safe='')}?hinweis={hinweis}#{anchor}"
    return RedirectResponse(url, status_code=303)


def _form_key(request: Request, form_key: str, values: dict[str, Any]) -> IdempotencyKey:
    body = json.dumps(values, sort_keys=True, default=str)
    digest = hashlib.sha256(body.encode()).hexdigest()
    return IdempotencyKey(form_key, f"POST {request.url.path} {digest}")


@router.post(
    "/faelle/{reference}/schweigepflichtentbindung",
    include_in_schema=False,
    dependencies=[CsrfDep],
)
def record_consent(
    request: Request,
    reference: str,
    form: Annotated[ConsentForm, Form()],
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """Schweigepflichtentbindung erfassen (seed 003; § 67b SGB X): same checks, row and
    audit as the API (`api.consents.consent_writer`); zurück zum Fall (303)."""
    try:
        referral = referral_for(session, user, reference)
    except NotFound:
        return error_page(request, user, 404)
    if user.role not in STARTERS:
        return error_page(request, user, 403)
    values = form.model_dump(exclude={"form_key"})
    grant, parsed = parse_consent(values, today=local_date(now), settings=settings)
    try:
        if grant is None:
            raise Problem(422, CHECK)
        write = consent_writer(session, referral, grant, user=user, now=now, settings=settings)
        idempotent(session, user, _form_key(request, form.form_key, values), now, write, 201)
    except Problem as refused:
        state = {"cw_form": "consent", "cw_values": values, "cw_errors": parsed.errors}
        return render_case(
            request, user, session, registry, settings, now, referral,
            status=refused.status, cw_error=refused.detail, **state,
        )  # fmt: skip
    return _to_case(referral.reference, "einwilligung-erfasst", "schweigepflicht")


@router.post(
    "/faelle/{reference}/schweigepflichtentbindung/widerruf",
    include_in_schema=False,
    dependencies=[CsrfDep],
)
def withdraw_consent(
    request: Request,
    reference: str,
    form: Annotated[_FormData, Form()],
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    trigger: TriggerDep,
    now: NowDep,
) -> Response:
    """Widerruf der Schweigepflichtentbindung: das Ereignis ``consent_withdrawn``."""
    action = _Action(request, user, session, registry, settings, trigger, now)
    return action.report(reference, withdrawal_event, form.form_key, "einwilligung-widerrufen")


@router.post("/faelle/{reference}/beenden", include_in_schema=False, dependencies=[CsrfDep])
def close_case(
    request: Request,
    reference: str,
    form: Annotated[CloseForm, Form()],
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    trigger: TriggerDep,
    now: NowDep,
) -> Response:
    """Fall beenden: Abschluss durch die Integrationsfachkraft oder Rückzug der Kundin /
    des Kunden, wenn bestätigt."""
    action = _Action(request, user, session, registry, settings, trigger, now)
    if form.ereignis not in action.closing(reference):
        return action.refuse(reference, 422, "Bitte wählen, wie der Fall endet.", "close")
    if form.bestaetigt != "ja":
        message = "Bitte bestätigen Sie, dass der Fall beendet werden soll."
        return action.refuse(reference, 422, message, "close", ereignis=form.ereignis)
    return action.report(reference, lambda _: form.ereignis, form.form_key, "abgeschlossen")


@dataclass(frozen=True)
class _Action:
    """One event form of the case page: scope, role and process checks, then the one path."""

    request: Request
    user: User
    session: Session
    registry: Registry
    settings: Settings
    trigger: FlowTrigger
    now: datetime

    def closing(self, reference: str) -> dict[str, str]:
        """The closing events of the case's process version ({} for a case not in view)."""
        try:
            referral = referral_for(self.session, self.user, reference)
        except NotFound:
            return {}
        return closing_events(service_for(self.session, self.registry, referral).process)

    def report(
        self, reference: str, pick: Callable[[ProcessDef], str | None], form_key: str, hinweis: str
    ) -> Response:
        """Report the event `pick` names in the case's process version, on the one path."""
        try:
            referral = referral_for(self.session, self.user, reference)
            service = service_for(self.session, self.registry, referral)
            event = pick(service.process)
            if event is None:  # the process has no such event
                raise Problem(403, "Dieses Ereignis kennt der Prozess des Falls nicht.")
            check_may_report(self.user, service, event)
        except NotFound:
            return error_page(self.request, self.user, 404)
        except Problem:
            return error_page(self.request, self.user, 403)
        submission = Submission(
            "event", referral.reference, local_date(self.now), ReferralEvent(event=event)
        )
        result: FormResult = submit_form(
            self.request, self.session, self.user, submission,
            form_key=form_key, success=HINWEISE[hinweis], registry=self.registry,
            settings=self.settings, trigger=self.trigger, now=self.now,
        )  # fmt: skip
        if not result.ok:
            return self.refuse(reference, result.status, result.message, event)
        return _to_case(referral.reference, hinweis)

    def refuse(
        self, reference: str, status: int, message: str, form: str, **values: str
    ) -> Response:
        """The case page again with `message` at the form `form` (status 409/422)."""
        self.session.rollback()
        try:
            referral = referral_for(self.session, self.user, reference)
        except NotFound:
            return error_page(self.request, self.user, 404)
        return render_case(
            self.request, self.user, self.session, self.registry, self.settings, self.now,
            referral, status=status, cw_error=message, cw_form=form, cw_values=values,
        )  # fmt: skip


# --- the Gutschein --------------------------------------------------------------------------


@router.get("/faelle/{reference}/gutschein.pdf", include_in_schema=False)
def voucher_pdf(
    request: Request,
    reference: str,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """Der Gutschein zum Mitnehmen (PDF); für Träger und außerhalb des Sichtbereichs 404."""
    if user.role not in VOUCHER_READERS:
        return error_page(request, user, 404)
    try:
        referral = referral_for(session, user, reference)
    except NotFound:
        return error_page(request, user, 404)
    sheet = voucher_sheet(session, registry, referral, settings, local_date(now))
    if sheet is None:
        return error_page(request, user, 404)
    actor = Actor(user.username, user.role)
    audit(session, now, actor, "voucher_printed", referral.id, voucher=sheet.number)
    session.commit()
    filename = "Gutschein-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in sheet.number)
    return Response(
        render_voucher(sheet),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}.pdf"',
            "Cache-Control": "no-store",
        },
    )


# --- Neue Zuweisung -------------------------------------------------------------------------

NEW = "/zuweisung/neu"


@dataclass(frozen=True)
class Step:
    """Where the form stands: the chosen Leistungsart and Standort (None: not yet)."""

    service_type: str | None
    site: str | None


def _sites(session: Session, user: User) -> list[tuple[str, str]]:
    """(code, name) of the sites `user` may start for: a caseworker's own, else the
    active sites (`Site`), else the sites the providers name."""
    if user.role == Role.caseworker:
        site = session.exec(select(Site).where(Site.code == (user.site or ""))).first()
        return [(user.site, site.name if site else user.site)] if user.site else []
    sites = session.exec(select(Site).where(col(Site.active)).order_by(col(Site.name))).all()
    if sites:
        return [(s.code, s.name) for s in sites]
    named = {code for p in session.exec(select(Provider)) for code in p.sites}
    return [(code, code) for code in sorted(named)]


def _step(session: Session, registry: Registry, user: User, service_type: str, site: str) -> Step:
    sites = dict(_sites(session, user))
    if user.role == Role.caseworker:
        site = user.site or ""
    return Step(
        service_type if service_type in registry.services else None,
        site if site in sites else None,
    )


@router.get(NEW, response_class=HTMLResponse, include_in_schema=False)
def new_referral_page(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
    leistungsart: str = "",
    standort: str = "",
) -> HTMLResponse:
    """Neue Zuweisung: Schritt 1 Leistungsart (und Standort), Schritt 2 das Formular."""
    if user.role not in STARTERS:
        return error_page(request, user, 403)
    step = _step(session, registry, user, leistungsart, standort)
    defaults = {"ifk_email": user.email or "", "einwilligung_umfang": "content"}
    return _form_page(request, user, session, registry, now, step, defaults, Parsed())


@router.post(NEW, response_class=HTMLResponse, include_in_schema=False, dependencies=[CsrfDep])
def create_referral(
    request: Request,
    form: Annotated[ReferralForm, Form()],
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    trigger: TriggerDep,
    now: NowDep,
) -> Response:
    """Legt die Zuweisung an (derselbe Weg wie die API) und führt zum Fall (303)."""
    if user.role not in STARTERS:
        return error_page(request, user, 403)
    values = form.model_dump(exclude={"form_key"})
    step = Step(
        form.leistungsart if form.leistungsart in registry.services else None, form.standort
    )
    again = _Again(request, user, session, registry, now, step, values)
    if step.service_type is None:
        return again.page(Parsed(), "Bitte zuerst die Leistungsart wählen.", 422)
    try:
        check_may_start(user, form.standort)
    except Problem as refused:
        return again.page(Parsed(), refused.detail, refused.status)
    today = local_date(now)
    payload, reference, parsed = parse_referral(
        values, service_type=step.service_type, site=form.standort, today=today, settings=settings
    )
    offered = {p.code for p in offered_providers(session, step.service_type, form.standort)}
    if payload is not None and payload.provider_code not in offered:
        parsed.refuse("traeger")
    service = registry.service(step.service_type)
    if payload is not None and payload.consent is None and service.standard.consent == "required":
        parsed.refuse("einwilligung_form", f"{service.title}: {CONSENT_REQUIRED}")
    if payload is None or parsed.errors:
        return again.page(parsed, CHECK, 422)
    reference = reference or _generated_reference(user, form.form_key, today)
    result = submit_form(
        request, session, user, Submission("start_referral", reference, today, payload),
        form_key=form.form_key, success=HINWEISE["zuweisung-angelegt"], registry=registry,
        settings=settings, trigger=trigger, now=now,
    )  # fmt: skip
    if not result.ok:
        return again.page(_refused_field(result), result.message, result.status)
    return _to_case(reference, _started_hinweis(session, registry, reference))


CONSENT_REQUIRED = (
    "Eine Schweigepflichtentbindung (schriftlich oder elektronisch) muss vorliegen "
    "(seed 003; §\u00a067b SGB\u00a0X)."
)


def _refused_field(result: FormResult) -> Parsed:
    """The field a refusal of the one path is about, as far as its message tells."""
    if result.message == REFERENCE_TAKEN:
        return Parsed({"aktenzeichen": result.message})
    if "Kundennummer" in result.message:
        return Parsed({"kundennummer": result.message})
    if "Schweigepflichtentbindung" in result.message:
        return Parsed({"einwilligung_form": result.message})
    return Parsed()


def _generated_reference(user: User, form_key: str, today: date) -> str:
    """``Z-<year>-<8 hex>`` from the form key: the same for a form sent twice."""
    digest = hashlib.sha256(f"{user.username}|{form_key}".encode()).hexdigest()
    return f"Z-{today:%Y}-{digest[:8].upper()}"


def _started_hinweis(session: Session, registry: Registry, reference: str) -> str:
    """The notice after a start: waiting (the process's ``staged`` state) or issued."""
    referral = session.exec(select(Referral).where(Referral.reference == reference)).first()
    waits = referral is not None and (
        referral.state == service_for(session, registry, referral).process.staged
    )
    return "zuweisung-gestuft" if waits else "zuweisung-angelegt"


@dataclass(frozen=True)
class _Again:
    """The Zuweisung form shown again with the posted values."""

    request: Request
    user: User
    session: Session
    registry: Registry
    now: datetime
    step: Step
    values: dict[str, Any]

    def page(self, parsed: Parsed, message: str, status: int) -> HTMLResponse:
        self.session.rollback()
        response = _form_page(
            self.request, self.user, self.session, self.registry, self.now, self.step,
            self.values, parsed, message=message,
        )  # fmt: skip
        response.status_code = status
        return response


def _form_page(
    request: Request,
    user: User,
    session: Session,
    registry: Registry,
    now: datetime,
    step: Step,
    values: dict[str, Any],
    parsed: Parsed,
    *,
    message: str | None = None,
) -> HTMLResponse:
    today = local_date(now)
    ready = step.service_type is not None and step.site is not None
    service = registry.services.get(step.service_type or "")
    sites = _sites(session, user)
    return page(
        request,
        "zuweisung_neu.html.j2",
        user,
        nav="new_referral",
        step=step,
        services=sorted(((k, s.title) for k, s in registry.services.items()), key=lambda x: x[1]),
        service_title=service.title if service else None,
        consent_required=bool(service and service.standard.consent == "required"),
        sites=sites,
        site_name=dict(sites).get(step.site or "", step.site),
        choices=provider_choices(session, registry, step.service_type or "", step.site or "", today)
        if ready
        else [],
        values=values,
        errors=parsed.errors,
        messages=MESSAGES,
        message=message,
        age_groups=AGE_GROUPS,
        consent_forms=CONSENT_FORMS,
        consent_scopes=CONSENT_SCOPES,
        today=today,
    )
