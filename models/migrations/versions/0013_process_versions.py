"""versioned process definitions (issue 10, point 4)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25

* ``processversion``: one row per version of a Leistungsart's definition (the canonical
  JSON of its ``ServiceConfig`` and its SHA-256 prefix), recorded when the first referral
  starts on it (`tasks.process_versions`).
* ``referral.process_version``: the version a referral runs on. Existing referrals keep
  NULL: they follow the current definition, as before, until ``kel process migrate-cases``
  pins them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_type", "version"),
    )
    with op.batch_alter_table("processversion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processversion_service_type"), ["service_type"], unique=False
        )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("process_version", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_column("process_version")
    with op.batch_alter_table("processversion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processversion_service_type"))
    op.drop_table("processversion")
