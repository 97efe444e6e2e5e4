"""Public instance keys. Private halves live elsewhere: the log signing key in the keys directory,
the recovery identity in an offline passphrase-protected file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, utcnow

__all__ = ["AUDIT_LOG_VKEY", "RECOVERY_RECIPIENT", "InstanceKey"]

AUDIT_LOG_VKEY = "audit_log_vkey"
RECOVERY_RECIPIENT = "recovery_recipient"


class InstanceKey(Base):
    __tablename__ = "instance_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
