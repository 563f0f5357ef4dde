"""Shared pieces of the dashboard: templates, login cookie, the current user, CSV answers."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import select

from api.deps import NowDep, SessionDep, SettingsDep
from api.security import token_subject
from models.german import datum, zahl
from models.tables import User

COOKIE = "kel_sitzung"
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _zahl(value: float | None, digits: int = 0) -> str:
    return zahl(value, digits, thousands="\u202f")


TEMPLATES.env.filters["datum"] = datum
TEMPLATES.env.filters["zahl"] = _zahl


class LoginRequired(Exception):
    """Raised when a page needs a signed-in user; answered with a redirect to the login."""


def dashboard_user(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> User:
    """The user of the session cookie (same token and access rules as the API)."""
    token = request.cookies.get(COOKIE)
    username = token_subject(token, settings, now) if token else None
    user = session.exec(select(User).where(User.username == username)).first() if username else None
    if user is None or not user.active:
        raise LoginRequired
    return user


DashboardUser = Annotated[User, Depends(dashboard_user)]


def page(request: Request, template: str, user: User, **context: Any) -> HTMLResponse:
    """Render `template` with the common context (user, navigation, CSRF-free form key)."""
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"user": user, "form_key": secrets.token_hex(16), **context},
    )


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A CSV download (``;``, UTF-8 with BOM, as Excel in Germany expects)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
