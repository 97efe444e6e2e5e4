"""Workflow: allegations and findings, assignment, notes, flags, four-eyes approvals

Revision ID: 6c0ffee0f10e
Revises: 5b7a55e55105
Create Date: 2026-11-29 15:42:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "6c0ffee0f10e"
down_revision: str | None = "5b7a55e55105"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _staff_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["staff_users.id"],
        name=op.f(f"fk_{table}_{column}_staff_users"),
        ondelete="SET NULL",
    )


def _tip_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tip_id"], ["tips.id"], name=op.f(f"fk_{table}_tip_id_tips"), ondelete="CASCADE"
    )


def _tips_columns() -> None:
    with op.batch_alter_table("tips") as batch:
        batch.add_column(sa.Column("assignee_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("closure_reason", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("purged", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.create_foreign_key(
            batch.f("fk_tips_assignee_id_staff_users"),
            "staff_users",
            ["assignee_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(batch.f("ix_tips_assignee_id"), ["assignee_id"], unique=False)


def _notes_and_findings() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tip_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("blob_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _staff_fk("notes", "author_id"),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_notes_blob_id_blobs"), ondelete="CASCADE"
        ),
        _tip_fk("notes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    with op.batch_alter_table("notes") as batch:
        batch.create_index(batch.f("ix_notes_tip_id"), ["tip_id"], unique=False)
    op.create_table(
        "tip_findings",
        sa.Column("tip_id", sa.Uuid(), nullable=False),
        sa.Column("allegation", sa.String(length=32), nullable=False),
        sa.Column("finding", sa.String(length=16), nullable=False),
        _tip_fk("tip_findings"),
        sa.PrimaryKeyConstraint("tip_id", "allegation", name=op.f("pk_tip_findings")),
    )


def _approvals() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tip_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("reason_blob_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason_blob_id", sa.Uuid(), nullable=True),
        _staff_fk("approvals", "decided_by"),
        sa.ForeignKeyConstraint(
            ["decision_reason_blob_id"],
            ["blobs.id"],
            name=op.f("fk_approvals_decision_reason_blob_id_blobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reason_blob_id"],
            ["blobs.id"],
            name=op.f("fk_approvals_reason_blob_id_blobs"),
            ondelete="SET NULL",
        ),
        _staff_fk("approvals", "requested_by"),
        _tip_fk("approvals"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    with op.batch_alter_table("approvals") as batch:
        batch.create_index(batch.f("ix_approvals_status"), ["status"], unique=False)
        batch.create_index(batch.f("ix_approvals_tip_id"), ["tip_id"], unique=False)


def upgrade() -> None:
    _tips_columns()
    _notes_and_findings()
    _approvals()


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_index(batch.f("ix_approvals_tip_id"))
        batch.drop_index(batch.f("ix_approvals_status"))
    op.drop_table("approvals")
    op.drop_table("tip_findings")
    with op.batch_alter_table("notes") as batch:
        batch.drop_index(batch.f("ix_notes_tip_id"))
    op.drop_table("notes")
    with op.batch_alter_table("tips") as batch:
        batch.drop_index(batch.f("ix_tips_assignee_id"))
        batch.drop_constraint(batch.f("fk_tips_assignee_id_staff_users"), type_="foreignkey")
        batch.drop_column("purged")
        batch.drop_column("closed_at")
        batch.drop_column("closure_reason")
        batch.drop_column("assignee_id")
