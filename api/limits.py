"""Limits of the API input: the size of a request body and the range of its dates.

- `BodySizeLimit`: an ASGI middleware that answers 413 (problem+json) to a request body
  larger than `MAX_BODY_BYTES`, whether announced by ``Content-Length`` or streamed
  (chunked); installed once in `api.main.create_app`.
- `check_dates`: the date bounds a pydantic model cannot check because they depend on
  "today" (the injected clock); called by the routes that take dates, raises 422.

Single fields are limited where they are declared (`models.commands.MAX_TEXT_CHARS` for
free text, `models.commands.REFERENCE_PATTERN` for Aktenzeichen).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import Problem, problem
from api.schemas import ReferralIn
from models.commands import ConsentGrant
from models.settings import Settings

MAX_BODY_BYTES = 256 * 1024
"""Largest request body, in bytes (256 KiB). A report of five free-text fields at the
20,000-character limit (`models.commands.MAX_TEXT_CHARS`) is at most about 200 KB even if
every character takes two bytes in UTF-8; anything larger is not a report."""

TOO_LARGE = f"Die Anfrage ist zu groß: höchstens {MAX_BODY_BYTES // 1024} KB."


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the limit; FastAPI passes an
    `HTTPException` raised while reading the body through unchanged, so it is answered as
    a 413 problem document (`api.errors`)."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


class BodySizeLimit:
    """ASGI middleware: refuse HTTP request bodies over `max_bytes` with 413.

    A ``Content-Length`` above the limit is answered at once, without reading the body;
    a ``Content-Length`` that is not a number is answered with 400. A body without a
    length (``Transfer-Encoding: chunked``) or with a wrong one is counted as it is read:
    the read that passes the limit raises `BodyTooLarge`. Other scopes (websocket,
    lifespan) pass unchanged.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lengths = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
        if lengths:
            text = lengths[0].decode("latin-1").strip()
            if not text.isdigit() or len(lengths) > 1:
                await problem(400, "Ungültige Content-Length.")(scope, receive, send)
                return
            if int(text) > self.max_bytes:
                await problem(413, TOO_LARGE)(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:  # read outside a FastAPI route (e.g. a mounted app)
            if started:
                raise
            await problem(413, TOO_LARGE)(scope, receive, send)


# --- dates -----------------------------------------------------------------------------------

EARLIEST = date(2000, 1, 1)
"""No date in a request lies before this day: kel-flow holds no case of the last century,
and a typo such as ``0202-03-02`` should not start a deadline."""

CONSENT_MAX_DAYS = 3653
"""A Schweigepflichtentbindung expires at most about ten years after today."""


def check_dates(body: BaseModel, today: date, settings: Settings) -> None:
    """Refuse dates of a request `body` that are out of range, judged on `today` (the local
    date of the injected clock). Raises `Problem` 422 naming every bad field (``errors``).

    - ``occurred_on`` of a new referral (its start, `api.schemas.ReferralIn`): from
      `EARLIEST` to today + ``settings.max_start_days`` (default 30);
    - ``occurred_on`` of anything else (events, intake): from `EARLIEST` to today +
      ``settings.max_future_days`` (default 0: an event is a fact that has happened);
      an event before the referral's start is refused where the event is applied;
    - ``appointment_on``: from `EARLIEST` to today + ``settings.max_appointment_days``;
    - a consent (the body itself or its ``consent``): ``granted_on`` from `EARLIEST` to
      today, ``expires_on`` not before ``granted_on`` and at most `CONSENT_MAX_DAYS` ahead.

    Dates such as ``9999-12-31`` thus end here as 422 and never reach the deadline
    arithmetic (`models.calendar`), where they would overflow.
    """
    errors = [
        {"field": field, "message": message} for field, message in _problems(body, today, settings)
    ]
    if errors:
        names = ", ".join(e["field"] for e in errors)
        raise Problem(422, f"Ungültige Angaben: {names}", errors=errors)


def _problems(body: BaseModel, today: date, settings: Settings) -> Iterator[tuple[str, str]]:
    occurred_on = getattr(body, "occurred_on", None)
    if isinstance(occurred_on, date):
        if isinstance(body, ReferralIn):
            latest, what = today + timedelta(days=settings.max_start_days), "Beginn der Zuweisung"
        else:
            latest, what = today + timedelta(days=settings.max_future_days), "Ereignisdatum"
        yield from _within("occurred_on", occurred_on, latest, what)
    appointment_on = getattr(body, "appointment_on", None)
    if isinstance(appointment_on, date):
        latest = today + timedelta(days=settings.max_appointment_days)
        yield from _within("appointment_on", appointment_on, latest, "Termin")
    consent = body if isinstance(body, ConsentGrant) else getattr(body, "consent", None)
    if isinstance(consent, ConsentGrant):
        prefix = "" if consent is body else "consent."
        yield from _within(f"{prefix}granted_on", consent.granted_on, today, "Erteilung")
        if consent.expires_on is not None:
            if consent.expires_on < consent.granted_on:
                yield f"{prefix}expires_on", "Das Ablaufdatum liegt vor der Erteilung."
            yield from _within(
                f"{prefix}expires_on",
                consent.expires_on,
                today + timedelta(days=CONSENT_MAX_DAYS),
                "Ablaufdatum",
            )


def _within(field: str, day: date, latest: date, what: str) -> Iterator[tuple[str, str]]:
    if day < EARLIEST:
        yield field, f"{what} {_de(day)} liegt vor dem {_de(EARLIEST)}."
    elif day > latest:
        yield field, f"{what} {_de(day)} liegt zu weit in der Zukunft (spätestens {_de(latest)})."


def _de(day: date) -> str:
    return f"{day.day:02d}.{day.month:02d}.{day.year:04d}"


__all__: list[str] = [
    "CONSENT_MAX_DAYS",
    "EARLIEST",
    "MAX_BODY_BYTES",
    "BodySizeLimit",
    "BodyTooLarge",
    "check_dates",
]
