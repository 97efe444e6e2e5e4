"""A tip and what hangs off it. Everything a reporter wrote is ciphertext (see service.blobs);
the clear columns are what routing, queues and deadlines need, with reporter times as dates only.
The deadline rule is defined here once, with the queue indexes and the hooks that keep
`Tip.next_deadline` right on every write path: ORM flush, Core insert, UPDATE statement.
"""

from __future__ import annotations

import calendar
import uuid
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Result,
    String,
    Update,
    Uuid,
    event,
    false,
    select,
    update,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, Mapper, ORMExecuteState, Session, mapped_column

from service.db import Base, UTCDateTime, new_id, utcnow

__all__ = [
    "ACK_DAYS",
    "FEEDBACK_MONTHS",
    "NO_DEADLINE",
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
    "add_months",
    "deadlines_of",
    "next_deadline_of",
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


# Deadlines (design section 4, EU Directive 2019/1937 art. 9): acknowledgement due 7 days after
# receipt while unacknowledged, then feedback due 3 calendar months after acknowledgement while
# the tip is open.
ACK_DAYS = 7
FEEDBACK_MONTHS = 3
NO_DEADLINE = date.max  # sorts after every real deadline on both backends (NULLs do not agree)


def add_months(day: date, months: int) -> date:
    """Calendar months, clamped to the month's end (30 Nov + 3 months = 28/29 Feb)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def deadlines_of(received_on: date, acknowledged_at: datetime | None) -> tuple[date, date | None]:
    """(acknowledgement due, feedback due or None while unacknowledged)."""
    ack_due = received_on + timedelta(days=ACK_DAYS)
    if acknowledged_at is None:
        return ack_due, None
    return ack_due, add_months(acknowledged_at.date(), FEEDBACK_MONTHS)


def next_deadline_of(received_on: date, acknowledged_at: datetime | None, status: str) -> date:
    """The nearest open deadline of a tip: what `Tip.next_deadline` must hold."""
    if status == Status.CLOSED:
        return NO_DEADLINE
    ack_due, feedback_due = deadlines_of(received_on, acknowledged_at)
    return ack_due if feedback_due is None else feedback_due


def _first_deadline(context: DefaultExecutionContext) -> date:
    """The column default, for Core inserts (intake) that bypass the mapper hooks."""
    row = context.get_current_parameters()  # type: ignore[no-untyped-call]
    status = row.get("status") or Status.RECEIVED.value
    return next_deadline_of(row["received_on"], row.get("acknowledged_at"), status)


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
    # open); kept by the hooks below on every write path (ORM flush, Core insert, UPDATE statement).
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


# The queue's order as one index (service.tips.queue); "assigned to me" is the view staff use
# most, so it has the same order behind its own prefix.
ix_tips_queue = Index(
    "ix_tips_queue", Tip.urgent.desc(), Tip.priority.desc(), Tip.next_deadline, Tip.id
)
ix_tips_queue_assignee = Index(
    "ix_tips_queue_assignee",
    Tip.assignee_id,
    Tip.urgent.desc(),
    Tip.priority.desc(),
    Tip.next_deadline,
    Tip.id,
)


@event.listens_for(Tip, "before_insert")
@event.listens_for(Tip, "before_update")
def _keep_deadline(_mapper: Mapper[Tip], _connection: Any, tip: Tip) -> None:
    """An ORM flush of a tip recomputes its deadline from what it holds now."""
    if tip.received_on is not None:
        tip.next_deadline = next_deadline_of(tip.received_on, tip.acknowledged_at, tip.status)


_KEEPING = "probity_deadline_kept"  # marks the hook's own UPDATEs, so it does not recurse


def _updated_tip_ids(state: ORMExecuteState) -> list[uuid.UUID]:
    """The tips an UPDATE statement is about to touch (read before it runs)."""
    if isinstance(state.parameters, list):  # ORM bulk UPDATE by primary key
        return [row["id"] for row in state.parameters]
    statement = cast(Update, state.statement)
    query = select(Tip.id)
    if statement.whereclause is not None:
        query = query.where(statement.whereclause)
    return list(state.session.scalars(query, state.parameters or {}))


@event.listens_for(Session, "do_orm_execute")
def _keep_deadline_on_update(state: ORMExecuteState) -> Result[Any] | None:
    """Mapper hooks do not see UPDATE statements (`session.execute(update(Tip)...)`): re-derive
    `next_deadline` of the rows such a statement touched. A statement run on a Connection
    directly bypasses the Session and this hook: write tips through the Session."""
    statement = state.statement
    if (
        not state.is_update
        or not isinstance(statement, Update)
        or getattr(statement.table, "name", None) != Tip.__tablename__
        or state.execution_options.get(_KEEPING)
    ):
        return None
    tip_ids = _updated_tip_ids(state)
    result = state.invoke_statement()
    inputs = select(Tip.id, Tip.received_on, Tip.acknowledged_at, Tip.status)
    by_deadline: dict[date, list[uuid.UUID]] = {}
    for row in state.session.execute(inputs.where(Tip.id.in_(tip_ids))):
        deadline = next_deadline_of(row.received_on, row.acknowledged_at, row.status)
        by_deadline.setdefault(deadline, []).append(row.id)
    for deadline, ids in by_deadline.items():
        keep = update(Tip).where(Tip.id.in_(ids)).values(next_deadline=deadline)
        state.session.execute(keep.execution_options(**{_KEEPING: True}))
    return result


class Envelope(Base):
    """Tip private keys as a small age file; its header lists who may open it."""

    __tablename__ = "envelopes"

    tip_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    # The age file sealed under the retention bucket's key (service.retention.buckets): only
    # read and written through service.tips.keys (and intake's and receipt login's fast paths).
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # Its retention bucket (service.retention.models.RetentionKey.bucket).
    bucket: Mapped[str] = mapped_column(String(40), index=True)


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
