"""Queue indexes

Revision ID: 7d1e0ac0e55e
Revises: 6c0ffee0f10e
Create Date: 2026-11-29 15:43:00
"""

from collections.abc import Sequence

revision: str = "7d1e0ac0e55e"
down_revision: str | None = "6c0ffee0f10e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
