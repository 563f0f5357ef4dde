"""administration: sites as records; provider address, phone, appointment hint, active flag

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25

Existing sites (the distinct `site` values of referrals, customers, users and providers'
site lists) become `site` rows with Land NW, the shipped default (DESIGN, Düsseldorf).
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("phone", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("appointment_hint", sa.String(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    site = op.create_table(
        "site",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("land", sa.String(), nullable=False, server_default="NW"),
        sa.Column("jobcenter", sa.String(), nullable=False, server_default=""),
        sa.Column("address", sa.String(), nullable=False, server_default=""),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_index("ix_site_code", "site", ["code"], unique=True)
    bind = op.get_bind()
    codes: set[str] = set()
    for table in ("referral", "customer", "user"):
        rows = bind.execute(sa.text(f'SELECT DISTINCT site FROM "{table}"'))  # noqa: S608
        codes |= {r[0] for r in rows if r[0]}
    for (sites,) in bind.execute(sa.text("SELECT sites FROM provider")):
        codes |= set((json.loads(sites) if isinstance(sites, str) else sites) or [])
    if codes:
        op.bulk_insert(site, [{"code": c, "name": c, "land": "NW"} for c in sorted(codes)])


def downgrade() -> None:
    op.drop_index("ix_site_code", table_name="site")
    op.drop_table("site")
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.drop_column("active")
        batch_op.drop_column("appointment_hint")
        batch_op.drop_column("phone")
        batch_op.drop_column("address")
