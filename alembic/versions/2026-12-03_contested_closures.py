"""Contested closures: the date a reporter contested their tip's closure (date only)

Revision ID: 262dc66e67db
Revises: 80116cbc1c32
Create Date: 2026-12-03 08:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "262dc66e67db"
down_revision: str | None = "80116cbc1c32"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tips") as batch:
        batch.add_column(sa.Column("contested_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tips") as batch:
        batch.drop_column("contested_on")
