"""Starting the Prefect flow that carries out what follows a state change.

A state change is committed in the API request (`api.service.submit`); its e-mails wait
as outbox rows (`models.tables.Notification`). With a Prefect server
(``PREFECT_API_URL`` set) the API then starts the deployment ``folgen-ausfuehren`` for
the command, without waiting (``timeout=0``) and with the command id as idempotency key.
Without a server, or when it cannot be reached, nothing is lost: the hourly deadline
sweep sends every pending notification.
"""

from __future__ import annotations

import logging
from typing import Protocol

from models.urls import case_tag

DEPLOYMENT = "folgen-ausfuehren/folgen-ausfuehren"
log = logging.getLogger("kel.api")


class FlowTrigger(Protocol):
    """Starts the follow-up flow of a committed command; returns the flow run id or None.
    `references`: the Aktenzeichen of the cases the command changed (the run's tags);
    `name`: the run's name from the start (`models.run_names.follow_up_run_name`), so the
    Prefect UI never shows a random name while the run waits for a worker."""

    def start(
        self, command_id: int, references: list[str], name: str | None = None
    ) -> str | None: ...


class InProcess:
    """No Prefect server: follow-ups are left to the next deadline sweep."""

    def start(self, command_id: int, references: list[str], name: str | None = None) -> str | None:
        return None


class Deployment:
    """Run the ``folgen-ausfuehren`` deployment on the Prefect server, never blocking."""

    def start(self, command_id: int, references: list[str], name: str | None = None) -> str | None:
        from prefect.client.schemas.objects import FlowRun
        from prefect.deployments import run_deployment

        tags = [case_tag(reference) for reference in references]
        try:
            run = run_deployment(
                DEPLOYMENT,
                parameters={"command_id": command_id},
                flow_run_name=name,
                timeout=0,
                as_subflow=False,
                idempotency_key=f"folgen-{command_id}",
                tags=tags,
            )
        except Exception as exc:  # the server is down: the sweep sends the outbox later
            log.warning(
                "Folge-Flow für Befehl %s nicht gestartet (%s); der Fristenlauf holt es nach",
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
