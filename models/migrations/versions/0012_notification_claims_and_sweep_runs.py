"""operations (sweep runs for health and watchdog, notification delivery claims)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25

* ``notification.claimed_by``/``claimed_until``: the sender working a notification and
  the end of its lease (`tasks.delivery`): one sender per notification at a time, on
  SQLite as on PostgreSQL; a crashed sender's claim expires.
* ``sweeprun``: one row per completed deadline sweep (`flows.sweep.run_sweep`), read by
  ``GET /api/v1/health`` and the dashboard ("Fristenprüfung zuletzt").
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("claimed_until", models.tables.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "sweeprun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sweeprun", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sweeprun_finished_at"), ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sweeprun", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sweeprun_finished_at"))
    op.drop_table("sweeprun")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
