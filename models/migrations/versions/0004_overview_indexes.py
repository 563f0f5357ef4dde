"""overview indexes: the dashboard's Übersicht with 100,000 cases in under 300 ms

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 23:30:00

* ``ix_referral_open_counts``: open cases by state, service type, provider and site are
  counted from this covering index alone (no table scan).
* ``ix_deadline_overdue``: open deadlines due before today, newest first, read as a
  range of the index; ``referral_id`` makes the count with the access join covering.
* ``ix_escalation_inbox``: the inbox (open, acknowledged) in order of arrival.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_referral_open_counts": ("referral", ["state", "service_type", "provider_id", "site"]),
    "ix_deadline_overdue": ("deadline", ["state", "due_on", "referral_id"]),
    "ix_escalation_inbox": ("escalation", ["state", "created_at", "referral_id"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
