"""Reading the log: entry ranges for the API (each read audited), export lines for the CLI, and
the stored entries folded into a Merkle tree (the signer's guard, the auditors' checkpoint check).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from crypto.merkle import TreeBuilder
from service.audit.canonical import AuditRecord, decode_entry
from service.audit.log import log_size, record
from service.audit.models import AuditEntry, AuditNode
from service.errors import BadRange

__all__ = ["MAX_ENTRIES", "StoredEntry", "append_stored_entries", "iter_stored", "read_entries"]

MAX_ENTRIES = 1000
_BATCH = 10_000
_TREE_BATCH = 5000


@dataclass(frozen=True, slots=True)
class StoredEntry:
    record: AuditRecord
    canonical: bytes


def read_entries(session: Session, start: int, end: int, *, reader: uuid.UUID) -> list[StoredEntry]:
    """Entries [start, min(end, size)), at most MAX_ENTRIES; the read itself becomes an entry."""
    if start < 0 or end < start:
        raise BadRange("need 0 <= start <= end")
    if end - start > MAX_ENTRIES:
        raise BadRange(f"at most {MAX_ENTRIES} entries per call")
    size = log_size(session)
    if start > size:
        raise BadRange("start is beyond the log")
    end = min(end, size)
    rows = session.scalars(
        select(AuditEntry.canonical)
        .where(AuditEntry.index >= start, AuditEntry.index < end)
        .order_by(AuditEntry.index)
    )
    found = [StoredEntry(decode_entry(bytes(c)), bytes(c)) for c in rows]
    record(session, actor=reader, action="audit.read", details={"start": start, "end": end})
    return found


def iter_stored(session: Session, size: int) -> Iterator[tuple[int, bytes, bytes]]:
    """(index, canonical, stored leaf hash) for entries [0, size), in batches by index."""
    node = and_(AuditNode.level == 0, AuditNode.index == AuditEntry.index)
    start = 0
    while start < size:
        stop = min(start + _BATCH, size)
        rows = (
            session.connection()
            .execute(
                select(AuditEntry.index, AuditEntry.canonical, AuditNode.hash)
                .join(AuditNode, node, isouter=True)
                .where(AuditEntry.index >= start, AuditEntry.index < stop)
                .order_by(AuditEntry.index)
            )
            .all()
        )
        if not rows:
            return
        for index, canonical, leaf in rows:
            yield index, bytes(canonical), bytes(leaf or b"")
        start = rows[-1][0] + 1


def append_stored_entries(session: Session, builder: TreeBuilder, size: int) -> bool:
    """Append the stored entries from `builder.size` up to `size` to `builder`, in index order, a
    batch at a time; False at the first missing entry."""
    while builder.size < size:
        rows = session.execute(
            select(AuditEntry.index, AuditEntry.canonical)
            .where(AuditEntry.index >= builder.size, AuditEntry.index < size)
            .order_by(AuditEntry.index)
            .limit(_TREE_BATCH)
        ).all()
        if not rows:
            return False
        for index, canonical in rows:
            if index != builder.size:
                return False
            builder.append(bytes(canonical))
    return True
