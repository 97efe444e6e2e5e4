"""Idempotency rows expire: a coarse end of the replay window, for the worker to delete them

Revision ID: 40ceb9ba3e2b
Revises: 262dc66e67db
Create Date: 2026-12-03 08:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "40ceb9ba3e2b"
down_revision: str | None = "262dc66e67db"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    # Rows from before windows existed replay no more; the worker deletes them in a while.
    op.execute("UPDATE idempotency SET expires_at = CURRENT_TIMESTAMP")
    with op.batch_alter_table("idempotency") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency") as batch:
        batch.drop_column("expires_at")
