"""Verwaltung der Benutzerkonten: anlegen, Rolle/Standort/Träger ändern, deaktivieren,
Passwort zurücksetzen (issue 8 point 5); admins only, as `api.dashboard.admin`.

A password typed into a form is checked for strength and never shown, logged or kept in
the form-key record; a generated one is shown once on the answer page (``no-store``, like
every page). A form sent again shows no password: it was set the first time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from api.dashboard.admin_common import (
    MESSAGES,
    AdminDep,
    AdminRequest,
    FormKey,
    back,
    refused,
)
from api.dashboard.csrf import CsrfDep
from api.dashboard.web import page
from models.tables import User
from tasks import administration as admin

router = APIRouter(prefix="/benutzer")


class UserForm(BaseModel):
    """The fields of the account forms (new account: `username` and `password` too)."""

    form_key: str = Field(min_length=8, max_length=128)
    username: str = Field("", max_length=200)
    role: str = Field("", max_length=40)
    site: str = Field("", max_length=200)
    provider: str = Field("", max_length=200)
    email: str = Field("", max_length=400)
    password: str = Field("", max_length=1000)

    def shown(self, username: str | None = None) -> dict[str, Any]:
        """The values for the page and the form key's fingerprint: no password."""
        values = self.model_dump(exclude={"form_key", "password"})
        return {**values, "username": username or self.username}


def _user_form(user: User, providers: Mapping[int | None, str]) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "site": user.site or "",
        "provider": providers.get(user.provider_id, ""),
        "email": user.email or "",
    }


def _users_page(
    a: AdminRequest,
    *,
    editing: User | None = None,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    hinweis: str | None = None,
) -> HTMLResponse:
    providers = admin.providers(a.session)
    codes: dict[int | None, str] = {p.id: p.code for p in providers}
    return page(
        a.request,
        "admin_users.html.j2",
        a.user,
        nav="admin",
        accounts=admin.users(a.session),
        providers=providers,
        provider_codes=codes,
        sites=admin.sites(a.session),
        roles=admin.ROLE_TITLES,
        editing=editing,
        values=values if values is not None else (_user_form(editing, codes) if editing else {}),
        errors=dict(errors or {}),
        message=MESSAGES.get(hinweis or ""),
    )


def _password_page(a: AdminRequest, username: str, password: str | None) -> Response:
    """The answer that shows a generated password once (None: the form came again)."""
    return page(
        a.request,
        "admin_password.html.j2",
        a.user,
        nav="admin",
        account=username,
        password=password,
    )


def _account(session: Session, username: str) -> User | None:
    try:
        return admin.user_by_name(session, username)
    except admin.UnknownRecord:
        return None


@router.get("", response_class=HTMLResponse)
def users_page(a: AdminDep, hinweis: str | None = None) -> Response:
    """All accounts (never their password hashes) and the form for a new one."""
    return _users_page(a, hinweis=hinweis)


@router.get("/{username}", response_class=HTMLResponse)
def user_page(a: AdminDep, username: str, hinweis: str | None = None) -> Response:
    """One account: role, site, Träger and e-mail; deactivate; reset the password."""
    found = _account(a.session, username)
    if found is None:
        return a.error(404)
    return _users_page(a, editing=found, hinweis=hinweis)


@router.post("", response_class=HTMLResponse, dependencies=[CsrfDep])
def create_user(a: AdminDep, form: Annotated[UserForm, Form()]) -> Response:
    """Create an account; without a password one is generated and shown once."""
    data = admin.UserInput(**form.shown())
    generated: list[str] = []

    def write() -> str:
        _, password = admin.add_user(a.ctx, data, form.password or None)
        generated.extend([password] if password else [])
        return "benutzer-angelegt"

    try:
        outcome = a.once(form.form_key, form.shown(), write)
    except admin.InvalidInput as bad:
        return refused(_users_page(a, values=form.shown(), errors=bad.by_field()))
    if not form.password and outcome != "formular-veraltet":
        return _password_page(a, data.username, next(iter(generated), None))
    return back("/benutzer", outcome)


@router.post("/{username}", response_class=HTMLResponse, dependencies=[CsrfDep])
def edit_user(a: AdminDep, username: str, form: Annotated[UserForm, Form()]) -> Response:
    """Save role, site, Träger and e-mail of an account."""
    found = _account(a.session, username)
    if found is None:
        return a.error(404)
    data = admin.UserInput(**form.shown(found.username))

    def write() -> str:
        saved = admin.update_user(a.ctx, data)
        return "benutzer-gespeichert" if saved.outcome == "updated" else "unveraendert"

    try:
        return back("/benutzer", a.once(form.form_key, form.shown(), write))
    except admin.InvalidInput as bad:
        errors = bad.by_field()
        return refused(_users_page(a, editing=found, values=form.shown(), errors=errors))


@router.post("/{username}/status", response_class=HTMLResponse, dependencies=[CsrfDep])
def user_status(
    a: AdminDep, username: str, form_key: FormKey, aktiv: Annotated[bool, Form()]
) -> Response:
    """Deactivate an account (its sessions end at once) or activate it again; refused
    (409) for one's own account and the last active admin."""
    found = _account(a.session, username)
    if found is None:
        return a.error(404)

    def write() -> str:
        admin.set_user_active(a.ctx, found.username, aktiv)
        return "benutzer-aktiviert" if aktiv else "benutzer-deaktiviert"

    try:
        return back("/benutzer", a.once(form_key, {"aktiv": aktiv}, write))
    except admin.InvalidInput as bad:
        errors = {"status": bad.mistakes[0].message}
        return refused(_users_page(a, editing=found, errors=errors), 409)


@router.post("/{username}/passwort", response_class=HTMLResponse, dependencies=[CsrfDep])
def user_password(
    a: AdminDep,
    username: str,
    form_key: FormKey,
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Reset the password: the one typed (strength-checked; back with a note) or, left
    empty, a generated one shown once. The account's sessions end."""
    found = _account(a.session, username)
    if found is None:
        return a.error(404)
    generated: list[str] = []

    def write() -> str:
        new = admin.reset_password(a.ctx, found.username, password or None)
        generated.extend([new] if new else [])
        return "passwort-gesetzt"

    try:
        outcome = a.once(form_key, {"erzeugt": not password}, write)
    except admin.InvalidInput as bad:
        errors = {"password": bad.by_field().get("password", str(bad))}
        return refused(_users_page(a, editing=found, errors=errors))
    if not password and outcome != "formular-veraltet":
        return _password_page(a, found.username, next(iter(generated), None))
    return back(f"/benutzer/{quote(found.username, safe='')}", outcome)
