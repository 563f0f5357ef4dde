"""worklists (the last visit of the escalation inbox per user)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25

* ``user.escalations_seen_at``: when the user last opened the escalation inbox.
* ``user.escalations_new_since``: escalations created after it are marked "neu seit
  Ihrem letzten Besuch" (the end of the visit before the current one;
  ``api.dashboard.worklists.visit_inbox``).

The worklists need no new index: the case list's overdue order reads
``ix_deadline_overdue``, the inbox ``ix_escalation_inbox`` (migration 0004).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("escalations_seen_at", "escalations_new_since")


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
