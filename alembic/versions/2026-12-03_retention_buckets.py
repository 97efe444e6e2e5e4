"""Retention buckets: bucket keys, envelopes sealed under them, per-compartment retention

Migrations import no crypto, so existing envelopes are marked `unsealed`; the worker's first
retention sweep (service.retention.sweep) seals them under the key of the month their tip was
received, and the staff paths read them as they are until then. Downgrade refuses once any
envelope is sealed: without the keys in the table it would leave tips nobody can open.

Revision ID: 7b3e5a91c2d4
Revises: 5f1c2a9e7b31
Create Date: 2026-12-03 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "7b3e5a91c2d4"
down_revision: str | None = "5f1c2a9e7b31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSEALED = "unsealed"  # service.retention.buckets.UNSEALED


def upgrade() -> None:
    op.create_table(
        "retention_keys",
        sa.Column("bucket", sa.String(length=40), nullable=False),
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_retention_keys")),
    )
    op.add_column("compartments", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.add_column(
        "envelopes",
        sa.Column("bucket", sa.String(length=40), nullable=False, server_default=UNSEALED),
    )
    with op.batch_alter_table("envelopes") as batch:
        batch.alter_column("bucket", existing_type=sa.String(length=40), server_default=None)
    op.create_index(op.f("ix_envelopes_bucket"), "envelopes", ["bucket"])


def downgrade() -> None:
    sealed = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM envelopes WHERE bucket <> :unsealed"),
        {"unsealed": UNSEALED},
    )
    if sealed:
        raise RuntimeError(
            f"{sealed} envelopes are sealed under retention keys; downgrading would strand them"
        )
    op.drop_index(op.f("ix_envelopes_bucket"), table_name="envelopes")
    # Plain DROP COLUMN (SQLite 3.35+): a batch would rebuild `compartments`, which other
    # tables' rows reference, and fail on any database that has data.
    op.drop_column("envelopes", "bucket")
    op.drop_column("compartments", "retention_days")
    op.drop_table("retention_keys")
