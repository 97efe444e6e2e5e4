"""Token indexes: one blind index per token of a tip's subjects and of each conflict, so that
spelling variants ("Unit 3 Bridge", "Bridge Unit No. 03") match a conflict on "Bridge Unit 3"

Nothing is backfilled: the server holds the blind-index key but not the subjects (they are
encrypted), so tips received before keep their whole-value indexes only (still matched), and
conflicts registered before get their tokens when registered again (docs/security.md).

Revision ID: 80116cbc1c32
Revises: a16c68b49dfa
Create Date: 2026-12-03 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "80116cbc1c32"
down_revision: str | None = "a16c68b49dfa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subject_tokens",
        sa.Column("tip_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("token", sa.LargeBinary(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["tip_id"], ["tips.id"], name=op.f("fk_subject_tokens_tip_id_tips"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tip_id", "kind", "token", name=op.f("pk_subject_tokens")),
    )
    with op.batch_alter_table("subject_tokens") as batch:
        batch.create_index(batch.f("ix_subject_tokens_token"), ["token"], unique=False)
    op.create_table(
        "staff_conflict_tokens",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("conflict", sa.LargeBinary(length=32), nullable=False),
        sa.Column("token", sa.LargeBinary(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id", "kind", "conflict"],
            ["staff_conflicts.staff_id", "staff_conflicts.kind", "staff_conflicts.value"],
            name=op.f("fk_staff_conflict_tokens_staff_id_staff_conflicts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "staff_id", "kind", "conflict", "token", name=op.f("pk_staff_conflict_tokens")
        ),
    )
    with op.batch_alter_table("staff_conflict_tokens") as batch:
        batch.create_index(batch.f("ix_staff_conflict_tokens_token"), ["token"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_conflict_tokens") as batch:
        batch.drop_index(batch.f("ix_staff_conflict_tokens_token"))
    op.drop_table("staff_conflict_tokens")
    with op.batch_alter_table("subject_tokens") as batch:
        batch.drop_index(batch.f("ix_subject_tokens_token"))
    op.drop_table("subject_tokens")
