"""Tip key recipients on the tip row; one staff envelope holds the conversation and case keys

The audience always receives the conversation and case keys together, so they share one envelope
(half the X25519 stanzas at intake); the reporter gets the conversation key in an envelope of
their own. Pre-release: envelopes written before this revision keep their old kinds.

Revision ID: 3f5e1a0b7c11
Revises: 3c1f0e7b9a2d
Create Date: 2026-11-29 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "3f5e1a0b7c11"
down_revision: str | None = "3c1f0e7b9a2d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("conversation", "case", "identity")


def upgrade() -> None:
    with op.batch_alter_table("tips") as batch:
        for kind in _KINDS:
            batch.add_column(sa.Column(f"{kind}_recipient", sa.String(length=100), nullable=True))
    for kind in _KINDS:
        op.execute(
            f"UPDATE tips SET {kind}_recipient = (SELECT public_key FROM envelopes "  # noqa: S608
            f"WHERE envelopes.tip_id = tips.id AND envelopes.kind = '{kind}')"
        )
    op.execute("UPDATE tips SET conversation_recipient = '' WHERE conversation_recipient IS NULL")
    op.execute("UPDATE tips SET case_recipient = '' WHERE case_recipient IS NULL")
    with op.batch_alter_table("tips") as batch:
        batch.alter_column("conversation_recipient", nullable=False)
        batch.alter_column("case_recipient", nullable=False)
    with op.batch_alter_table("envelopes") as batch:
        batch.drop_column("public_key")


def downgrade() -> None:
    with op.batch_alter_table("envelopes") as batch:
        batch.add_column(sa.Column("public_key", sa.String(length=100), nullable=True))
    for kind in _KINDS:
        op.execute(
            f"UPDATE envelopes SET public_key = (SELECT {kind}_recipient FROM tips "  # noqa: S608
            f"WHERE tips.id = envelopes.tip_id) WHERE kind = '{kind}'"
        )
    op.execute("UPDATE envelopes SET public_key = '' WHERE public_key IS NULL")
    with op.batch_alter_table("envelopes") as batch:
        batch.alter_column("public_key", nullable=False)
    with op.batch_alter_table("tips") as batch:
        for kind in _KINDS:
            batch.drop_column(f"{kind}_recipient")
