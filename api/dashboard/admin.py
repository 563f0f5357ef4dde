"""Verwaltung: Träger, Standorte und Benutzer (issue 8 point 5), for admins only.

Thin pages over `tasks.administration` (the same checks, writes and audit entries as the
``kel provider|site|user`` commands). Every form carries the CSRF token and a form key: a
form sent twice takes effect once (`api.idempotency`, in the write's transaction). A good
form answers 303 with ``?hinweis=<code>`` (German text looked up in `MESSAGES`); a refused
one shows the form again with each German message next to its field, status 422 (409 for
a change refused as a whole, e.g. deactivating the last admin). Other roles get the 403
page. Accounts: `api.dashboard.admin_users`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, select

from api.dashboard import admin_users
from api.dashboard.admin_common import (
    MESSAGES,
    FormKey,
    back,
    context,
    is_admin,
    once,
    refused,
    service_titles,
)
from api.dashboard.cases import error_page
from api.dashboard.csrf import CsrfDep
from api.dashboard.web import DashboardUser, page
from api.deps import NowDep, RegistryDep, SessionDep, SettingsDep
from models.process import Registry
from models.tables import Provider, Site, User
from tasks import administration as admin

router = APIRouter(prefix="/verwaltung")

#: The sixteen Länder (`models.calendar.LANDS`) by name, for the Standort form.
LAND_NAMES = {
    "BW": "Baden-Württemberg",
    "BY": "Bayern",
    "BE": "Berlin",
    "BB": "Brandenburg",
    "HB": "Bremen",
    "HH": "Hamburg",
    "HE": "Hessen",
    "MV": "Mecklenburg-Vorpommern",
    "NI": "Niedersachsen",
    "NW": "Nordrhein-Westfalen",
    "RP": "Rheinland-Pfalz",
    "SL": "Saarland",
    "SN": "Sachsen",
    "ST": "Sachsen-Anhalt",
    "SH": "Schleswig-Holstein",
    "TH": "Thüringen",
}
# --- Übersicht --------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def overview(request: Request, user: DashboardUser, session: SessionDep) -> Response:
    """Links to Träger, Standorte and Benutzer with their counts (active / all)."""
    if not is_admin(user):
        return error_page(request, user, 403)
    counts = {
        name: (
            session.exec(select(func.count()).select_from(model).where(model.active)).one(),
            session.exec(select(func.count()).select_from(model)).one(),
        )
        for name, model in (("traeger", Provider), ("standorte", Site), ("benutzer", User))
    }
    return page(request, "admin.html.j2", user, nav="admin", counts=counts)


# --- Träger -----------------------------------------------------------------------------


def _provider_form(provider: Provider) -> dict[str, Any]:
    return {
        "code": provider.code,
        "name": provider.name,
        "email": provider.email,
        "services": list(provider.service_types),
        "sites": list(provider.sites),
        "capacity": str(provider.monthly_capacity),
        "address": provider.address,
        "phone": provider.phone,
        "hint": provider.appointment_hint,
    }


def _providers_page(
    request: Request,
    user: User,
    session: Session,
    registry: Registry,
    *,
    editing: Provider | None = None,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    hinweis: str | None = None,
) -> HTMLResponse:
    return page(
        request,
        "admin_providers.html.j2",
        user,
        nav="admin",
        providers=admin.providers(session),
        sites=admin.sites(session),
        services=service_titles(registry),
        editing=editing,
        values=values if values is not None else (_provider_form(editing) if editing else {}),
        errors=dict(errors or {}),
        message=MESSAGES.get(hinweis or ""),
    )


def _provider(session: Session, code: str) -> Provider | None:
    return session.exec(select(Provider).where(Provider.code == code)).first()


@router.get("/traeger", response_class=HTMLResponse)
def providers_page(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    hinweis: str | None = None,
) -> Response:
    """All Träger, each with a link to its form and a button to (de)activate it; the form
    for a new Träger."""
    if not is_admin(user):
        return error_page(request, user, 403)
    return _providers_page(request, user, session, registry, hinweis=hinweis)


@router.get("/traeger/{code}", response_class=HTMLResponse)
def provider_page(
    request: Request, code: str, user: DashboardUser, session: SessionDep, registry: RegistryDep
) -> Response:
    """The form of one Träger (404 page for an unknown code)."""
    if not is_admin(user):
        return error_page(request, user, 403)
    found = _provider(session, code)
    if found is None:
        return error_page(request, user, 404)
    return _providers_page(request, user, session, registry, editing=found)


class ProviderForm(BaseModel):
    """The fields of the Träger form (strings, so that mistakes are shown on the page)."""

    form_key: str = Field(min_length=8, max_length=128)
    code: str = Field("", max_length=200)
    name: str = Field("", max_length=2000)
    email: str = Field("", max_length=2000)
    capacity: str = Field("", max_length=2000)
    address: str = Field("", max_length=2000)
    phone: str = Field("", max_length=2000)
    hint: str = Field("", max_length=2000)
    services: list[str] = Field(default_factory=list, max_length=100)
    sites: list[str] = Field(default_factory=list, max_length=500)

    def shown(self, code: str | None = None) -> dict[str, Any]:
        return {**self.model_dump(exclude={"form_key"}), "code": code or self.code}


@router.post("/traeger", response_class=HTMLResponse, dependencies=[CsrfDep])
def create_provider(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
    form: Annotated[ProviderForm, Form()],
) -> Response:
    """Create a Träger from the form below the list."""
    if not is_admin(user):
        return error_page(request, user, 403)
    ctx = context(session, registry, settings, user, now)
    return _save_provider(request, ctx, user, form.form_key, form.shown(), None)


@router.post("/traeger/{code}", response_class=HTMLResponse, dependencies=[CsrfDep])
def edit_provider(
    request: Request,
    code: str,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
    form: Annotated[ProviderForm, Form()],
) -> Response:
    """Save the form of the Träger `code` (its code cannot change)."""
    if not is_admin(user):
        return error_page(request, user, 403)
    editing = _provider(session, code)
    if editing is None:
        return error_page(request, user, 404)
    ctx = context(session, registry, settings, user, now)
    return _save_provider(request, ctx, user, form.form_key, form.shown(code), editing)


def _save_provider(
    request: Request,
    ctx: admin.Context,
    user: User,
    form_key: str,
    shown: dict[str, Any],
    editing: Provider | None,
) -> Response:
    data = admin.ProviderInput(**shown)

    def write() -> str:
        if editing is None:
            admin.add_provider(ctx, data)
            return "traeger-angelegt"
        saved = admin.update_provider(ctx, data)
        return "traeger-gespeichert" if saved.outcome == "updated" else "unveraendert"

    try:
        return back("/traeger", once(request, ctx, user, form_key, shown, write))
    except admin.InvalidInput as bad:
        answer = _providers_page(
            request,
            user,
            ctx.session,
            ctx.registry,
            editing=editing,
            values=shown,
            errors=bad.by_field(),
        )
        return refused(answer)


@router.post("/traeger/{code}/status", response_class=HTMLResponse, dependencies=[CsrfDep])
def provider_status(
    request: Request,
    code: str,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
    form_key: FormKey,
    aktiv: Annotated[bool, Form()],
) -> Response:
    """Activate or deactivate a Träger (an inactive one gets no new referrals)."""
    if not is_admin(user):
        return error_page(request, user, 403)
    ctx = context(session, registry, settings, user, now)

    def write() -> str:
        admin.set_provider_active(ctx, code, aktiv)
        return "traeger-aktiviert" if aktiv else "traeger-deaktiviert"

    try:
        return back("/traeger", once(request, ctx, user, form_key, {"aktiv": aktiv}, write))
    except admin.UnknownRecord:
        return error_page(request, user, 404)


# --- Standorte --------------------------------------------------------------------------


def _site_form(site: Site) -> dict[str, Any]:
    return {
        "code": site.code,
        "name": site.name,
        "land": site.land,
        "jobcenter": site.jobcenter,
        "address": site.address,
    }


def _sites_page(
    request: Request,
    user: User,
    session: Session,
    *,
    editing: Site | None = None,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    hinweis: str | None = None,
) -> HTMLResponse:
    return page(
        request,
        "admin_sites.html.j2",
        user,
        nav="admin",
        sites=admin.sites(session),
        lands=LAND_NAMES,
        editing=editing,
        values=values if values is not None else (_site_form(editing) if editing else {}),
        errors=dict(errors or {}),
        message=MESSAGES.get(hinweis or ""),
    )


def _site(session: Session, code: str) -> Site | None:
    return session.exec(select(Site).where(Site.code == code)).first()


@router.get("/standorte", response_class=HTMLResponse)
def sites_page(
    request: Request, user: DashboardUser, session: SessionDep, hinweis: str | None = None
) -> Response:
    """All Standorte with their Bundesland; the form for a new one."""
    if not is_admin(user):
        return error_page(request, user, 403)
    return _sites_page(request, user, session, hinweis=hinweis)


@router.get("/standorte/{code}", response_class=HTMLResponse)
def site_page(request: Request, code: str, user: DashboardUser, session: SessionDep) -> Response:
    """The form of one Standort (404 page for an unknown code)."""
    if not is_admin(user):
        return error_page(request, user, 403)
    found = _site(session, code)
    if found is None:
        return error_page(request, user, 404)
    return _sites_page(request, user, session, editing=found)


class SiteForm(BaseModel):
    """The fields of the Standort form."""

    form_key: str = Field(min_length=8, max_length=128)
    code: str = Field("", max_length=200)
    name: str = Field("", max_length=2000)
    land: str = Field("", max_length=20)
    jobcenter: str = Field("", max_length=2000)
    address: str = Field("", max_length=2000)

    def shown(self, code: str | None = None) -> dict[str, Any]:
        return {**self.model_dump(exclude={"form_key"}), "code": code or self.code}


@router.post("/standorte", response_class=HTMLResponse, dependencies=[CsrfDep])
def create_site(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
    form: Annotated[SiteForm, Form()],
) -> Response:
    """Create a Standort from the form below the list."""
    if not is_admin(user):
        return error_page(request, user, 403)
    ctx = context(session, registry, settings, user, now)
    return _save_site(request, ctx, user, form.form_key, form.shown(), None)


@router.post("/standorte/{code}", response_class=HTMLResponse, dependencies=[CsrfDep])
def edit_site(
    request: Request,
    code: str,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
    form: Annotated[SiteForm, Form()],
) -> Response:
    """Save the form of the Standort `code`."""
    if not is_admin(user):
        return error_page(request, user, 403)
    editing = _site(session, code)
    if editing is None:
        return error_page(request, user, 404)
    ctx = context(session, registry, settings, user, now)
    return _save_site(request, ctx, user, form.form_key, form.shown(code), editing)


def _save_site(
    request: Request,
    ctx: admin.Context,
    user: User,
    form_key: str,
    shown: dict[str, Any],
    editing: Site | None,
) -> Response:
    data = admin.SiteInput(**shown)

    def write() -> str:
        if editing is None:
            admin.add_site(ctx, data)
            return "standort-angelegt"
        saved = admin.update_site(ctx, data)
        return "standort-gespeichert" if saved.outcome == "updated" else "unveraendert"

    try:
        return back("/standorte", once(request, ctx, user, form_key, shown, write))
    except admin.InvalidInput as bad:
        answer = _sites_page(
            request, user, ctx.session, editing=editing, values=shown, errors=bad.by_field()
        )
        return refused(answer)


@router.post("/standorte/{code}/status", response_class=HTMLResponse, dependencies=[CsrfDep])
def site_status(
    request: Request,
    code: str,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
    form_key: FormKey,
    aktiv: Annotated[bool, Form()],
) -> Response:
    """Activate or deactivate a Standort."""
    if not is_admin(user):
        return error_page(request, user, 403)
    ctx = context(session, registry, settings, user, now)

    def write() -> str:
        admin.set_site_active(ctx, code, aktiv)
        return "standort-aktiviert" if aktiv else "standort-deaktiviert"

    try:
        return back("/standorte", once(request, ctx, user, form_key, {"aktiv": aktiv}, write))
    except admin.UnknownRecord:
        return error_page(request, user, 404)


router.include_router(admin_users.router)
