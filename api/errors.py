"""Errors as ``application/problem+json`` (RFC 9457), mapped from domain errors in one place."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.process import UnknownServiceType
from models.routing import IncompleteFacts
from models.statemachine import InvalidTransition
from tasks.commands import CommandRejected, ReferenceTaken
from tasks.repository import NotFound

PROBLEM = "application/problem+json"
TITLES = {
    400: "Ungültige Anfrage",
    401: "Nicht angemeldet",
    403: "Keine Berechtigung",
    404: "Nicht gefunden",
    405: "Methode nicht erlaubt",
    409: "Konflikt mit dem Stand des Falls",
    422: "Ungültige Eingabe",
    500: "Interner Fehler",
}


class Problem(Exception):
    """Raise to answer with a problem document; `extra` adds members (e.g. ``state``)."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Fehler"),
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _fields(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
        for e in errors
    ]


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into problem documents."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem(exc.status, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _fields(list(exc.errors()))
        names = ", ".join(f["field"] or "Anfrage" for f in fields)
        return problem(422, f"Ungültige Angaben: {names}", errors=fields)

    @app.exception_handler(ValidationError)
    async def _invalid_payload(_: Request, exc: ValidationError) -> JSONResponse:
        fields = _fields(list(exc.errors()))
        return problem(422, "Ungültige Angaben", errors=fields)

    @app.exception_handler(InvalidTransition)
    async def _conflict(_: Request, exc: InvalidTransition) -> JSONResponse:
        return problem(409, str(exc), state=exc.state, event=exc.event, allowed_events=exc.allowed)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, str(exc.args[0]) if exc.args else "Nicht gefunden")

    @app.exception_handler(ReferenceTaken)
    async def _taken(_: Request, exc: ReferenceTaken) -> JSONResponse:
        return problem(409, str(exc.args[0]))

    @app.exception_handler(CommandRejected)
    @app.exception_handler(UnknownServiceType)
    @app.exception_handler(IncompleteFacts)
    async def _rejected(_: Request, exc: Exception) -> JSONResponse:
        return problem(422, str(exc.args[0]) if exc.args else str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return problem(500, "Ein unerwarteter Fehler ist aufgetreten; er wurde protokolliert.")
