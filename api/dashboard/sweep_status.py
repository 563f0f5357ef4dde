"""The line "Fristenprüfung zuletzt: …" on the overview (template ``_sweep_status.html.j2``).

Staff see when the deadline sweep last completed and, marked with text and a class, when
it is overdue (`tasks.watch.sweep_status`, ``KEL_SWEEP_STALE_AFTER``). Providers do not
see it: it is the jobcenter's operation, not theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from sqlmodel import Session

from models.clock import BERLIN
from models.settings import Settings
from models.tables import Role, User
from tasks.watch import sweep_status


@dataclass(frozen=True)
class SweepLine:
    """What the include shows: `last` as German text ("25.11.2026, 14:05 Uhr" or "noch
    nie"), whether it is `stale`, and the allowed age in words ("2 Stunden")."""

    last: str
    stale: bool
    allowed: str


def sweep_line(request: Request, session: Session, now: datetime, user: User) -> SweepLine | None:
    """The sweep line for `user` at `now` (None for providers)."""
    if user.role == Role.provider:
        return None
    settings: Settings = request.app.state.settings
    status = sweep_status(session, now, settings.sweep_stale_after)
    last = status.last_finished
    text = f"{last.astimezone(BERLIN):%d.%m.%Y, %H:%M} Uhr" if last else "noch nie"
    return SweepLine(text, status.overdue, duration(status.stale_after))


def duration(span: timedelta) -> str:
    """``"2 Stunden"``, ``"1 Stunde"``, ``"90 Minuten"``: whole hours when it is a whole
    number of hours, else minutes."""
    minutes = int(span.total_seconds() // 60)
    if minutes and minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} Stunde" if hours == 1 else f"{hours} Stunden"
    return f"{minutes} Minute" if minutes == 1 else f"{minutes} Minuten"
