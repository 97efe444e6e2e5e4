"""Initial schema: every table of Probity 0.1.0

Squashes the seventeen revisions written while 0.1.0 was developed. It keeps the id of their
head, so a database already there stays at head; a fresh database gets the same schema, names
included. Their data steps (backfills, the bootstrap-closed marker) only ever touched existing
rows: on an empty database they had nothing to do, so nothing of them is left here.

Revision ID: cfd568e41520
Revises:
Create Date: 2026-12-03 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "cfd568e41520"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables in the order they are created; downgrade drops them in reverse.
_TABLES = (
    "compartments",
    "instance_keys",
    "staff_users",
    "agencies",
    "compartment_members",
    "staff_sessions",
    "login_throttles",
    "staff_conflicts",
    "staff_conflict_tokens",
    "conflict_requests",
    "admin_requests",
    "audit_pending",
    "idempotency",
    "receipt_lockouts",
    "tips",
    "blobs",
    "blob_chunks",
    "envelopes",
    "subject_indexes",
    "subject_tokens",
    "tip_audience",
    "attachments",
    "messages",
    "notes",
    "tip_findings",
    "approvals",
    "pending_access_changes",
    "identity_grants",
    "audit_entries",
    "audit_nodes",
    "audit_checkpoints",
)
_AUDIT_TABLES = ("audit_entries", "audit_nodes", "audit_checkpoints")
# An INTEGER primary key is SQLite's rowid; elsewhere a log position needs 64 bits.
_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _uuid(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Uuid(), nullable=nullable)


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def _bytes(name: str, length: int | None = None, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.LargeBinary(length=length), nullable=nullable)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def _pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def _unique(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{columns[0]}"))


def _index(table: str, column: str) -> None:
    op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def _staff() -> None:
    op.create_table(
        "compartments",
        _uuid("id"),
        _text("name", 64),
        sa.Column("oversight", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        _time("created_at"),
        _pk("compartments", "id"),
        _unique("compartments", "name"),
    )
    op.create_table(
        "instance_keys",
        _text("name", 64),
        sa.Column("value", sa.Text(), nullable=False),
        _time("created_at"),
        _pk("instance_keys", "name"),
    )
    op.create_table(
        "staff_users",
        _uuid("id"),
        _text("username", 64),
        sa.Column(
            "role",
            sa.Enum(
                "reviewer",
                "supervisor",
                "admin",
                "auditor",
                name="role",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        _text("recipient", 100),
        _bytes("sealed_secrets", nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        _time("locked_until", nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"),
        _time("enrolled_at", nullable=True),
        _bytes("enrolment_hash", 32, nullable=True),
        _time("enrolment_expires_at", nullable=True),
        _pk("staff_users", "id"),
        _unique("staff_users", "username"),
        _unique("staff_users", "enrolment_hash"),
    )
    op.create_table(
        "agencies",
        _uuid("id"),
        _text("slug", 64),
        _text("name_en", 200),
        _text("name_es", 200),
        _text("country", 2),
        _uuid("compartment_id"),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"),
        _fk("agencies", "compartment_id", "compartments", "RESTRICT"),
        _pk("agencies", "id"),
        _unique("agencies", "slug"),
    )
    _index("agencies", "compartment_id")
    op.create_table(
        "compartment_members",
        _uuid("compartment_id"),
        _uuid("staff_id"),
        _time("created_at"),
        _time("approved_at", nullable=True),
        _uuid("approved_by", nullable=True),
        _fk("compartment_members", "compartment_id", "compartments", "CASCADE"),
        _fk("compartment_members", "staff_id", "staff_users", "CASCADE"),
        _fk("compartment_members", "approved_by", "staff_users", "SET NULL"),
        _pk("compartment_members", "compartment_id", "staff_id"),
    )
    _index("compartment_members", "staff_id")


def _staff_sessions() -> None:
    op.create_table(
        "staff_sessions",
        _uuid("id"),
        _uuid("staff_id"),
        _bytes("sealed_identity"),
        _time("created_at"),
        _time("last_seen_at"),
        _time("expires_at"),
        _time("revoked_at", nullable=True),
        _fk("staff_sessions", "staff_id", "staff_users", "CASCADE"),
        _pk("staff_sessions", "id"),
    )
    _index("staff_sessions", "staff_id")
    op.create_table(
        "login_throttles",
        _bytes("name_hmac", 32),
        sa.Column("failures", sa.Integer(), nullable=False),
        _time("locked_until", nullable=True),
        _time("last_failed_at"),
        _pk("login_throttles", "name_hmac"),
    )
    _index("login_throttles", "last_failed_at")


def _conflicts() -> None:
    op.create_table(
        "staff_conflicts",
        _uuid("staff_id"),
        _text("kind", 8),
        _bytes("value", 32),
        _time("created_at", nullable=True),
        _fk("staff_conflicts", "staff_id", "staff_users", "CASCADE"),
        _pk("staff_conflicts", "staff_id", "kind", "value"),
    )
    _index("staff_conflicts", "value")
    op.create_table(
        "staff_conflict_tokens",
        _uuid("staff_id"),
        _text("kind", 8),
        _bytes("conflict", 32),
        _bytes("token", 16),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id", "kind", "conflict"],
            ["staff_conflicts.staff_id", "staff_conflicts.kind", "staff_conflicts.value"],
            name=op.f("fk_staff_conflict_tokens_staff_id_staff_conflicts"),
            ondelete="CASCADE",
        ),
        _pk("staff_conflict_tokens", "staff_id", "kind", "conflict", "token"),
    )
    _index("staff_conflict_tokens", "token")
    op.create_table(
        "conflict_requests",
        _uuid("id"),
        _uuid("staff_id"),
        _text("kind", 8),
        _bytes("value", 32),
        _bytes("tokens"),
        _uuid("requested_by", nullable=True),
        _time("created_at"),
        _fk("conflict_requests", "staff_id", "staff_users", "CASCADE"),
        _fk("conflict_requests", "requested_by", "staff_users", "SET NULL"),
        _pk("conflict_requests", "id"),
        _unique("conflict_requests", "staff_id", "kind", "value"),
    )
    _index("conflict_requests", "staff_id")


def _admin_requests() -> None:
    table = "admin_requests"
    op.create_table(
        table,
        _uuid("id"),
        _text("kind", 24),
        _text("status", 12),
        _uuid("compartment_id"),
        _uuid("previous_compartment_id", nullable=True),
        _uuid("agency_id", nullable=True),
        _uuid("staff_id", nullable=True),
        _uuid("requested_by", nullable=True),
        _time("requested_at"),
        _uuid("decided_by", nullable=True),
        _time("decided_at", nullable=True),
        _fk(table, "compartment_id", "compartments", "CASCADE"),
        _fk(table, "previous_compartment_id", "compartments", "SET NULL"),
        _fk(table, "agency_id", "agencies", "SET NULL"),
        _fk(table, "staff_id", "staff_users", "CASCADE"),
        _fk(table, "requested_by", "staff_users", "SET NULL"),
        _fk(table, "decided_by", "staff_users", "SET NULL"),
        _pk(table, "id"),
    )
    _index(table, "status")
    _index(table, "compartment_id")


def _intake_state() -> None:
    op.create_table(
        "audit_pending",
        _uuid("id"),
        sa.Column("day", sa.Date(), nullable=False),
        _text("actor", 64),
        _text("action", 64),
        sa.Column("details", sa.JSON(), nullable=False),
        _pk("audit_pending", "id"),
    )
    op.create_table(
        "idempotency",
        _bytes("key_hash", 32),
        _bytes("body_hash", 32),
        _bytes("sealed_receipt"),
        sa.Column("created_on", sa.Date(), nullable=False),
        _time("expires_at"),
        _pk("idempotency", "key_hash"),
    )
    op.create_table(
        "receipt_lockouts",
        _text("lookup_id", 32),
        sa.Column("failures", sa.Integer(), nullable=False),
        _time("locked_until", nullable=True),
        _pk("receipt_lockouts", "lookup_id"),
    )


def _tips() -> None:
    op.create_table(
        "tips",
        _uuid("id"),
        _text("lookup_id", 32),
        _bytes("reporter_salt", 16),
        _text("reporter_recipient", 100),
        _uuid("compartment_id"),
        _uuid("agency_id", nullable=True),
        _text("status", 16),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("reporter_active_on", sa.Date(), nullable=False),
        _time("acknowledged_at", nullable=True),
        _uuid("priority_blob_id", nullable=True),
        _uuid("report_blob_id", nullable=True),
        _uuid("contact_blob_id", nullable=True),
        _text("conversation_recipient", 100),
        _text("case_recipient", 100),
        _text("identity_recipient", 100, nullable=True),
        _uuid("assignee_id", nullable=True),
        _text("closure_reason", 16, nullable=True),
        _time("closed_at", nullable=True),
        sa.Column("purged", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("next_deadline", sa.Date(), nullable=False),
        sa.Column("contested_on", sa.Date(), nullable=True),
        _fk("tips", "agency_id", "agencies", "RESTRICT"),
        _fk("tips", "compartment_id", "compartments", "RESTRICT"),
        _fk("tips", "assignee_id", "staff_users", "SET NULL"),
        _pk("tips", "id"),
        _unique("tips", "lookup_id"),
    )
    _index("tips", "compartment_id")
    _index("tips", "assignee_id")
    # The staff queue reads tips in this order, all of them or one assignee's.
    order: list[str | sa.TextClause] = [
        sa.text("urgent DESC"),
        sa.text("priority DESC"),
        "next_deadline",
        "id",
    ]
    op.create_index("ix_tips_queue", "tips", order)
    op.create_index("ix_tips_queue_assignee", "tips", ["assignee_id", *order])


def _blobs() -> None:
    op.create_table(
        "blobs",
        _uuid("id"),
        _uuid("tip_id"),
        _text("key_kind", 16),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        _fk("blobs", "tip_id", "tips", "CASCADE"),
        _pk("blobs", "id"),
    )
    _index("blobs", "tip_id")
    op.create_table(
        "blob_chunks",
        _uuid("blob_id"),
        sa.Column("seq", sa.Integer(), nullable=False),
        _bytes("data"),
        _fk("blob_chunks", "blob_id", "blobs", "CASCADE"),
        _pk("blob_chunks", "blob_id", "seq"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Ciphertext never compresses: letting TOAST try wastes CPU on every upload.
        op.execute("ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def _tip_keys() -> None:
    op.create_table(
        "envelopes",
        _uuid("tip_id"),
        _text("kind", 16),
        _bytes("data"),
        _fk("envelopes", "tip_id", "tips", "CASCADE"),
        _pk("envelopes", "tip_id", "kind"),
    )
    op.create_table(
        "subject_indexes",
        _uuid("tip_id"),
        _text("kind", 8),
        _bytes("value", 32),
        _fk("subject_indexes", "tip_id", "tips", "CASCADE"),
        _pk("subject_indexes", "tip_id", "kind", "value"),
    )
    _index("subject_indexes", "value")
    op.create_table(
        "subject_tokens",
        _uuid("tip_id"),
        _text("kind", 8),
        _bytes("token", 16),
        _fk("subject_tokens", "tip_id", "tips", "CASCADE"),
        _pk("subject_tokens", "tip_id", "kind", "token"),
    )
    _index("subject_tokens", "token")
    op.create_table(
        "tip_audience",
        _uuid("tip_id"),
        _uuid("staff_id"),
        sa.Column("identity_custodian", sa.Boolean(), nullable=False),
        _fk("tip_audience", "staff_id", "staff_users", "CASCADE"),
        _fk("tip_audience", "tip_id", "tips", "CASCADE"),
        _pk("tip_audience", "tip_id", "staff_id"),
    )
    _index("tip_audience", "staff_id")


def _tip_content() -> None:
    op.create_table(
        "attachments",
        _uuid("id"),
        _uuid("tip_id"),
        _uuid("blob_id"),
        _uuid("info_blob_id"),
        sa.Column("seq", sa.Integer(), nullable=False),
        _fk("attachments", "blob_id", "blobs", "CASCADE"),
        _fk("attachments", "info_blob_id", "blobs", "CASCADE"),
        _fk("attachments", "tip_id", "tips", "CASCADE"),
        _pk("attachments", "id"),
    )
    _index("attachments", "tip_id")
    op.create_table(
        "messages",
        _uuid("id"),
        _uuid("tip_id"),
        _uuid("author_id", nullable=True),
        _uuid("blob_id"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        _fk("messages", "author_id", "staff_users", "SET NULL"),
        _fk("messages", "blob_id", "blobs", "CASCADE"),
        _fk("messages", "tip_id", "tips", "CASCADE"),
        _pk("messages", "id"),
    )
    _index("messages", "tip_id")
    op.create_table(
        "notes",
        _uuid("id"),
        _uuid("tip_id"),
        _uuid("author_id", nullable=True),
        _text("kind", 16),
        _uuid("blob_id"),
        _time("created_at"),
        _fk("notes", "author_id", "staff_users", "SET NULL"),
        _fk("notes", "blob_id", "blobs", "CASCADE"),
        _fk("notes", "tip_id", "tips", "CASCADE"),
        _pk("notes", "id"),
    )
    _index("notes", "tip_id")
    op.create_table(
        "tip_findings",
        _uuid("tip_id"),
        _text("allegation", 32),
        _text("finding", 16),
        _fk("tip_findings", "tip_id", "tips", "CASCADE"),
        _pk("tip_findings", "tip_id", "allegation"),
    )


def _approvals() -> None:
    op.create_table(
        "approvals",
        _uuid("id"),
        _uuid("tip_id"),
        _text("kind", 24),
        _uuid("requested_by", nullable=True),
        _time("requested_at"),
        sa.Column("payload", sa.JSON(), nullable=False),
        _uuid("reason_blob_id", nullable=True),
        _text("status", 16),
        _uuid("decided_by", nullable=True),
        _time("decided_at", nullable=True),
        _uuid("decision_reason_blob_id", nullable=True),
        _fk("approvals", "decided_by", "staff_users", "SET NULL"),
        _fk("approvals", "decision_reason_blob_id", "blobs", "SET NULL"),
        _fk("approvals", "reason_blob_id", "blobs", "SET NULL"),
        _fk("approvals", "requested_by", "staff_users", "SET NULL"),
        _fk("approvals", "tip_id", "tips", "CASCADE"),
        _pk("approvals", "id"),
    )
    _index("approvals", "status")
    _index("approvals", "tip_id")
    op.create_table(
        "pending_access_changes",
        _uuid("id"),
        _uuid("tip_id"),
        _uuid("staff_id"),
        _text("op", 8),
        _text("reason", 16),
        _time("created_at"),
        _fk("pending_access_changes", "tip_id", "tips", "CASCADE"),
        _fk("pending_access_changes", "staff_id", "staff_users", "CASCADE"),
        _pk("pending_access_changes", "id"),
    )
    _index("pending_access_changes", "tip_id")
    _index("pending_access_changes", "staff_id")
    op.create_table(
        "identity_grants",
        _uuid("tip_id"),
        _uuid("staff_id"),
        _uuid("approved_by", nullable=True),
        _time("created_at"),
        _fk("identity_grants", "tip_id", "tips", "CASCADE"),
        _fk("identity_grants", "staff_id", "staff_users", "CASCADE"),
        _fk("identity_grants", "approved_by", "staff_users", "SET NULL"),
        _pk("identity_grants", "tip_id", "staff_id"),
    )
    _index("identity_grants", "staff_id")


def _audit_log() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("index", _POSITION, autoincrement=False, nullable=False),
        _text("time", 20),
        _text("actor", 64),
        _text("action", 64),
        _uuid("tip_id", nullable=True),
        _bytes("canonical"),
        _pk("audit_entries", "index"),
    )
    _index("audit_entries", "tip_id")
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        _bytes("hash", 32),
        _pk("audit_nodes", "level", "index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", _POSITION, autoincrement=False, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        _time("created_at"),
        _pk("audit_checkpoints", "size"),
    )


def _audit_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in _AUDIT_TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        return
    op.execute(
        "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in _AUDIT_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )


def upgrade() -> None:
    _staff()
    _staff_sessions()
    _conflicts()
    _admin_requests()
    _intake_state()
    _tips()
    _blobs()
    _tip_keys()
    _tip_content()
    _approvals()
    _audit_log()
    _audit_triggers()


def downgrade() -> None:
    # Dropping a table drops its indexes and triggers; the function is all that stays behind.
    for table in reversed(_TABLES):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_append_only()")
