"""Dashboard forms that change a case: one helper that sends them down the one path.

A form of the provider portal or the caseworker pages builds a `Submission` and calls
`submit_form`. It runs `api.service.submit` (record, decide, save in this request's
transaction, under the referral's lock), once per form key (`api.idempotency`), commits,
and starts the follow-up flow after the commit, exactly like the REST API. What the
process refuses comes back as a `FormResult` with a German message for the page (nothing
is written); `NotFound` is left to the caller (answered with the 404 page).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from pydantic import ValidationError
from sqlmodel import Session, select

from api.errors import Problem
from api.idempotency import IdempotencyKey, idempotent
from api.service import Submission, submit
from api.trigger import FlowTrigger
from models.process import Registry, UnknownServiceType
from models.report_checks import InvalidReport
from models.settings import Settings
from models.statemachine import InvalidTransition
from models.tables import Referral, User
from tasks.commands import CommandRejected, ReferenceTaken
from tasks.process_versions import service_for


@dataclass(frozen=True)
class FormResult:
    """What became of a form: `ok`, a German `message` for the page (announced in its
    ``aria-live`` region), the form `field` a refusal is about (``None``: the whole form),
    and the HTTP status to answer a refused form with (409 not allowed now, 422 invalid)."""

    ok: bool
    message: str
    field: str | None = None
    status: int = 200


def submit_form(
    request: Request,
    session: Session,
    user: User,
    submission: Submission,
    *,
    form_key: str,
    success: str,
    registry: Registry,
    settings: Settings,
    trigger: FlowTrigger,
    now: datetime,
) -> FormResult:
    """Submit `submission` as `user` once per `form_key` (a form sent twice takes effect
    once; the same key with other values is refused) and commit it.

    Returns ``FormResult(True, success)`` when it was applied (or had been, for a repeat),
    else a refusal in German: 409 for an event the case's state does not allow now,
    422 for values the process or the catalog refuses, 403 for a role that may not.
    Raises `tasks.repository.NotFound` when the case is not in `user`'s view.
    """
    body = json.dumps(submission.payload.model_dump(mode="json"), sort_keys=True)
    digest = hashlib.sha256(f"{submission.reference}|{body}".encode()).hexdigest()
    key = IdempotencyKey(form_key, f"POST {request.url.path} {digest}")
    try:
        idempotent(
            session,
            user,
            key,
            now,
            lambda: submit(
                session,
                submission,
                user=user,
                now=now,
                registry=registry,
                settings=settings,
                trigger=trigger,
            ),
        )
    except InvalidTransition as refused:
        return FormResult(False, _not_now(session, registry, submission, refused), status=409)
    except InvalidReport as refused:
        message = str(refused).removeprefix(f"{refused.field}: ")
        return FormResult(False, message, field=refused.field, status=422)
    except ReferenceTaken as refused:
        return FormResult(False, str(refused.args[0]), status=409)
    except (CommandRejected, UnknownServiceType, ValidationError) as refused:
        text = str(refused.args[0]) if refused.args else "Ungültige Angaben."
        return FormResult(False, text, status=422)
    except Problem as refused:
        return FormResult(False, refused.detail, status=refused.status)
    return FormResult(True, success)


def _not_now(
    session: Session, registry: Registry, submission: Submission, refused: InvalidTransition
) -> str:
    """ "Im Zustand „…“ ist diese Meldung nicht möglich" with the state's German title."""
    state = refused.state
    referral = session.exec(
        select(Referral).where(Referral.reference == submission.reference)
    ).first()
    if referral is not None:
        states = service_for(session, registry, referral).process.states  # the case's version
        state = states[state].title if state in states else state
    return (
        f"Diese Meldung ist im Zustand „{state}“ nicht möglich. "
        "Bitte laden Sie die Seite neu: der Fall hat sich vielleicht inzwischen geändert."
    )
