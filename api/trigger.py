"""Starting the Prefect flow that applies a recorded command.

With a Prefect server (``PREFECT_API_URL`` set) the API starts the deployment
``befehl-anwenden`` without waiting (``timeout=0``) and with the command id as
idempotency key. Without one, the API applies the command itself, in process.
If the server cannot be reached the command stays pending in the inbox: the hourly
deadline sweep (or ``posteingang-abarbeiten``) applies it later (outbox).
"""

from __future__ import annotations

import logging
from typing import Protocol

DEPLOYMENT = "befehl-anwenden/befehl-anwenden"
log = logging.getLogger("kel.api")


class FlowTrigger(Protocol):
    """Starts the flow for a recorded command; returns the flow run id or None."""

    in_process: bool

    def start(self, command_id: int, referral_id: int | None) -> str | None: ...


class InProcess:
    """No Prefect server: the API applies the command itself."""

    in_process = True

    def start(self, command_id: int, referral_id: int | None) -> str | None:
        return None


class Deployment:
    """Run the ``befehl-anwenden`` deployment on the Prefect server, never blocking."""

    in_process = False

    def start(self, command_id: int, referral_id: int | None) -> str | None:
        from prefect.client.schemas.objects import FlowRun
        from prefect.deployments import run_deployment

        tags = [f"fall-{referral_id}"] if referral_id else []
        try:
            run = run_deployment(
                DEPLOYMENT,
                parameters={"command_id": command_id},
                timeout=0,
                as_subflow=False,
                idempotency_key=f"befehl-{command_id}",
                tags=tags,
            )
        except Exception as exc:  # the server is down: the inbox keeps the command
            log.warning(
                "Flow für Befehl %s nicht gestartet (%s); bleibt im Posteingang",
                command_id,
                type(exc).__name__,
            )
            return None
        assert isinstance(run, FlowRun)
        return str(run.id)


def default_trigger() -> FlowTrigger:
    """`Deployment` when a Prefect server is configured, else `InProcess`."""
    from prefect.settings import PREFECT_API_URL

    return Deployment() if PREFECT_API_URL.value() else InProcess()
