"""Audit rows: the Merkle log (entries, interior nodes, signed checkpoints) and the pending table.

Reporter-caused events are written to `audit_pending`, in the same transaction as the change, and
appended to the log later in shuffled batches so their position cannot date them (design section
5). The three log tables are append-only: the audit_log migration installs triggers refusing
UPDATE and DELETE on both backends.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, new_id, utcnow

__all__ = [
    "AuditCheckpoint",
    "AuditEntry",
    "AuditLogKey",
    "AuditNode",
    "AuditStatement",
    "PendingAuditEntry",
]

# 64-bit on PostgreSQL; on SQLite an INTEGER primary key is the rowid itself (and 64-bit anyway).
_Position = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    index: Mapped[int] = mapped_column(_Position, primary_key=True, autoincrement=False)
    # RFC 3339 UTC to the second for staff/system entries, YYYY-MM-DD for reporter-caused ones:
    # exactly the text in `canonical`.
    time: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    tip_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    # The exact bytes whose leaf hash is in the tree; objects and details are read from here.
    canonical: Mapped[bytes] = mapped_column(LargeBinary)


class AuditNode(Base):
    """The hash of every complete subtree: level 0 are leaf hashes, (level, index) covers
    leaves [index * 2**level, (index + 1) * 2**level)."""

    __tablename__ = "audit_nodes"
    # SQLite: the primary key is the table (one b-tree to write per node, not two).
    __table_args__ = ({"sqlite_with_rowid": False},)

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(_Position, primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingAuditEntry(Base):
    __tablename__ = "audit_pending"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    day: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(64))  # "reporter"
    action: Mapped[str] = mapped_column(String(64))
    # Object ids and allowlisted details only; never content or reporter data.
    details: Mapped[dict[str, str]] = mapped_column(JSON)


class AuditStatement(Base):
    """A signed statement about the log itself (crypto.statement): a key rotation or a restore
    from backup. Exported with the entries; append-only like the log."""

    __tablename__ = "audit_statements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # "key_rotation" | "restore"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text)


class AuditLogKey(Base):
    """Every public key that ever signed the log (the signature line of a checkpoint names its
    key by name and id); `from_size` is the first tree size it signs beyond. Append-only."""

    __tablename__ = "audit_log_keys"

    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)  # hex, as in the key text
    verifier: Mapped[str] = mapped_column(Text)
    from_size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
