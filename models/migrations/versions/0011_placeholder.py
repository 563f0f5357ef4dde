"""worklists (the last visit of the escalation inbox per user)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25

PLACEHOLDER: the helper owning this migration fills upgrade()/downgrade() and renames
the file.
"""

from collections.abc import Sequence

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
