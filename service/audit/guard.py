"""The check the log signer runs before every signature: is the log still what it signed?

Under the append lock, against the newest stored checkpoint and the one this keys directory
remembers signing (service.audit.alarm), the guard checks:
1. the stored checkpoint's signature (with the key file's key, not one from the database), and
   that the remembered checkpoint is still stored, unchanged (a database editor cannot sign, but
   can delete or swap rows);
2. the stored subtree hashes of [0, m) fold to the signed root of size m (O(log n) rows);
3. the entries appended since [m, n) exist without gaps; their leaf hashes are recomputed from
   the canonical bytes and appended to that verified right edge, giving the root to sign;
4. the stored subtree hashes of [0, n) give the same root, so proofs served later match it;
5. a spot check: `SPOT_CHECK` consecutive entries below m, from a random start, still hash to their
   stored leaf hashes (all of them while the log is small).
So a signed root is always a verified old root extended by hashes of the stored entries: an entry
edited before m with `audit_nodes` recomputed fails 2; with the nodes left alone, 5 finds it sooner
or later (the signed tree itself is intact); an edit after m fails 4 unless the nodes were forged
too, which nothing signed could catch yet (docs/audit.md says so).
Cost: O(log n) + O(n - m) + SPOT_CHECK per signature (bench/audit.py `signer_guard`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.checkpoint import Checkpoint, open_checkpoint_by_any
from crypto.errors import CryptoError
from crypto.merkle import TreeBuilder, leaf_hash, subtrees
from crypto.note import Verifier
from service.audit.append import read_nodes
from service.audit.entries import append_stored_entries
from service.audit.models import AuditCheckpoint, AuditEntry, AuditNode
from service.audit.proofs import root
from service.errors import HistoryMismatch

__all__ = ["SPOT_CHECK", "verified_root"]

SPOT_CHECK = 10_000


def _open(note: str, verifiers: Sequence[Verifier], size: int | None, reason: str) -> Checkpoint:
    try:
        cp, _ = open_checkpoint_by_any(note, verifiers)
    except CryptoError:
        raise HistoryMismatch(reason) from None
    if size is not None and cp.size != size:
        raise HistoryMismatch(reason)
    return cp


def _anchor(
    session: Session, verifier: Sequence[Verifier], remembered: str | None
) -> Checkpoint | None:
    """The newest stored checkpoint, after checking it and the remembered one."""
    row = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)
    ).first()
    newest = None
    if row is not None:
        newest = _open(row.note, verifier, row.size, "checkpoint_signature_invalid")
    if remembered is None:
        return newest
    signed = _open(remembered, verifier, None, "signed_record_unreadable")
    if newest is None or newest.size < signed.size:
        raise HistoryMismatch("checkpoint_missing")
    stored = session.get(AuditCheckpoint, signed.size)
    if stored is None:
        raise HistoryMismatch("checkpoint_missing")
    if stored.note != remembered:
        raise HistoryMismatch("checkpoint_replaced")
    return newest


def _right_edge(session: Session, anchor: Checkpoint) -> TreeBuilder:
    positions = subtrees(0, anchor.size)
    try:
        nodes = read_nodes(session, positions)
    except LookupError:
        raise HistoryMismatch("nodes_missing") from None
    builder = TreeBuilder(anchor.size, [nodes[p] for p in positions])
    if builder.root() != anchor.root:
        raise HistoryMismatch("checkpoint_root_mismatch")
    return builder


def _spot_check(session: Session, signed_size: int) -> None:
    count = min(SPOT_CHECK, signed_size)
    if count == 0:
        return
    start = secrets.randbelow(signed_size - count + 1)
    entries = session.execute(
        select(AuditEntry.index, AuditEntry.canonical)
        .where(AuditEntry.index >= start, AuditEntry.index < start + count)
        .order_by(AuditEntry.index)
    ).all()
    leaves = session.execute(
        select(AuditNode.index, AuditNode.hash)
        .where(AuditNode.level == 0, AuditNode.index >= start, AuditNode.index < start + count)
        .order_by(AuditNode.index)
    ).all()
    if len(entries) != count or len(leaves) != count:
        raise HistoryMismatch("entries_missing")
    for (index, canonical), (_, stored) in zip(entries, leaves, strict=True):
        if index != start or leaf_hash(bytes(canonical)) != bytes(stored):
            raise HistoryMismatch("entry_altered")
        start += 1


def verified_root(
    session: Session,
    verifier: Verifier | Sequence[Verifier],
    size: int,
    *,
    remembered: str | None,
) -> bytes:
    """The root of the first `size` entries, checked as above; raises HistoryMismatch.

    `verifier`: the log key, or every key that signed it (the current one and those rotated out,
    service.instance.keys.log_verifiers), all read from the keys directory.
    The caller holds the append lock (service.audit.log.lock_log).
    """
    keys = [verifier] if isinstance(verifier, Verifier) else list(verifier)
    anchor = _anchor(session, keys, remembered)
    if anchor is None:
        builder = TreeBuilder()
    elif anchor.size > size:
        raise HistoryMismatch("log_truncated")
    else:
        builder = _right_edge(session, anchor)
        _spot_check(session, anchor.size)
    if not append_stored_entries(session, builder, size):
        raise HistoryMismatch("entries_missing")
    new_root = builder.root()
    try:
        stored_root = root(session, size)
    except LookupError:
        raise HistoryMismatch("nodes_missing") from None
    if stored_root != new_root:
        raise HistoryMismatch("nodes_mismatch")
    return new_root
