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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import select

from api.dashboard import admin_users
from api.dashboard.admin_common import (
    MESSAGES,
    AdminDep,
    AdminRequest,
    FormKey,
    back,
    refused,
    service_titles,
)
from api.dashboard.csrf import CsrfDep
from api.dashboard.web import page
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
def overview(a: AdminDep) -> Response:
    """Links to Träger, Standorte and Benutzer with their counts (active / all)."""
    counts = {
        name: (
            a.session.exec(select(func.count()).select_from(model).where(model.active)).one(),
            a.session.exec(select(func.count()).select_from(model)).one(),
        )
        for name, model in (("traeger", Provider), ("standorte", Site), ("benutzer", User))
    }
    return page(a.request, "admin.html.j2", a.user, nav="admin", counts=counts)


# --- Träger and Standorte: the same pages over two kinds of record ------------------------

Record = TypeVar("Record", Provider, Site)


@dataclass(frozen=True)
class RecordPages(Generic[Record]):
    """The list, form, save and (de)activate pages of one kind of master record (Träger,
    Standort), keyed by its code: `path` below ``/dashboard/verwaltung``, the note codes
    start with `note` (``traeger-angelegt``, ``standort-deaktiviert``, `MESSAGES`)."""

    model: type[Record]
    path: str
    note: str
    template: str
    form_values: Callable[[Record], dict[str, Any]]
    context: Callable[[AdminRequest], dict[str, Any]]
    add: Callable[[admin.Context, Any], object]
    update: Callable[[admin.Context, Any], admin.Saved]
    set_active: Callable[[admin.Context, str, bool], admin.Saved]
    parse: Callable[..., Any]

    def find(self, a: AdminRequest, code: str) -> Record | None:
        return a.session.exec(select(self.model).where(self.model.code == code)).first()

    def render(
        self,
        a: AdminRequest,
        *,
        editing: Record | None = None,
        values: Mapping[str, Any] | None = None,
        errors: Mapping[str, str] | None = None,
        hinweis: str | None = None,
    ) -> HTMLResponse:
        shown = values if values is not None else (self.form_values(editing) if editing else {})
        return page(
            a.request,
            self.template,
            a.user,
            nav="admin",
            editing=editing,
            values=shown,
            errors=dict(errors or {}),
            message=MESSAGES.get(hinweis or ""),
            **self.context(a),
        )

    def form(self, a: AdminRequest, code: str) -> Response:
        """The form of the record `code` (404 page for an unknown code)."""
        found = self.find(a, code)
        return a.error(404) if found is None else self.render(a, editing=found)

    def save(
        self, a: AdminRequest, form_key: str, shown: dict[str, Any], code: str | None
    ) -> Response:
        """Create (`code` None) or update the record; a refused form comes back with each
        German message at its field (422)."""
        editing = None if code is None else self.find(a, code)
        if code is not None and editing is None:
            return a.error(404)
        data = self.parse(**shown)

        def write() -> str:
            if editing is None:
                self.add(a.ctx, data)
                return f"{self.note}-angelegt"
            saved = self.update(a.ctx, data)
            return f"{self.note}-gespeichert" if saved.outcome == "updated" else "unveraendert"

        try:
            return back(self.path, a.once(form_key, shown, write))
        except admin.InvalidInput as bad:
            return refused(self.render(a, editing=editing, values=shown, errors=bad.by_field()))

    def status(self, a: AdminRequest, code: str, form_key: str, active: bool) -> Response:
        """Activate or deactivate the record `code` (404 page for an unknown code)."""

        def write() -> str:
            self.set_active(a.ctx, code, active)
            return f"{self.note}-{'aktiviert' if active else 'deaktiviert'}"

        try:
            return back(self.path, a.once(form_key, {"aktiv": active}, write))
        except admin.UnknownRecord:
            return a.error(404)


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


def _site_form(site: Site) -> dict[str, Any]:
    return {
        "code": site.code,
        "name": site.name,
        "land": site.land,
        "jobcenter": site.jobcenter,
        "address": site.address,
    }


