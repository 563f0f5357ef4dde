"""German error pages for dashboard requests that fail before a page handler runs.

FastAPI answers an unknown path (404), a wrong method (405), an unreadable body (400) and
a form it cannot validate (422, e.g. a tampered selection in a bulk action) itself. Under
``/dashboard`` the answer is the dashboard's German HTML page for a signed-in user and the
login page for everyone else; elsewhere it stays the API's problem document
(`api.errors`).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.dashboard.web import COOKIE, HOME, page
from api.errors import http_problem, invalid_request
from api.security import authenticate
from models.db import session as db_session
from models.tables import User
from models.urls import login_url

PAGES = {
    400: (
        "Anfrage nicht lesbar",
        "Die Anfrage konnte nicht gelesen werden. Bitte laden Sie "
        "die Seite neu und versuchen Sie es noch einmal.",
    ),
    404: (
        "Seite nicht gefunden",
        "Diese Seite gibt es nicht, oder sie gehört nicht zu Ihrem Zuständigkeitsbereich.",
    ),
    405: (
        "Aktion nicht möglich",
        "Diese Adresse lässt sich so nicht aufrufen. Bitte nutzen "
        "Sie die Schaltflächen und Formulare der Seite.",
    ),
    422: (
        "Ungültige Angaben",
        "Das Formular enthielt unvollständige oder ungültige Angaben "
        "({fields}). Bitte gehen Sie zurück, prüfen Sie die Angaben und senden Sie das "
        "Formular erneut.",
    ),
}
"""Title and text per status (German; ``{fields}``: the form fields FastAPI refused)."""


def install(app: FastAPI) -> None:
    """Answer FastAPI's own 400/404/405/422 with HTML under ``/dashboard``; registered
    after `api.errors.install`, whose problem documents stay the answer elsewhere."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not in_dashboard(request):
            return invalid_request(exc)
        fields = sorted({".".join(str(p) for p in e["loc"][1:]) or "Anfrage" for e in exc.errors()})
        return error_response(request, 422, fields=", ".join(fields))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not in_dashboard(request) or exc.status_code not in PAGES:
            return http_problem(exc)
        return error_response(request, exc.status_code)


def in_dashboard(request: Request) -> bool:
    """Whether `request` is for a dashboard page (``/dashboard`` or below)."""
    path = request.url.path
    return path == HOME or path.startswith(HOME + "/")


def error_response(request: Request, status: int, **details: str) -> Response:
    """The German error page for the signed-in user, else a redirect to the login."""
    user = signed_in(request)
    if user is None:
        return RedirectResponse(login_url(request.url.path), status_code=303)
    title, text = PAGES[status]
    response = page(request, "case.html.j2", user, nav=None, error=(title, text.format(**details)))
    response.status_code = status
    return response


def signed_in(request: Request) -> User | None:
    """The user of the request: set by the page's dependency, else read from the session
    cookie (an unknown path runs no dependency); kept in ``request.state.user`` so a 404
    for them is audited like any other (`api.denials`)."""
    user: User | None = getattr(request.state, "user", None)
    token = request.cookies.get(COOKIE)
    if user is None and token:
        settings = request.app.state.settings
        with db_session(settings.database_url) as session:
            found = authenticate(session, token, settings, request.app.state.clock.now())
            session.commit()
        user = found[0] if found else None
        request.state.user = user
    return user
