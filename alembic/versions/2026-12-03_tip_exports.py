"""Referral exports: one row per used export approval (issue 13)

Revision ID: 5e7a1c0de13b
Revises: 7c3e91a2d5b4
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "5e7a1c0de13b"
down_revision: str | None = "7c3e91a2d5b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tip_exports",
        sa.Column("approval_id", sa.Uuid(), nullable=False),
        sa.Column("tip_id", sa.Uuid(), nullable=False),
        sa.Column("exported_by", sa.Uuid(), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("audit_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name=op.f("fk_tip_exports_approval_id_approvals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tip_id"], ["tips.id"], name=op.f("fk_tip_exports_tip_id_tips"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["exported_by"],
            ["staff_users.id"],
            name=op.f("fk_tip_exports_exported_by_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("approval_id", name=op.f("pk_tip_exports")),
    )
    op.create_index(op.f("ix_tip_exports_tip_id"), "tip_exports", ["tip_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tip_exports_tip_id"), table_name="tip_exports")
    op.drop_table("tip_exports")
