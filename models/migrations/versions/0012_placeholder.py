"""operations (sweep runs for health and watchdog, notification delivery claims)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25

PLACEHOLDER: the helper owning this migration fills upgrade()/downgrade() and renames
the file.
"""

from collections.abc import Sequence

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
