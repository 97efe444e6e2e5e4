"""Staff sessions (keys sealed under a client-held session key) and login lockout

Revision ID: 5b7a55e55105
Revises: 4a0d17e5c0de
Create Date: 2026-11-29 15:41:00
"""

from collections.abc import Sequence

revision: str = "5b7a55e55105"
down_revision: str | None = "4a0d17e5c0de"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
