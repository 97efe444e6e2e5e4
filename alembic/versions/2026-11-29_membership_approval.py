"""Membership approval: a compartment membership counts only once a supervisor approved it

Revision ID: a2b3c4d5e6f7
Revises: 9a1c2e3f4b5d
Create Date: 2026-11-29 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "a2b3c4d5e6f7"
down_revision: str | None = "9a1c2e3f4b5d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_compartment_members_approved_by_staff_users"


def upgrade() -> None:
    with op.batch_alter_table("compartment_members") as batch:
        batch.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            batch.f(FK), "staff_users", ["approved_by"], ["id"], ondelete="SET NULL"
        )
    # Memberships made before four-eyes existed stay in force (approved by nobody in particular).
    op.execute("UPDATE compartment_members SET approved_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("compartment_members") as batch:
        batch.drop_constraint(batch.f(FK), type_="foreignkey")
        batch.drop_column("approved_by")
        batch.drop_column("approved_at")
