"""The kel-flow REST API: ``api.main:app`` (FastAPI, versioned under ``/api/v1``)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlmodel import Session

from api import errors
from api.dashboard import routes as dashboard
from api.routes import audit, auth, escalations, intake, referrals
from api.trigger import FlowTrigger, default_trigger
from models.clock import Clock, SystemClock
from models.db import engine
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
) -> FastAPI:
    """Build the app; the process definitions are loaded and checked here (start-up)."""
    settings = settings or Settings()
    load_registry(settings.process_dir)
    app = FastAPI(
        title="kel-flow API",
        version="1.0",
        description=DESCRIPTION,
        openapi_tags=[{"name": "Zuweisungen", "description": "§ 16a SGB II"}],
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.trigger = trigger or default_trigger()
    errors.install(app)
    v1 = APIRouter(prefix="/api/v1")
    for module in (auth, intake, referrals, escalations, audit):
        v1.include_router(module.router)

    @v1.get("/health", tags=["Betrieb"], summary="Betriebsbereitschaft")
    def health() -> dict[str, str]:
        """Prüft die Datenbankverbindung."""
        with Session(engine(settings.database_url)) as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        return {"status": "ok"}

    app.include_router(v1)
    dashboard.install(app)
    return app


app = create_app()
