"""Purging a tip: crypto-shredding plus deleting its ciphertext.

Deleting the envelopes makes every payload unreadable to anyone, the recovery key included; the
payloads themselves (report, messages, notes, evidence) are deleted too, so nothing of the tip's
content, not even ciphertext, stays in the live tables. On SQLite, `secure_delete` (set on every
connection, service/db.py) zeroes the freed pages, and the WAL is truncated after the commit
(`shrink_wal`). What neither backend can promise is covered in docs/security.md: PostgreSQL keeps
dead tuples until they are overwritten, and backups keep whatever they copied.
"""

from __future__ import annotations

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from service.blobs.models import Blob
from service.compartments.models import Compartment
from service.tips.models import Envelope, SubjectIndex, SubjectToken, Tip

__all__ = ["CONTESTED_KEPT", "contest_keeps", "shred_tip", "shrink_wal"]

CONTESTED_KEPT = (
    "the tip's closure is contested and oversight does not have it yet; it cannot be purged"
)


def contest_keeps(session: Session, tip: Tip) -> bool:
    """Whether a contested closure keeps the tip from any purge: until it is rerouted to
    oversight, as a legal hold would (else the audience's supervisor who rejected oversight's
    reroute could approve the retention purge alone, and bury the contest with the tip)."""
    if tip.contested_on is None:
        return False
    compartment = session.get(Compartment, tip.compartment_id)
    return compartment is None or not compartment.oversight


def shred_tip(session: Session, tip: Tip) -> None:
    """Delete the tip's envelopes, every blob of the tip (messages, notes and attachments
    go with their blobs by cascade) and its subject indexes. The tip row stays, with its dates
    and flags, for the log."""
    session.execute(delete(Envelope).where(Envelope.tip_id == tip.id))
    session.execute(delete(Blob).where(Blob.tip_id == tip.id))
    # Keyed HMACs of whom it named: with the index key (in every backup) guessed names could
    # still be tested against the purged tip, and it would stay "related" to later tips.
    session.execute(delete(SubjectIndex).where(SubjectIndex.tip_id == tip.id))
    session.execute(delete(SubjectToken).where(SubjectToken.tip_id == tip.id))
    tip.report_blob_id = None
    tip.priority_blob_id = None
    tip.contact_blob_id = None
    tip.purged = True
    session.flush()


def shrink_wal(engine: Engine) -> None:
    """SQLite: copy the WAL into the database and truncate it, so freed (zeroed) pages replace
    the old ones there too. Best effort: with readers active it completes on a later call."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
