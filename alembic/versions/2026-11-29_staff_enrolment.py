"""Staff enrolment: one-time enrolment tokens, no keys until enrolled, login failure counters

Revision ID: 9a1c2e3f4b5d
Revises: 8e5a1b2c3d4f
Create Date: 2026-11-29 16:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "9a1c2e3f4b5d"
down_revision: str | None = "8e5a1b2c3d4f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("enrolment_hash", sa.LargeBinary(length=32), nullable=True))
        batch.add_column(
            sa.Column("enrolment_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.alter_column("sealed_secrets", existing_type=sa.LargeBinary(), nullable=True)
        batch.create_unique_constraint(batch.f("uq_staff_users_enrolment_hash"), ["enrolment_hash"])
    # Accounts made before enrolment existed chose nothing later: they count as enrolled.
    op.execute("UPDATE staff_users SET enrolled_at = created_at")
    op.create_table(
        "login_throttles",
        sa.Column("name_hmac", sa.LargeBinary(length=32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name_hmac", name=op.f("pk_login_throttles")),
    )
    with op.batch_alter_table("login_throttles") as batch:
        batch.create_index(batch.f("ix_login_throttles_last_failed_at"), ["last_failed_at"])


def downgrade() -> None:
    op.drop_table("login_throttles")
    # Accounts that never enrolled have no keys; the old schema cannot hold them.
    op.execute("DELETE FROM staff_users WHERE sealed_secrets IS NULL")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint(batch.f("uq_staff_users_enrolment_hash"), type_="unique")
        batch.alter_column("sealed_secrets", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("enrolment_expires_at")
        batch.drop_column("enrolment_hash")
        batch.drop_column("enrolled_at")
