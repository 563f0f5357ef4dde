"""Errors as ``application/problem+json`` (RFC 9457), mapped from domain errors in one place."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.denials import RecordDenials
from models.calendar import InvalidPeriod
from models.process import UnknownServiceType
from models.report_checks import InvalidReport
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
    413: "Anfrage zu groß",
    422: "Ungültige Eingabe",
    429: "Zu viele Anfragen",
    500: "Interner Fehler",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "Fehlerbeschreibung nach RFC 9457 (application/problem+json).",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Bei 422: die ungültigen Felder",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}
"""The problem document every error answer has; members beyond these are allowed (e.g.
``state`` and ``allowed_events`` of a 409)."""

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

GERMAN_DETAILS = {
    "There was an error parsing the body": "Der Inhalt der Anfrage ist nicht lesbar "
    "(kein gültiges UTF-8-JSON oder Formular).",
}
"""FastAPI's own English details, as the German answer says them."""

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": TITLES[status], "content": {PROBLEM: {"schema": PROBLEM_REF}}}
    for status in (400, 401, 403, 404, 409, 413, 422, 429)
}
"""The problem+json answers, for a route's or router's ``responses=``. `document_problems`
adds the ones that can occur to every API operation of the OpenAPI document."""


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `PROBLEM_RESPONSES` entries for `statuses`, e.g. ``responses=problem_responses(404)``."""
    return {status: PROBLEM_RESPONSES[status] for status in statuses}


WRITES = frozenset({"post", "put", "patch", "delete"})


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Add the problem+json answers to every operation of an OpenAPI `document`, where they
    can occur, and give every 4xx answer the `PROBLEM_SCHEMA` as its only content:

    - 401 and 403 where the operation needs a bearer token (it has ``security``);
    - 404 where it has path parameters (a case, an escalation, an account);
    - 409 for writes taking an ``Idempotency-Key`` (a request with that key still running);
    - 400 and 413 where it has a request body (a body that is not UTF-8 JSON or a form;
      one over `api.limits.MAX_BODY_BYTES`);
    - 422 where it has parameters or a body (FastAPI's own 422 schema is replaced: the
      answer is a problem document with ``errors``);
    - 429 only where the operation documents it itself (the login).

    Returns `document`, changed in place.
    """
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in WRITES | {"get", "head", "options"}:
                continue
            params = operation.get("parameters", [])
            statuses: set[int] = set()
            if operation.get("security"):
                statuses |= {401, 403}
            if any(p.get("in") == "path" for p in params):
                statuses.add(404)
            if method in WRITES and any(p.get("name") == "Idempotency-Key" for p in params):
                statuses.add(409)
            if "requestBody" in operation:
                statuses |= {400, 413}
            if params or "requestBody" in operation:
                statuses.add(422)
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(str(status), {"description": TITLES[status]})
            for code, response in responses.items():
                if code.startswith("4"):
                    response["content"] = {PROBLEM: {"schema": PROBLEM_REF}}
                    if code == "422" and response.get("description") == "Validation Error":
                        response["description"] = TITLES[422]
    return document


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


def invalid_request(exc: RequestValidationError) -> JSONResponse:
    """The 422 problem for a request FastAPI could not validate, naming the fields."""
    fields = _fields(list(exc.errors()))
    names = ", ".join(f["field"] or "Anfrage" for f in fields)
    return problem(422, f"Ungültige Angaben: {names}", errors=fields)


def http_problem(exc: StarletteHTTPException) -> JSONResponse:
    """The problem for Starlette's own HTTP errors (unknown path 404, 405, unreadable
    body 400), with its detail in German where `GERMAN_DETAILS` knows it."""
    detail = str(exc.detail)
    return problem(exc.status_code, GERMAN_DETAILS.get(detail, detail))


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into problem documents, and list the
    problem answers in the app's OpenAPI document (`document_problems`). Every 403 and
    404 answered to a signed-in user is audited (`api.denials.RecordDenials`)."""
    app.add_middleware(RecordDenials)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem(exc.status, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_request(exc)

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

    @app.exception_handler(InvalidReport)
    async def _invalid_report(_: Request, exc: InvalidReport) -> JSONResponse:
        message = str(exc).removeprefix(f"{exc.field}: ")
        return problem(422, str(exc), errors=[{"field": exc.field, "message": message}])

    @app.exception_handler(InvalidPeriod)
    @app.exception_handler(OverflowError)
    async def _out_of_range(_: Request, exc: Exception) -> JSONResponse:
        # A last net: dates are bounded at the door (`api.limits.check_dates`).
        return problem(422, "Ein Datum oder eine Zahl liegt außerhalb des zulässigen Bereichs.")

    @app.exception_handler(DataError)
    async def _bad_value(_: Request, exc: DataError) -> JSONResponse:
        # A last net for what the database refuses to store or compare: a NUL character
        # (PostgreSQL text cannot hold one) or a number beyond its column's range.
        if "NUL" in str(exc.orig):
            return problem(422, "Eine Angabe enthält ein unzulässiges Steuerzeichen (NUL).")
        return problem(422, "Ein Datum oder eine Zahl liegt außerhalb des zulässigen Bereichs.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_problem(exc)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return problem(500, "Ein unerwarteter Fehler ist aufgetreten; er wurde protokolliert.")
