"""Every staff read of a tip starts here: the tips readable by a staff member are those whose
audience includes them (design section 3). A tip outside it is a 404, the same as a missing one.

Also the named queries of the tip view (service.tips.view): the readable tip with what the view
needs in one round trip, its small blobs at once, and its attachments, messages and notes as one
UNION."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    cast,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from service.blobs.models import Blob, BlobChunk
from service.compartments.models import Compartment
from service.db import UTCDateTime
from service.errors import NotFound
from service.retention.models import RetentionKey
from service.tips.models import (
    Attachment,
    Envelope,
    EnvelopeKind,
    Message,
    Note,
    Tip,
    TipAudience,
)

__all__ = [
    "SMALL_BLOB",
    "ReadableTip",
    "get_readable_tip",
    "readable_tip_for_view",
    "readable_tips",
    "small_blobs",
    "tip_parts",
]


def readable_tips(staff_id: uuid.UUID) -> Select[Tip]:
    """Tips whose audience includes `staff_id`; add filters and ordering to this statement."""
    return (
        select(Tip)
        .join(TipAudience, TipAudience.tip_id == Tip.id)
        .where(TipAudience.staff_id == staff_id)
    )


def get_readable_tip(session: Session, staff_id: uuid.UUID, tip_id: uuid.UUID) -> Tip:
    tip = session.scalar(readable_tips(staff_id).where(Tip.id == tip_id))
    if tip is None:
        raise NotFound("no such tip")
    return tip


@dataclass(frozen=True)
class ReadableTip:
    tip: Tip
    compartment: str
    identity_custodian: bool
    # Loaded with the tip so open_tip_keys finds it in the session without another round trip;
    # held here because the session's identity map is weak and would otherwise drop it.
    staff_envelope: Envelope | None
    # ... and the key of its retention bucket, which envelope_bytes unseals it with.
    bucket_key: RetentionKey | None = None


def readable_tip_for_view(session: Session, staff_id: uuid.UUID, tip_id: uuid.UUID) -> ReadableTip:
    """The tip, its compartment's name, whether the reader is an identity custodian, the staff
    envelope and its bucket key: the readable statement, one round trip."""
    staff_envelope = and_(Envelope.tip_id == Tip.id, Envelope.kind == EnvelopeKind.STAFF.value)
    row = session.execute(
        readable_tips(staff_id)
        .add_columns(Compartment.name, TipAudience.identity_custodian, Envelope, RetentionKey)
        .join(Compartment, Compartment.id == Tip.compartment_id)
        .outerjoin(Envelope, staff_envelope)
        .outerjoin(RetentionKey, RetentionKey.bucket == Envelope.bucket)
        .where(Tip.id == tip_id)
    ).one_or_none()
    if row is None:
        raise NotFound("no such tip")
    return ReadableTip(row[0], row[1], bool(row[2]), row[3], row[4])


# The statements below are built once, at import: constructing them costs more than running them.
_TIP = bindparam("tip_id", type_=Uuid)
# Text blobs (report, reasons, file info, messages, notes) are read in one query per view; the
# evidence files themselves are not (they are only ever streamed).
SMALL_BLOB = 64 << 10

_SMALL_BLOBS = (
    select(Blob.id, Blob.size, BlobChunk.data)
    .join(BlobChunk, BlobChunk.blob_id == Blob.id)
    .where(Blob.tip_id == _TIP, Blob.chunks == 1, Blob.size <= SMALL_BLOB)
    .where(Blob.id.not_in(select(Attachment.blob_id).where(Attachment.tip_id == _TIP)))
)


def small_blobs(session: Session, tip_id: uuid.UUID) -> dict[uuid.UUID, tuple[int, bytes]]:
    """{blob id: (size, the one chunk)} for the tip's small single-chunk blobs, evidence aside."""
    rows = session.execute(_SMALL_BLOBS, {"tip_id": tip_id})
    return {row.id: (row.size, row.data) for row in rows}


def _null(kind: Any) -> Any:
    return cast(null(), kind)


def _part(
    src: str,
    model: type[Attachment | Message | Note],
    blob_id: Any,
    *,
    author_id: Any = None,
    seq: Any = None,
    day: Any = None,
    at: Any = None,
    kind: Any = None,
) -> Select[Any]:
    """One shape of the parts UNION: a column the shape lacks is a typed NULL."""
    typed = ((author_id, Uuid), (seq, Integer), (day, Date), (at, UTCDateTime()), (kind, String))
    rest = [_null(sql_type) if column is None else column for column, sql_type in typed]
    return select(literal_column(f"'{src}'"), model.id, blob_id, *rest).where(model.tip_id == _TIP)


# A tip's attachments, messages and notes in one round trip: a UNION of their three shapes, with
# the columns of _PART_COLUMNS.
_PART_COLUMNS = ("src", "id", "blob_id", "author_id", "seq", "day", "at", "kind")
_PARTS = union_all(
    _part("a", Attachment, Attachment.info_blob_id, seq=Attachment.seq),
    _part(
        "m",
        Message,
        Message.blob_id,
        author_id=Message.author_id,
        seq=Message.seq,
        day=Message.sent_on,
    ),
    _part("n", Note, Note.blob_id, author_id=Note.author_id, at=Note.created_at, kind=Note.kind),
)


def _seq(part: dict[str, Any]) -> int:
    return int(part["seq"])


def _written(part: dict[str, Any]) -> tuple[Any, uuid.UUID]:
    return part["at"], part["id"]


def tip_parts(session: Session, tip_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """{"a": attachments, "m": messages, "n": notes}, each in display order, as dicts keyed by
    src, id, blob_id, author_id, seq, day (messages), at and kind (notes)."""
    found: dict[str, list[dict[str, Any]]] = {"a": [], "m": [], "n": []}
    for row in session.execute(_PARTS, {"tip_id": tip_id}):
        found[row[0]].append(dict(zip(_PART_COLUMNS, row, strict=True)))
    found["a"].sort(key=_seq)
    found["m"].sort(key=_seq)
    found["n"].sort(key=_written)
    return found
