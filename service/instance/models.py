"""Public instance keys, and settled instance facts (`BOOTSTRAP_CLOSED`: a supervisor has been
approved, so memberships are never approved at once again; service.compartments.bootstrap).
Private halves live elsewhere: the log signing key in the keys directory, the recovery identity
in an offline passphrase-protected file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, utcnow

__all__ = ["AUDIT_LOG_VKEY", "BOOTSTRAP_CLOSED", "RECOVERY_RECIPIENT", "InstanceKey"]

AUDIT_LOG_VKEY = "audit_log_vkey"
RECOVERY_RECIPIENT = "recovery_recipient"
BOOTSTRAP_CLOSED = "membership_bootstrap_closed"


class InstanceKey(Base):
    __tablename__ = "instance_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
