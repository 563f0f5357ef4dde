"""Denied requests in the audit trail: every 403 and 404 answered to a signed-in user.

A 404 on a case is what a user sees for a reference outside their scope as well as for
one that does not exist (`api.access`), so both are recorded: a user probing other
sites' references leaves a trace. The authentication dependencies (`api.deps.current_user`,
`api.dashboard.web.dashboard_user`) keep the user in ``request.state.user``;
`RecordDenials` sees the answer's status and, after the request is finished (its session
closed, whether it committed or rolled back), appends ``access_denied`` in a short
transaction of its own. Recorded: user, role, status, method, the route's path template
and its path parameters (a reference is a pseudonymous id); never query or body.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.db import write_session
from tasks.repository import Actor, audit

log = logging.getLogger(__name__)

#: Statuses recorded as denied requests.
DENIED = frozenset({403, 404})
#: Longest path parameter kept in the audit detail (characters).
PARAM_LIMIT = 120


class RecordDenials:
    """ASGI middleware: audit ``access_denied`` for a 403/404 answered to a known user."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, capture)
        user = state.get("user")
        if status in DENIED and user is not None:
            await run_in_threadpool(record_denial, scope, user, status)


def record_denial(scope: Scope, user: Any, status: int) -> None:
    """Append ``access_denied`` by `user` (a `models.tables.User`) for the request of
    `scope`, in its own transaction.

    Never raises: the answer is already sent; a failure is logged (without the path).
    """
    app = scope["app"]
    params = {str(k): str(v) for k, v in (scope.get("path_params") or {}).items()}
    detail: dict[str, Any] = {
        "status": status,
        "method": scope.get("method", ""),
        "path": path_template(scope, params),
        "params": {k: v[:PARAM_LIMIT] for k, v in params.items()},
    }
    try:
        with write_session(app.state.settings.database_url) as session:
            actor = Actor(user.username, user.role)
            audit(session, app.state.clock.now(), actor, "access_denied", None, **detail)
    except Exception:
        log.exception("Verweigerte Anfrage (%s) konnte nicht protokolliert werden.", status)


def path_template(scope: Scope, params: dict[str, str]) -> str | None:
    """The matched route's full path template, e.g. ``/api/v1/referrals/{reference}``
    (None when no route matched). The route knows its template without the prefix of an
    included router; the prefix is what precedes the filled-in template in the path."""
    template = getattr(scope.get("route"), "path_format", None)
    if not isinstance(template, str):
        return None
    filled = template
    for name, value in params.items():
        filled = filled.replace("{" + name + "}", value)
    path = str(scope.get("path", ""))
    return path.removesuffix(filled) + template if path.endswith(filled) else template
