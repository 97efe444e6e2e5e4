"""Workflow: allegations and findings, assignment, notes, flags, four-eyes approvals

Revision ID: 6c0ffee0f10e
Revises: 5b7a55e55105
Create Date: 2026-11-29 15:42:00
"""

from collections.abc import Sequence

revision: str = "6c0ffee0f10e"
down_revision: str | None = "5b7a55e55105"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
