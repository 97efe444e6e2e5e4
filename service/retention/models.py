"""Retention bucket keys: the one place a bucket key lives in the database.

Every envelope (service.tips.models.Envelope) is sealed under the key of its bucket; destroying
a bucket's key (service.retention.shred) makes every copy of those sealed envelopes - dead
tuples, WAL, backups - open nothing. The table is kept small (one row per bucket) so that it can
be rewritten in full after every destruction, and it is left out of backups: the keyring escrow
(service.retention.keyring) is its off-database copy.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, utcnow

__all__ = ["RetentionKey"]


class RetentionKey(Base):
    __tablename__ = "retention_keys"

    # "open-2026-12" (tips received that month, still open) or "expires-2027-12" (closed tips
    # whose retention ends that month): a name says nothing about any one tip.
    bucket: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
