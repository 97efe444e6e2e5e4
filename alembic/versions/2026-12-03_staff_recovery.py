"""Staff recovery: a recovered identity waits, sealed under the re-enrolment link's key

Adds `staff_users.recovered_identity`: the new X25519 identity `probity staff recover` made for a
member, sealed (ChaCha20-Poly1305) under a key derived from the one-time re-enrolment token, which
is never stored (only its hash, in `enrolment_hash`). Cleared when the member re-enrols.

Revision ID: 5f1c2a9e7b31
Revises: 5e7a1c0de13b
Create Date: 2026-12-03 18:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "5f1c2a9e7b31"
down_revision: str | None = "5e7a1c0de13b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("recovered_identity", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("recovered_identity")
