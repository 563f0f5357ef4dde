"""What the Verwaltung pages share (`api.dashboard.admin`, `api.dashboard.admin_users`):
the admin check, the administration context of a request, a form sent once, the
redirect with a note, the German notes themselves."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlmodel import Session

from api.dashboard.cases import error_page
from api.dashboard.web import DashboardUser
from api.deps import NowDep, RegistryDep, SessionDep, SettingsDep
from api.errors import Problem
from api.idempotency import IdempotencyKey, idempotent
from models.process import Registry
from models.settings import Settings
from models.tables import Role, User
from tasks import administration as admin
from tasks.repository import Actor

BASE = "/dashboard/verwaltung"
MESSAGES = {
    "traeger-angelegt": "Der Träger wurde angelegt.",
    "traeger-gespeichert": "Die Angaben des Trägers wurden gespeichert.",
    "traeger-aktiviert": "Der Träger ist aktiv und kann wieder Zuweisungen erhalten.",
    "traeger-deaktiviert": "Der Träger ist deaktiviert: keine neuen Zuweisungen, "
    "laufende Fälle bleiben.",
    "standort-angelegt": "Der Standort wurde angelegt.",
    "standort-gespeichert": "Die Angaben des Standorts wurden gespeichert.",
    "standort-aktiviert": "Der Standort ist wieder aktiv.",
    "standort-deaktiviert": "Der Standort ist deaktiviert.",
    "benutzer-angelegt": "Das Benutzerkonto wurde angelegt.",
    "benutzer-gespeichert": "Die Angaben des Kontos wurden gespeichert.",
    "benutzer-aktiviert": "Das Konto ist wieder aktiv.",
    "benutzer-deaktiviert": "Das Konto ist deaktiviert; seine Sitzungen sind beendet.",
    "passwort-gesetzt": "Das Passwort wurde neu gesetzt; die Sitzungen des Kontos sind beendet.",
    "unveraendert": "Es gab nichts zu ändern.",
    "bereits-gesendet": "Dieses Formular war bereits gesendet worden; es wurde nichts "
    "noch einmal gespeichert.",
    "formular-veraltet": "Das Formular war veraltet; bitte die Angaben noch einmal eingeben.",
}
FormKey = Annotated[str, Form(min_length=8, max_length=128)]


def is_admin(user: User) -> bool:
    return user.role == Role.admin


def context(
    session: Session, registry: Registry, settings: Settings, user: User, now: datetime
) -> admin.Context:
    """The administration context of a dashboard request, audited as `user`."""
    actor = Actor(user.username, user.role)
    return admin.Context(session, registry, actor, now, settings.password_min_score)


class NotAdmin(Exception):
    """A Verwaltung page asked for by a user who is not an admin: the 403 page
    (`api.dashboard.routes`)."""

    def __init__(self, user: User) -> None:
        super().__init__("Verwaltung nur für die Administration")
        self.user = user


@dataclass(frozen=True)
class AdminRequest:
    """A Verwaltung request of an admin: the request, the admin and the administration
    context (session, registry, actor, clock) its writes run in."""

    request: Request
    user: User
    ctx: admin.Context

    @property
    def session(self) -> Session:
        return self.ctx.session

    def error(self, status: int) -> HTMLResponse:
        """The German error page (403, 404) for this admin."""
        return error_page(self.request, self.user, status)

    def once(self, form_key: str, shown: Mapping[str, Any], write: Callable[[], str]) -> str:
        """`once` for this request."""
        return once(self.request, self.ctx, self.user, form_key, shown, write)


def admin_request(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    now: NowDep,
) -> AdminRequest:
    """The `AdminRequest` of a signed-in admin; raises `NotAdmin` for every other role."""
    if not is_admin(user):
        raise NotAdmin(user)
    return AdminRequest(request, user, context(session, registry, settings, user, now))


AdminDep = Annotated[AdminRequest, Depends(admin_request)]


class _Outcome(BaseModel):
    """What the idempotency record keeps of an admin form: the outcome only (never a
    password or other value)."""

    outcome: str


def once(
    request: Request,
    ctx: admin.Context,
    user: User,
    form_key: str,
    shown: Mapping[str, Any],
    write: Callable[[], str],
) -> str:
    """Run `write` (returns an outcome code) and commit it, once per `form_key`; a repeat
    answers ``bereits-gesendet``. `shown` are the form values that make up the key's
    fingerprint (no passwords). Raises `admin.InvalidInput` (rolled back)."""
    digest = hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()
    key = IdempotencyKey(form_key, f"POST {request.url.path} {digest}")
    try:
        answer = idempotent(ctx.session, user, key, ctx.now, lambda: _Outcome(outcome=write()), 200)
    except Problem:
        return "formular-veraltet"
    if answer.headers.get("Idempotent-Replayed") == "true":
        return "bereits-gesendet"
    return str(json.loads(bytes(answer.body))["outcome"])


def back(path: str, hinweis: str) -> RedirectResponse:
    return RedirectResponse(f"{BASE}{path}?hinweis={hinweis}", status_code=303)


def refused(response: HTMLResponse, status: int = 422) -> HTMLResponse:
    response.status_code = status
    return response


def service_titles(registry: Registry) -> dict[str, str]:
    return {k: s.title for k, s in sorted(registry.services.items(), key=lambda x: x[1].title)}
