"""Store chunk ciphertext uncompressed on PostgreSQL

Ciphertext never compresses; letting TOAST try wastes CPU on every upload.

Revision ID: 3c1f0e7b9a2d
Revises: 3db36c133eb7
Create Date: 2026-11-29 14:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3c1f0e7b9a2d"
down_revision: str | None = "3db36c133eb7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTENDED")
