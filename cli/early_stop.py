"""SIGTERM and SIGINT that arrive while a long-running part is still starting.

A worker imports Prefect for about two seconds before its event loop installs the
handlers that drain it (`cli.worker`, `cli.task_worker`). Without a handler then, an
operator's SIGTERM (or ``make down`` right after ``make up``) killed the process with
the signal's default action (exit -15) instead of a clean stop (exit 0). `EarlyStop` is
installed first thing in ``main`` and only notes the signal; the event loop asks
`EarlyStop.requested` once its own handlers are in place and then stops at once.
"""

from __future__ import annotations

import signal
from types import FrameType


class EarlyStop:
    """Notes SIGTERM and SIGINT until the caller's own handlers replace it."""

    def __init__(self) -> None:
        self.signals: list[int] = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._note)

    def _note(self, signum: int, _: FrameType | None) -> None:
        self.signals.append(signum)

    @property
    def requested(self) -> bool:
        """Whether a stop signal came before the caller's handlers were installed."""
        return bool(self.signals)
