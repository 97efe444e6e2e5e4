"""Appending to the Merkle audit log, in the caller's transaction.

Appends are serialised so indices stay contiguous across requests and processes: SQLite takes its
write lock (BEGIN IMMEDIATE), PostgreSQL a transaction-scoped advisory lock. Each append reads the
right edge of the tree (O(log n) stored subtree hashes), extends it and stores the entry with
every subtree it completes. Nothing is cached between transactions, so several processes can
append to one database. The rows go in, and the hashes come out, through the measured fast path
in service.audit.append.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from crypto.merkle import TreeBuilder, subtrees
from service.audit.append import insert_rows, read_nodes
from service.audit.canonical import (
    AuditRecord,
    actor_name,
    decode_entry,
    encode_entry,
    format_time,
)
from service.audit.models import AuditEntry, PendingAuditEntry
from service.db import lock_for_write, utcnow

__all__ = [
    "AuditEvent",
    "AuditRecord",
    "flush_batch",
    "flush_pending",
    "history",
    "lock_log",
    "log_size",
    "pending_count",
    "record",
    "record_many",
]

# pg_advisory_xact_lock key for appends: "PRBAUDIT" as a big-endian 63-bit integer.
ADVISORY_LOCK_KEY = int.from_bytes(b"PRBAUDIT", "big") & (2**63 - 1)
_PENDING_BATCH = 1000  # a killed worker loses at most this much work


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry to append; `time` is preformatted (None: now, to the second)."""

    actor: uuid.UUID | str
    action: str
    tip_id: uuid.UUID | None = None
    objects: Mapping[str, uuid.UUID | str] | None = None
    details: Mapping[str, Any] | None = None
    time: str | None = None


def lock_log(session: Session) -> None:
    """Hold the log's append lock until the caller's transaction ends."""
    if session.get_bind().dialect.name == "sqlite":
        lock_for_write(session)  # before reading the head
    else:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


def log_size(session: Session) -> int:
    last = session.scalar(select(func.max(AuditEntry.index)))
    return 0 if last is None else last + 1


def _builder(session: Session, size: int) -> TreeBuilder:
    positions = subtrees(0, size)
    nodes = read_nodes(session, positions)
    return TreeBuilder(size, [nodes[p] for p in positions])


def record_many(session: Session, events: Sequence[AuditEvent]) -> list[int]:
    """Append `events` in order; all are validated before anything is written."""
    if not events:
        return []
    lock_log(session)
    size = log_size(session)
    now = format_time(utcnow())
    entries: list[dict[str, Any]] = []
    for offset, event in enumerate(events):
        time = event.time or now
        canonical = encode_entry(
            index=size + offset,
            time=time,
            actor=event.actor,
            action=event.action,
            tip_id=event.tip_id,
            objects=event.objects,
            details=event.details,
        )
        entries.append(
            {
                "index": size + offset,
                "time": time,
                "actor": actor_name(event.actor),
                "action": event.action,
                "tip_id": event.tip_id,
                "canonical": canonical,
            }
        )
    builder = _builder(session, size)
    nodes: list[dict[str, Any]] = []
    for row in entries:
        for level, index, digest in builder.append(row["canonical"]):
            nodes.append({"level": level, "index": index, "hash": digest})
    insert_rows(session, entries, nodes)
    return [size + offset for offset in range(len(events))]


def record(
    session: Session,
    *,
    actor: uuid.UUID | str,
    action: str,
    tip_id: uuid.UUID | None = None,
    objects: Mapping[str, uuid.UUID | str] | None = None,
    details: Mapping[str, str | int | bool | None] | None = None,
) -> int:
    """Append one staff or system entry (exact UTC time); returns its index."""
    if actor == "reporter":
        raise ValueError("reporter events go through service.audit.pending")
    event = AuditEvent(actor=actor, action=action, tip_id=tip_id, objects=objects, details=details)
    return record_many(session, [event])[0]


def history(session: Session, tip_id: uuid.UUID) -> list[AuditRecord]:
    """A tip's entries, oldest first."""
    rows = session.scalars(
        select(AuditEntry.canonical).where(AuditEntry.tip_id == tip_id).order_by(AuditEntry.index)
    )
    return [decode_entry(bytes(canonical)) for canonical in rows]


def _pending_event(day: date, actor: str, action: str, ids: dict[str, str]) -> AuditEvent:
    objects = dict(ids)
    tip = objects.pop("tip_id", None)
    return AuditEvent(
        actor=actor,
        action=action,
        tip_id=uuid.UUID(tip) if tip else None,
        objects=objects,
        time=day.isoformat(),
    )


def pending_count(session: Session) -> int:
    """Reporter-caused events waiting for the flush."""
    return session.scalar(select(func.count()).select_from(PendingAuditEntry)) or 0


def flush_batch(session: Session, *, rng: random.Random, limit: int = _PENDING_BATCH) -> int:
    """Move up to `limit` reporter-caused events into the log, in the caller's transaction.

    The batch is the earliest-dated waiting rows, taken in id order: ids are random (uuid4), so
    a batch is a random sample of its day, never the first to arrive. Within the batch the order
    is shuffled, then stably sorted by day so the log's dates never go backwards.
    """
    lock_log(session)  # before reading, so two workers never move the same rows
    pending = PendingAuditEntry
    columns = (pending.id, pending.day, pending.actor, pending.action, pending.details)
    rows = list(session.execute(select(*columns).order_by(pending.day, pending.id).limit(limit)))
    if not rows:
        return 0
    rng.shuffle(rows)
    rows.sort(key=lambda row: row.day)
    record_many(session, [_pending_event(r.day, r.actor, r.action, r.details) for r in rows])
    ids = [row.id for row in rows]
    session.execute(
        delete(pending).where(pending.id.in_(ids)).execution_options(synchronize_session=False)
    )
    return len(rows)


def flush_pending(session: Session, *, rng: random.Random, limit: int = _PENDING_BATCH) -> int:
    """Move every waiting event, in batches of `limit`, all in the caller's transaction (tests,
    small backlogs). The worker commits each batch on its own: `service.worker`."""
    moved = 0
    while (count := flush_batch(session, rng=rng, limit=limit)) > 0:
        moved += count
        if count < limit:
            break
    return moved
