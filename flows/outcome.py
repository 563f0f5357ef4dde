"""How a flow run that sends e-mail ends: Completed, or Completed named "Mit Fehlern".

A sweep whose e-mails all failed must not look like a good run in the Prefect UI (issue 9,
point 3): the state's name says it, its message gives the counts, and a WARNING is logged
(visible even with ``PREFECT_LOGGING_LEVEL=WARNING``). Not Failed: the state changes of
the run are saved, and failed e-mails are sent by the next run.
"""

from __future__ import annotations

from typing import TypeVar

from prefect import State, get_run_logger
from prefect.states import Completed

from tasks.delivery import Delivered

#: The name of a completed run in which e-mails failed or were given up.
WITH_ERRORS = "Mit Fehlern"
#: The name of a completed run whose command the process refused (issue 10, point 2).
REJECTED = "Abgelehnt"

T = TypeVar("T")


def outcome(result: T, delivered: Delivered) -> T | State[T]:
    """`result` as it is when every e-mail went out; else a ``Completed`` state named
    `WITH_ERRORS` carrying `result` (a direct flow call still returns `result`)."""
    if not delivered.problems:
        return result
    summary = (
        f"E-Mails gesendet: {delivered.sent}, fehlgeschlagen: {delivered.failed}, "
        f"aufgegeben: {delivered.given_up}"
    )
    get_run_logger().warning("Lauf mit Fehlern: %s", summary)
    return Completed(name=WITH_ERRORS, message=summary, data=result)


def rejected(result: T, why: str) -> State[T]:
    """A ``Completed`` state named `REJECTED` with `why` (German, nothing identifying) as
    its message, logged as a WARNING: the run did its work (nothing to send for a refused
    command), so not Failed, but its name says that the step did not happen."""
    get_run_logger().warning("Abgelehnt: %s", why)
    return Completed(name=REJECTED, message=why, data=result)
