"""data scope: a Schweigepflichtentbindung names the provider it releases data to

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25

`consent.provider_id` (seed 003; § 67b SGB X: consent per provider and purpose). Existing
consents were given while the referral had its current provider, so they are filled with
the referral's current `provider_id`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_consent_provider_id", ["provider_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_consent_provider_id_provider", "provider", ["provider_id"], ["id"]
        )
    consent = sa.table(
        "consent", sa.column("referral_id", sa.Integer), sa.column("provider_id", sa.Integer)
    )
    referral = sa.table(
        "referral", sa.column("id", sa.Integer), sa.column("provider_id", sa.Integer)
    )
    current_provider = (
        sa.select(referral.c.provider_id)
        .where(referral.c.id == consent.c.referral_id)
        .scalar_subquery()
    )
    op.execute(
        consent.update().where(consent.c.provider_id.is_(None)).values(provider_id=current_provider)
    )


def downgrade() -> None:
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_constraint("fk_consent_provider_id_provider", type_="foreignkey")
        batch_op.drop_index("ix_consent_provider_id")
        batch_op.drop_column("provider_id")
