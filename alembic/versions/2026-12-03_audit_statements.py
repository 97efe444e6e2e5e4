"""Audit statements and log keys: the log's signed key rotations and restores, and every public
key that ever signed it (issue 13)

Both tables are append-only, like the log: the same triggers refuse UPDATE and DELETE. The
instance's first log key is copied from `instance_keys` (it signs from tree size 0).

Revision ID: 7c3e91a2d5b4
Revises: cfd568e41520
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from alembic import op

revision: str = "7c3e91a2d5b4"
down_revision: str | None = "cfd568e41520"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("audit_statements", "audit_log_keys")


def _triggers() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in _TABLES:
        if sqlite:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        else:  # the function comes with the initial schema
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
            )


def upgrade() -> None:
    op.create_table(
        "audit_statements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_statements")),
    )
    keys = op.create_table(
        "audit_log_keys",
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("verifier", sa.Text(), nullable=False),
        sa.Column("from_size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_audit_log_keys")),
    )
    _triggers()
    rows = op.get_bind().execute(
        sa.text("SELECT value FROM instance_keys WHERE name = 'audit_log_vkey'")
    )
    now = datetime.now(UTC)
    first = [
        {"key_id": value.split("+")[1], "verifier": value, "from_size": 0, "created_at": now}
        for (value,) in rows
    ]
    if first:
        op.bulk_insert(keys, first)


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
