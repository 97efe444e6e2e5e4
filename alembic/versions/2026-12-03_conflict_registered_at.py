"""Conflicts: when each was registered (older rows: unknown, NULL)

Oversight supervisors decide a closure as the conflicts stood when it was filed, so registering
one's own conflict later cannot reveal whether an unread tip names it (service.approvals.oversight).

Revision ID: cfd568e41520
Revises: 40ceb9ba3e2b
Create Date: 2026-12-03 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "cfd568e41520"
down_revision: str | None = "40ceb9ba3e2b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_conflicts") as batch:
        batch.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_conflicts") as batch:
        batch.drop_column("created_at")
