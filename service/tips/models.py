"""A tip and what hangs off it. Everything a reporter wrote is ciphertext (see service.blobs);
the clear columns are what routing, queues and deadlines need, with reporter times as dates only.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Uuid,
    false,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, new_id, utcnow

__all__ = [
    "Attachment",
    "ClosureReason",
    "Envelope",
    "EnvelopeKind",
    "Finding",
    "IdempotencyRecord",
    "KeyKind",
    "Message",
    "Note",
    "NoteKind",
    "ReceiptLockout",
    "Status",
    "SubjectIndex",
    "SubjectToken",
    "Tip",
    "TipAudience",
    "TipFinding",
]


class Status(StrEnum):
    RECEIVED = "received"
    TRIAGE = "triage"
    NEEDS_INFO = "needs_info"
    INVESTIGATING = "investigating"
    DECISION_REVIEW = "decision_review"
    CLOSED = "closed"


class ClosureReason(StrEnum):
    """Why a tip was closed: straight from triage, or after decision review with findings."""

    DUPLICATE = "duplicate"
    OUT_OF_SCOPE = "out_of_scope"
    SPAM = "spam"
    REFERRED_OUT = "referred_out"
    WITHDRAWN = "withdrawn"
    FINDINGS = "findings"


class Finding(StrEnum):
    """The outcome of one allegation at closure (design section 4)."""

    SUSTAINED = "sustained"
    NOT_SUSTAINED = "not_sustained"
    UNFOUNDED = "unfounded"
    EXONERATED = "exonerated"
    POLICY_FAILURE = "policy_failure"
    NO_FINDING = "no_finding"


class NoteKind(StrEnum):
    """What a staff-written note records; its text is always encrypted to the case key."""

    NOTE = "note"  # an internal note
    PRIORITY = "priority"  # the reason for a priority override


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


def _first_deadline(context: DefaultExecutionContext) -> date:
    """A new tip's acknowledgement deadline (EU Directive 2019/1937 art. 9: 7 days)."""
    received: date = context.get_current_parameters()["received_on"]  # type: ignore[no-untyped-call]
    return received + timedelta(days=7)


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
    # The nearest open deadline, so the queue sorts and pages on an index (date.max once none is
    # open); kept by service.tips.queue.refresh_deadline, which flushes of a Tip call for you.
    next_deadline: Mapped[date] = mapped_column(Date, default=_first_deadline)
    # Encrypted to the case key: the reasons behind `priority`, which quote what was reported.
    priority_blob_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    report_blob_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    contact_blob_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # Workflow (service.tips.workflow). Staff-caused times are exact.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), default=None, index=True
    )
    closure_reason: Mapped[str | None] = mapped_column(String(16), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The reporter contested the closure (service.tips.contest): reporter-caused, a date only.
    contested_on: Mapped[date | None] = mapped_column(Date, default=None)
    # Crypto-shredded: the envelopes are gone, nothing of the tip can be opened any more.
    purged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


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
    """Keyed HMAC of a named officer, badge or unit: links repeat allegations without names.
    Since token sets, a subject has two rows per kind: the value as written and its sorted token
    set (one row when both are the same); tips stored before have the first only."""

    __tablename__ = "subject_indexes"

    tip_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True, index=True)


class SubjectToken(Base):
    """Keyed HMAC of one token of the tip's names, badges or units (crypto.blind.tokens), per
    kind over all its subjects: a conflict matches when all its tokens are here. Only tips
    received since token sets have them (the server cannot recompute them from ciphertext)."""

    __tablename__ = "subject_tokens"

    tip_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    token: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True, index=True)


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


class Note(Base):
    """Staff-written text about a tip (internal notes, override reasons), encrypted to the case
    key: the reporter never sees it, the audience does."""

    __tablename__ = "notes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[str] = mapped_column(String(16), default=NoteKind.NOTE.value)
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TipFinding(Base):
    """One allegation's finding at closure. In clear on purpose: auditors' statistics count
    closures by finding; the allegation codes are copied from the encrypted report."""

    __tablename__ = "tip_findings"

    tip_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True
    )
    allegation: Mapped[str] = mapped_column(String(32), primary_key=True)
    finding: Mapped[str] = mapped_column(String(16))


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
    # End of the replay window, coarse on purpose (service.tips.idempotency): a 10-minute slot
    # for the form, a midnight for the API; the worker deletes the row a while after it.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReceiptLockout(Base):
    """Failed receipt logins per lookup id (known or not, so the two look alike)."""

    __tablename__ = "receipt_lockouts"

    lookup_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
