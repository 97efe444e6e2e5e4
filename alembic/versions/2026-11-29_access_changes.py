"""Access changes: pending envelope rewrites and identity reveal grants

Revision ID: 8e5a1b2c3d4f
Revises: 7d1e0ac0e55e
Create Date: 2026-11-29 15:44:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "8e5a1b2c3d4f"
down_revision: str | None = "7d1e0ac0e55e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "pending_access_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tip_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("pending_access_changes", "tip_id", "tips", "CASCADE"),
        _fk("pending_access_changes", "staff_id", "staff_users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_access_changes")),
    )
    with op.batch_alter_table("pending_access_changes") as batch:
        batch.create_index(batch.f("ix_pending_access_changes_tip_id"), ["tip_id"])
        batch.create_index(batch.f("ix_pending_access_changes_staff_id"), ["staff_id"])
    op.create_table(
        "identity_grants",
        sa.Column("tip_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("identity_grants", "tip_id", "tips", "CASCADE"),
        _fk("identity_grants", "staff_id", "staff_users", "CASCADE"),
        _fk("identity_grants", "approved_by", "staff_users", "SET NULL"),
        sa.PrimaryKeyConstraint("tip_id", "staff_id", name=op.f("pk_identity_grants")),
    )
    with op.batch_alter_table("identity_grants") as batch:
        batch.create_index(batch.f("ix_identity_grants_staff_id"), ["staff_id"])


def downgrade() -> None:
    op.drop_table("identity_grants")
    op.drop_table("pending_access_changes")
