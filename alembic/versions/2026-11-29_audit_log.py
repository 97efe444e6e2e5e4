"""Audit log: entries, Merkle nodes, checkpoints; append-only triggers

Revision ID: 4a0d17e5c0de
Revises: 3f5e1a0b7c11
Create Date: 2026-11-29 15:40:00
"""

from collections.abc import Sequence

revision: str = "4a0d17e5c0de"
down_revision: str | None = "3f5e1a0b7c11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