PROVIDERS = RecordPages(
    model=Provider,
    path="/traeger",
    note="traeger",
    template="admin_providers.html.j2",
    form_values=_provider_form,
    context=lambda a: {
        "providers": admin.providers(a.session),
        "sites": admin.sites(a.session),
        "services": service_titles(a.ctx.registry),
    },
    add=admin.add_provider,
    update=admin.update_provider,
    set_active=admin.set_provider_active,
    parse=admin.ProviderInput,
)
SITES = RecordPages(
    model=Site,
    path="/standorte",
    note="standort",
    template="admin_sites.html.j2",
    form_values=_site_form,
    context=lambda a: {"sites": admin.sites(a.session), "lands": LAND_NAMES},
    add=admin.add_site,
    update=admin.update_site,
    set_active=admin.set_site_active,
    parse=admin.SiteInput,
)


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


Active = Annotated[bool, Form()]


@router.get("/traeger", response_class=HTMLResponse)
def providers_page(a: AdminDep, hinweis: str | None = None) -> Response:
    """All Träger, each with a link to its form and a button to (de)activate it; the form
    for a new Träger."""
    return PROVIDERS.render(a, hinweis=hinweis)


@router.get("/traeger/{code}", response_class=HTMLResponse)
def provider_page(a: AdminDep, code: str) -> Response:
    """The form of one Träger (404 page for an unknown code)."""
    return PROVIDERS.form(a, code)


@router.post("/traeger", response_class=HTMLResponse, dependencies=[CsrfDep])
def create_provider(a: AdminDep, form: Annotated[ProviderForm, Form()]) -> Response:
    """Create a Träger from the form below the list."""
    return PROVIDERS.save(a, form.form_key, form.shown(), None)


@router.post("/traeger/{code}", response_class=HTMLResponse, dependencies=[CsrfDep])
def edit_provider(a: AdminDep, code: str, form: Annotated[ProviderForm, Form()]) -> Response:
    """Save the form of the Träger `code` (its code cannot change)."""
    return PROVIDERS.save(a, form.form_key, form.shown(code), code)


@router.post("/traeger/{code}/status", response_class=HTMLResponse, dependencies=[CsrfDep])
def provider_status(a: AdminDep, code: str, form_key: FormKey, aktiv: Active) -> Response:
    """Activate or deactivate a Träger (an inactive one gets no new referrals)."""
    return PROVIDERS.status(a, code, form_key, aktiv)


@router.get("/standorte", response_class=HTMLResponse)
def sites_page(a: AdminDep, hinweis: str | None = None) -> Response:
    """All Standorte with their Bundesland; the form for a new one."""
    return SITES.render(a, hinweis=hinweis)


@router.get("/standorte/{code}", response_class=HTMLResponse)
def site_page(a: AdminDep, code: str) -> Response:
    """The form of one Standort (404 page for an unknown code)."""
    return SITES.form(a, code)


@router.post("/standorte", response_class=HTMLResponse, dependencies=[CsrfDep])
def create_site(a: AdminDep, form: Annotated[SiteForm, Form()]) -> Response:
    """Create a Standort from the form below the list."""
    return SITES.save(a, form.form_key, form.shown(), None)


@router.post("/standorte/{code}", response_class=HTMLResponse, dependencies=[CsrfDep])
def edit_site(a: AdminDep, code: str, form: Annotated[SiteForm, Form()]) -> Response:
    """Save the form of the Standort `code`."""
    return SITES.save(a, form.form_key, form.shown(code), code)


@router.post("/standorte/{code}/status", response_class=HTMLResponse, dependencies=[CsrfDep])
def site_status(a: AdminDep, code: str, form_key: FormKey, aktiv: Active) -> Response:
    """Activate or deactivate a Standort."""
    return SITES.status(a, code, form_key, aktiv)


router.include_router(admin_users.router)
