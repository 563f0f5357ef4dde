"""Handing a committed command's follow-ups to Prefect's task worker, never in the request.

A state change is committed in the API request (`api.service.submit`); its e-mails wait
as outbox rows (`models.tables.Notification`). After the commit the request only puts the
command id in a queue of its API process (`Background.start`, microseconds) and answers.
A thread of the process (`Background`) takes what queued up and hands it to the task
worker with ``flows.commands.carry_out.delay(command_ids)`` (`delay_follow_ups`): one
task run per command when they come one by one, one for all that queued up within
`LINGER` seconds under a burst (coalescing: the Prefect server is not the bottleneck at
hundreds of events a second). The long-running task worker (``kel task-worker``) runs
them in its own process.

Nothing is lost when Prefect is slow or down: the request never waits for it; a failed
hand-over is logged (counts only) and dropped, and so is a command when the queue is full
(`CAPACITY`); the hourly deadline sweep sends every pending notification. Without a
Prefect server (no ``PREFECT_API_URL``) the sweep alone sends them (`InProcess`).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from models.urls import case_tag

log = logging.getLogger("kel.api")

#: Seconds the thread waits after the first queued command for more (debounce): the
#: follow-ups of a burst share task runs; an e-mail is at most this much later.
LINGER = 0.2
#: At most this many commands per task run.
MAX_BATCH = 100
#: Commands waiting in one API process at most; more are left to the sweep.
CAPACITY = 10_000


class FlowTrigger(Protocol):
    """Starts the follow-ups (e-mails) of a committed command without waiting; returns an
    id of what it started, or None. `references`: the Aktenzeichen of the cases the command
    changed (the run's tags ``fall-<Aktenzeichen>``); `name`: the run's name
    (`models.run_names.follow_up_run_name`), so the Prefect UI never shows a random name
    while the run waits for the task worker."""

    def start(
        self, command_id: int, references: list[str], name: str | None = None
    ) -> str | None: ...


class InProcess:
    """No Prefect server: follow-ups are left to the next deadline sweep."""

    def start(self, command_id: int, references: list[str], name: str | None = None) -> str | None:
        return None


@dataclass(frozen=True)
class Pending:
    """A committed command waiting to be handed to the task worker."""

    command_id: int
    references: tuple[str, ...]
    name: str | None


#: Hands command ids to the task worker: ``(command_ids, references, name)``; raises
#: when Prefect cannot be reached.
Submit = Callable[[list[int], list[str], str | None], None]


def delay_follow_ups(command_ids: list[int], references: list[str], name: str | None) -> None:
    """``carry_out.delay(command_ids)`` named `name` (several commands:
    `flows.commands.batch_name`; the run's name until the task worker names it) and
    tagged ``fall-<Aktenzeichen>`` per case of `references`, up to
    `tasks.prefect_view.MAX_CASE_TAGS` cases (none beyond: an unreadable tag list).
    Blocks for the Prefect API's answer; raises when it cannot be reached."""
    from prefect import tags

    from flows.commands import batch_name, carry_out
    from tasks.prefect_view import MAX_CASE_TAGS

    if len(command_ids) > 1:
        name = batch_name(len(command_ids))
    case_tags = [case_tag(r) for r in references] if len(references) <= MAX_CASE_TAGS else []
    task = carry_out.with_options(name=name) if name else carry_out
    with tags(*case_tags):
        task.delay(command_ids)


class Background:
    """Hands commands to the task worker from a thread of this process (see the module).

    `submit` does the hand-over (default `delay_follow_ups`); `linger` (seconds),
    `max_batch` and `capacity` as `LINGER`, `MAX_BATCH`, `CAPACITY`; `clock` is the
    monotonic clock of the linger (tests inject one). The thread starts with the first
    command (after a fork, anew in the child)."""

    def __init__(
        self,
        submit: Submit = delay_follow_ups,
        *,
        linger: float = LINGER,
        max_batch: int = MAX_BATCH,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.submit, self.linger, self.max_batch, self.clock = submit, linger, max_batch, clock
        self.queue: queue.Queue[Pending] = queue.Queue(capacity)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def start(self, command_id: int, references: list[str], name: str | None = None) -> str | None:
        """Queue the command and return at once (None: the run's id is not known yet)."""
        try:
            self.queue.put_nowait(Pending(command_id, tuple(references), name))
        except queue.Full:
            log.warning("Folgen von Befehl %s nicht übergeben (Warteschlange voll)", command_id)
            return None
        self._ensure_thread()
        return None

    def take(self) -> list[Pending]:
        """Wait for a command, then up to `linger` seconds for more (at most `max_batch`)."""
        batch = [self.queue.get()]
        until = self.clock() + self.linger
        while len(batch) < self.max_batch:
            try:
                batch.append(self.queue.get(timeout=max(0.0, until - self.clock())))
            except queue.Empty:
                break
        return batch

    def hand_over(self, batch: Sequence[Pending]) -> bool:
        """Hand `batch` to the task worker as one run; False (logged) when that failed:
        the deadline sweep sends their e-mails."""
        ids = [p.command_id for p in batch]
        references = sorted({r for p in batch for r in p.references})
        name = batch[0].name if len(batch) == 1 else None
        try:
            self.submit(ids, references, name)
        except Exception as exc:  # Prefect down or slow: the sweep sends the outbox later
            log.warning(
                "Folgen von %d Befehl(en) nicht an den Task-Worker übergeben (%s); "
                "der Fristenlauf holt sie nach",
                len(ids),
                type(exc).__name__,
            )
            return False
        return True

    def _ensure_thread(self) -> None:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if alive and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="kel-folgen", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self.hand_over(self.take())


def default_trigger() -> FlowTrigger:
    """`Background` when a Prefect server is configured, else `InProcess`."""
    from prefect.settings import PREFECT_API_URL

    return Background() if PREFECT_API_URL.value() else InProcess()
