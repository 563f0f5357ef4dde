"""Shared pieces of the dashboard: templates, login cookie, the current user, CSV answers."""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from api.deps import NowDep, SessionDep, SettingsDep
from api.security import authenticate
from models.german import anzahl, datum, numerus, prozent, zahl
from models.tables import User

COOKIE = "kel_sitzung"
#: Every dashboard template is HTML (``*.html.j2``): escaped, whatever the name says.
#: (Starlette's default, ``select_autoescape()``, escapes only ``.html``/``.htm``/``.xml``.)
#: Markup built in Python (the SVG charts) is a ``markupsafe.Markup`` of escaped parts.
TEMPLATES = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
)


def _zahl(value: float | None, digits: int = 0) -> str:
    return zahl(value, digits, thousands="\u202f")


TEMPLATES.env.filters["datum"] = datum
TEMPLATES.env.filters["zahl"] = _zahl
#: ``{{ n|anzahl("Tag", "Tagen") }}`` -> "1 Tag" / "3 Tagen"; ``{{ n|numerus("Fall", "Fälle") }}``
#: the noun alone; ``{{ 0.125|prozent }}`` -> "12,5 %" (models.german)
TEMPLATES.env.filters["anzahl"] = anzahl
TEMPLATES.env.filters["numerus"] = numerus
TEMPLATES.env.filters["prozent"] = prozent


class LoginRequired(Exception):
    """Raised when a page needs a signed-in user; answered with a redirect to the login."""


HOME = "/dashboard"
_URL = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*")  # path and query characters, RFC 3986


def _in_dashboard(path: str) -> bool:
    return path == HOME or path.startswith(HOME + "/")


def local_dashboard_path(target: str | None) -> str:
    """`target` when it is a path of this dashboard (``/dashboard`` or below, with an
    optional query), else ``/dashboard``: the login's ``next`` can send no one elsewhere.

    Refused: schemes and hosts (``https://…``, ``//host``, ``javascript:…``), backslashes
    (browsers read ``/\\host`` as ``//host``), fragments, spaces, control and non-URL
    characters, empty and dot segments (also percent-encoded: ``%2e%2e``, ``%2f``) and
    more than 2,000 characters.
    """
    if not target or len(target) > 2000 or not _URL.fullmatch(target):
        return HOME
    path = target.partition("?")[0]
    decoded = unquote(path)
    if not (_in_dashboard(path) and _in_dashboard(decoded)):
        return HOME
    if "//" in decoded or "\\" in decoded or not decoded.isprintable():
        return HOME
    if any(segment in (".", "..") for segment in decoded.split("/")):
        return HOME
    return target


def dashboard_user(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> User:
    """The user of the session cookie (same token, session and access rules as the API:
    a logged-out or revoked session or an inactive account needs a new login)."""
    token = request.cookies.get(COOKIE)
    found = authenticate(session, token, settings, now) if token else None
    session.commit()  # end the read before the page's thread hop (`api.deps.current_login`)
    if found is None:
        raise LoginRequired
    request.state.user = found[0]  # a 403/404 page for this user is audited (api.denials)
    return found[0]


DashboardUser = Annotated[User, Depends(dashboard_user)]


def page(request: Request, template: str, user: User, **context: Any) -> HTMLResponse:
    """Render `template` with the common context (user, navigation, a form key that makes
    a form sent twice take effect once); the forms' CSRF token is the template global
    ``csrf_token(request)`` (`api.dashboard.csrf`)."""
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
