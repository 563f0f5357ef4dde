"""phases of the Schuldnerberatung (issue 10, point 6: Leistungsabschnitte LA 1-4)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25

* ``referralphase``: one row per phase period of a referral (``referral_id``, ``phase``,
  ``begun_on``, ``completed_on``; unique per referral and phase), written when the
  provider reports a phase begun or completed (`tasks.phases`).

A table rather than columns on ``referral``: the phases are configuration (``phases:`` of
a Leistungsart in the standards file, LA 1-4 in Aachen's Bericht 01, Phase 1/2 in Hamm's
§4.6.4), so their number is not fixed by the schema; a row keeps each phase's own begin
and completion (Bericht 01 counts per phase, "seit mehr als 90 Tagen nicht abgeschlossen"
on any Stichtag), and the case page's "aktuelle Phase seit" is the open row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "referralphase",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("phase", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("begun_on", sa.Date(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["referral_id"], ["referral.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("referral_id", "phase"),
    )
    with op.batch_alter_table("referralphase", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referralphase_referral_id"), ["referral_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("referralphase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referralphase_referral_id"))
    op.drop_table("referralphase")
