"""Conflict requests: a conflict registered for someone else waits for a second supervisor

Revision ID: a16c68b49dfa
Revises: 1bb8f688a5c8
Create Date: 2026-12-03 08:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "a16c68b49dfa"
down_revision: str | None = "1bb8f688a5c8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "conflict_requests"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tokens", sa.LargeBinary(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_conflict_requests_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["staff_users.id"],
            name=op.f("fk_conflict_requests_requested_by_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflict_requests")),
        sa.UniqueConstraint(
            "staff_id", "kind", "value", name=op.f("uq_conflict_requests_staff_id")
        ),
    )
    with op.batch_alter_table(TABLE) as batch:
        batch.create_index(batch.f("ix_conflict_requests_staff_id"), ["staff_id"])


def downgrade() -> None:
    op.drop_table(TABLE)
