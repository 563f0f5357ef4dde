"""The kel-flow REST API (FastAPI, versioned under ``/api/v1``).

Served as an app factory: ``uvicorn api.main:create_app --factory``. Building the app
reads the settings and refuses to start without ``KEL_JWT_SECRET`` (unless
``KEL_DEV_MODE``), so importing this module builds nothing. ``api.main:app`` still works
for servers that expect a module attribute: it is built on first access.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI

from api import errors, headers
from api.dashboard import routes as dashboard
from api.limits import BodySizeLimit
from api.login import LoginThrottle
from api.routes import audit, auth, escalations, health, intake, referrals
from api.security import check_signing_key, dummy_hash, signing_key
from api.trigger import FlowTrigger, default_trigger
from models.clock import Clock, SystemClock
from models.process import load_registry
from models.settings import Settings

DESCRIPTION = """
Schnittstelle für Integrationsfachkräfte (Fachverfahren), Träger und die Koordination
§ 16a SGB II: Eingangszone, Zuweisungen mit Gutschein, Ereignisse und Rückmeldungen,
Schweigepflichtentbindung, Eskalationen, Audit.

* Anmeldung: `POST /api/v1/auth/token` (OAuth2 Password Flow), dann `Authorization: Bearer …`.
* Jeder Schreibvorgang braucht einen `Idempotency-Key`; eine Wiederholung liefert die erste
  Antwort.
* Fehler als `application/problem+json` (RFC 9457).
* Eine 2xx-Antwort heißt: der Vorgang ist dauerhaft gespeichert.
"""


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    trigger: FlowTrigger | None = None,
    login_throttle: LoginThrottle | None = None,
) -> FastAPI:
    """Build the app; the process definitions are loaded and checked here (start-up).

    Raises `MissingSecret` (a `RuntimeError` with a German message) when no
    ``KEL_JWT_SECRET`` is set and ``KEL_DEV_MODE`` is off; a weak secret is refused
    already when the settings are read (pydantic `ValidationError`).
    """
    settings = settings or Settings()
    check_signing_key(settings)
    signing_key(settings)  # dev mode: make the per-process key now, with its warning
    dummy_hash()  # once per process, so the first unknown-user login is not faster
    load_registry(settings.process_dir)
    threads = settings.effective_api_threads

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="kel-flow API",
        version="1.0",
        description=DESCRIPTION,
        openapi_tags=[{"name": "Zuweisungen", "description": "§ 16a SGB II"}],
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.trigger = trigger or default_trigger()
    app.state.login_throttle = login_throttle or LoginThrottle.from_settings(settings)
    errors.install(app)
    app.add_middleware(BodySizeLimit)  # 413 over 256 KB (api.limits.MAX_BODY_BYTES)
    headers.install(app)  # CSP, nosniff, no framing, no-store: on every answer
    v1 = APIRouter(prefix="/api/v1")
    for module in (auth, intake, referrals, escalations, audit, health):
        v1.include_router(module.router)

    app.include_router(v1)
    dashboard.install(app)
    return app


@functools.cache
def _app_from_environment() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> FastAPI:
    """``api.main:app``: the app from the environment's settings, built on first access."""
    if name == "app":
        return _app_from_environment()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
