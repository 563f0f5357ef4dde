"""escalations reflect reality: resolution, who resolved, ladder level, raised at

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

New columns of `escalation` (issue 8; `tasks.escalations`): ``resolution`` (German reason
of the resolution), ``resolved_by`` (user name or ``system``), ``level`` (1 Koordination,
2 second step; existing rows 1) and ``raised_at``.

Data step, in the words of the running system (`tasks.escalations.resolution`):

- every open or acknowledged escalation whose deadline is met is resolved with
  "erledigt: Frist erfüllt am <completed_on>"; else, when its referral is closed
  (``closed_on`` or ``outcome`` set), "Fall abgeschlossen am <closed_on>"; else, when its
  deadline is cancelled, "erledigt: Frist entfallen am <completed_on>"; with
  ``resolved_at`` = the time of the migration and ``resolved_by = 'system'``;
- stored reasons lose the day count frozen at creation ("… seit 8 Tagen überfällig
  (fällig am …)" becomes "… überfällig (fällig am …)"): the days are counted when shown.

No audit entries are written for these resolutions: the audit trail is hash-chained
(migration 0007, `tasks.audit_trail.append`, with a trigger refusing rows out of order),
and a migration cannot append links to it without the application's code. The
``resolved_by = 'system'`` and the resolution text on the row record what happened.
The downgrade drops the columns; the resolutions (state, resolved_at) and the shortened
reasons stay.
"""

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FROZEN_DAYS = re.compile(r" seit \d+ Tag(?:en)? überfällig")


def upgrade() -> None:
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resolution", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("resolved_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(sa.Column("level", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("raised_at", models.tables.UTCDateTime(timezone=True), nullable=True)
        )
    _resolve_stale(datetime.now(UTC))
    _unfreeze_reasons()


def downgrade() -> None:
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.drop_column("raised_at")
        batch_op.drop_column("level")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("resolution")


_escalation = sa.table(
    "escalation",
    sa.column("id", sa.Integer),
    sa.column("referral_id", sa.Integer),
    sa.column("deadline_id", sa.Integer),
    sa.column("reason", sa.String),
    sa.column("state", sa.String),
    sa.column("resolved_at", models.tables.UTCDateTime(timezone=True)),
    sa.column("resolution", sa.String),
    sa.column("resolved_by", sa.String),
)
_deadline = sa.table(
    "deadline",
    sa.column("id", sa.Integer),
    sa.column("state", sa.String),
    sa.column("completed_on", sa.Date),
)
_referral = sa.table(
    "referral",
    sa.column("id", sa.Integer),
    sa.column("outcome", sa.String),
    sa.column("closed_on", sa.Date),
)


def _resolve_stale(now: datetime) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            _escalation.c.id,
            _deadline.c.state,
            _deadline.c.completed_on,
            _referral.c.outcome,
            _referral.c.closed_on,
        )
        .join(_deadline, _deadline.c.id == _escalation.c.deadline_id)
        .join(_referral, _referral.c.id == _escalation.c.referral_id)
        .where(_escalation.c.state.in_(("open", "acknowledged")))
    ).all()
    for escalation_id, state, completed_on, outcome, closed_on in rows:
        closed = closed_on is not None or outcome is not None
        text = _resolution(state, completed_on, closed_on, closed)
        if text is None:
            continue
        bind.execute(
            _escalation.update()
            .where(_escalation.c.id == escalation_id)
            .values(state="resolved", resolved_at=now, resolution=text, resolved_by="system")
        )


def _resolution(
    state: str, completed_on: date | None, closed_on: date | None, closed: bool
) -> str | None:
    """As `tasks.escalations.resolution` at revision 0009 (frozen here)."""
    if state == "met":
        return f"erledigt: Frist erfüllt am {_datum(completed_on)}"
    if closed:
        return "Fall abgeschlossen" + (f" am {_datum(closed_on)}" if closed_on else "")
    if state == "cancelled":
        return "erledigt: Frist entfallen" + (f" am {_datum(completed_on)}" if completed_on else "")
    return None


def _datum(day: date | None) -> str:
    return f"{day:%d.%m.%Y}" if day else "–"


def _unfreeze_reasons() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_escalation.c.id, _escalation.c.reason).where(
            _escalation.c.reason.like("% seit % überfällig%")
        )
    ).all()
    for escalation_id, reason in rows:
        fixed = _FROZEN_DAYS.sub(" überfällig", reason, count=1)
        if fixed != reason:
            bind.execute(
                _escalation.update().where(_escalation.c.id == escalation_id).values(reason=fixed)
            )
