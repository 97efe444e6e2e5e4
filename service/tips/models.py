"""A tip and what hangs off it. Everything a reporter wrote is ciphertext (see service.blobs);
the clear columns are what routing, queues and deadlines need, with reporter times as dates only.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, new_id

__all__ = [
    "Attachment",
    "Envelope",
    "EnvelopeKind",
    "IdempotencyRecord",
    "KeyKind",
    "Message",
    "ReceiptLockout",
    "Status",
    "SubjectIndex",
    "Tip",
    "TipAudience",
]


class Status(StrEnum):
    RECEIVED = "received"
    TRIAGE = "triage"
    NEEDS_INFO = "needs_info"
    INVESTIGATING = "investigating"
    DECISION_REVIEW = "decision_review"
    CLOSED = "closed"


class KeyKind(StrEnum):
    """The tip key pair a blob is encrypted to."""

    CONVERSATION = "conversation"  # narrative, answers, attachments, messages
    CASE = "case"  # internal notes, triage assessments, priority reasons
    IDENTITY = "identity"  # confidential contact details


class EnvelopeKind(StrEnum):
    """Who an envelope is for. The audience holds the conversation and case keys together: they
    always go to the same people, so one envelope (one stanza per reader instead of two) serves."""

    STAFF = "staff"  # {"conversation", "case"} to the audience and recovery
    REPORTER = "reporter"  # the conversation key to the reporter's receipt key only
    IDENTITY = "identity"  # the identity key to the custodians and recovery


class Tip(Base):
    __tablename__ = "tips"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # The receipt's lookup id (hex); its secret is never stored.
    lookup_id: Mapped[str] = mapped_column(String(32), unique=True)
    reporter_salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    reporter_recipient: Mapped[str] = mapped_column(String(100))
    compartment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("compartments.id", ondelete="RESTRICT"), index=True
    )
    agency_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agencies.id", ondelete="RESTRICT"), default=None
    )
    status: Mapped[str] = mapped_column(String(16), default=Status.RECEIVED.value)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Public halves of the tip key pairs: anyone may encrypt to them; the private halves are in
    # the envelopes.
    conversation_recipient: Mapped[str] = mapped_column(String(100))
    case_recipient: Mapped[str] = mapped_column(String(100))
    identity_recipient: Mapped[str | None] = mapped_column(String(100), default=None)
    # Reporter-caused times are dates only (design section 2).
    received_on: Mapped[date] = mapped_column(Date)
    reporter_active_on: Mapped[date] = mapped_column(Date)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Encrypted to the case key: the reasons behind `priority`, which quote what was reported.
    priority_blob_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    report_blob_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    contact_blob_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)


class Envelope(Base):
    """Tip private keys as a small age file; its header lists who may open it."""

    __tablename__ = "envelopes"

    tip_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class TipAudience(Base):
    """Who holds a tip's keys (mirrors the envelope headers, for queries)."""

    __tablename__ = "tip_audience"

    tip_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    identity_custodian: Mapped[bool] = mapped_column(Boolean, default=False)


class SubjectIndex(Base):
    """Keyed HMAC of a named officer, badge or unit: links repeat allegations without names."""

    __tablename__ = "subject_indexes"

    tip_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True, index=True)


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    # None when the reporter wrote it.
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), default=None
    )
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"))
    # Order within the tip; reporter messages carry a date only.
    seq: Mapped[int] = mapped_column(Integer)
    sent_on: Mapped[date] = mapped_column(Date)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"))
    # Encrypted: sanitised original name, media type, what metadata was removed.
    info_blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)


class IdempotencyRecord(Base):
    """A retried submission gets the same receipt, which is stored only encrypted under a key
    derived from the client's idempotency key (the server alone cannot read it)."""

    __tablename__ = "idempotency"

    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    body_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    sealed_receipt: Mapped[bytes] = mapped_column(LargeBinary)
    created_on: Mapped[date] = mapped_column(Date)


class ReceiptLockout(Base):
    """Failed receipt logins per lookup id (known or not, so the two look alike)."""

    __tablename__ = "receipt_lockouts"

    lookup_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
