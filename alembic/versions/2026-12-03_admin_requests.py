"""Admin requests, and the membership bootstrap closed for good once a supervisor was approved

Revision ID: 1bb8f688a5c8
Revises: a2b3c4d5e6f7
Create Date: 2026-12-03 08:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "1bb8f688a5c8"
down_revision: str | None = "a2b3c4d5e6f7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "admin_requests"
CLOSED = "membership_bootstrap_closed"


def _fk(column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{TABLE}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("compartment_id", sa.Uuid(), nullable=False),
        sa.Column("previous_compartment_id", sa.Uuid(), nullable=True),
        sa.Column("agency_id", sa.Uuid(), nullable=True),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        _fk("compartment_id", "compartments", "CASCADE"),
        _fk("previous_compartment_id", "compartments", "SET NULL"),
        _fk("agency_id", "agencies", "SET NULL"),
        _fk("staff_id", "staff_users", "CASCADE"),
        _fk("requested_by", "staff_users", "SET NULL"),
        _fk("decided_by", "staff_users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
    )
    with op.batch_alter_table(TABLE) as batch:
        batch.create_index(batch.f(f"ix_{TABLE}_status"), ["status"])
        batch.create_index(batch.f(f"ix_{TABLE}_compartment_id"), ["compartment_id"])
    # An instance that has approved a supervisor is past its bootstrap: record it, so removing
    # that supervisor later never reopens it.
    op.execute(
        sa.text(
            "INSERT INTO instance_keys (name, value, created_at) "
            "SELECT :name, 'closed', CURRENT_TIMESTAMP WHERE EXISTS ("
            "SELECT 1 FROM compartment_members m JOIN staff_users s ON s.id = m.staff_id "
            "WHERE m.approved_at IS NOT NULL AND s.role = 'supervisor')"
        ).bindparams(name=CLOSED)
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM instance_keys WHERE name = :name").bindparams(name=CLOSED))
    op.drop_table(TABLE)
