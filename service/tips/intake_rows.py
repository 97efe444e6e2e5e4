"""The intake fast path: a new tip's rows as plain dicts, inserted by prebuilt Core statements.

Why it exists: intake is the hot path (bench/intake.py: about 8.6 ms of server CPU per text tip
on SQLite, 2 cores, issue 12's baseline). Measured for issue 12 on SQLite, the same staged rows of
one text tip (its rows in 7 tables) cost about 0.4 ms of CPU as multi-row Core INSERTs from
statements built once, against about 3 ms as ORM objects flushed by the unit of work: a third of
the tip's whole cost. On PostgreSQL they also go out pipelined with the tip's files and audit
rows, one round trip for the lot instead of one per statement (commit 55f9b36).

What it must not do is differ from the ORM: tests/service/test_intake_rows.py stores the same
tip through the ORM and through `TipRows.insert` and compares every column read back. Column
defaults (e.g. `Tip.next_deadline`) apply to Core inserts too; a mapper hook would not, which is
why that test exists.

Everything else in intake (routing, keys, the audience, scoring) is in service.tips.intake.
Imports `service` only.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from service.blobs.models import Blob, BlobChunk
from service.db import Base
from service.retention.buckets import BucketKey, seal_envelope
from service.tips.models import (
    Attachment,
    Envelope,
    EnvelopeKind,
    Status,
    SubjectIndex,
    SubjectToken,
    Tip,
    TipAudience,
)

__all__ = ["INSERT_ORDER", "TipRows", "insert_attachments"]

Row = dict[str, object]

# Parents before children, for the foreign keys.
INSERT_ORDER: tuple[type[Base], ...] = (
    Tip,
    Envelope,
    TipAudience,
    SubjectIndex,
    SubjectToken,
    Blob,
    BlobChunk,
)
# Built once: constructing a statement per tip costs more than executing a cached one.
_INSERTS = {model: cast(Table, model.__table__).insert() for model in INSERT_ORDER}
_INSERT_ATTACHMENT = cast(Table, Attachment.__table__).insert()


class TipRows:
    """Every row of one new tip, staged until `insert` (which may run again after a rollback)."""

    def __init__(self, tip_id: uuid.UUID, *, today: date) -> None:
        self.tip_id = tip_id
        self.tip: Row = {
            "id": tip_id,
            "status": Status.RECEIVED.value,
            "urgent": False,
            "legal_hold": False,
            "priority": 0,
            "received_on": today,
            "reporter_active_on": today,
        }
        self.staged: dict[type[Base], list[Row]] = {model: [] for model in INSERT_ORDER[1:]}
        self._bucket: BucketKey | None = None
        self._age_files: dict[EnvelopeKind, bytes] = {}

    @property
    def lookup_id(self) -> object:
        return self.tip["lookup_id"]

    def set_reporter(self, *, lookup_id: str, salt: bytes, recipient: str) -> None:
        """The receipt's lookup id and the reporter's key (drawn again on a lookup collision)."""
        self.tip.update(lookup_id=lookup_id, reporter_salt=salt, reporter_recipient=recipient)

    def set_keys(self, *, conversation: str, case: str, identity: str | None) -> None:
        self.tip.update(
            conversation_recipient=conversation, case_recipient=case, identity_recipient=identity
        )

    def set_audience(
        self,
        *,
        compartment_id: uuid.UUID,
        agency_id: uuid.UUID | None,
        readers: list[uuid.UUID],
        custodians: set[uuid.UUID],
    ) -> None:
        """Who may read the tip; replaces an earlier audience (it changed before the store)."""
        self.tip.update(compartment_id=compartment_id, agency_id=agency_id)
        self.staged[TipAudience] = [
            {"tip_id": self.tip_id, "staff_id": staff, "identity_custodian": staff in custodians}
            for staff in readers
        ]

    @property
    def bucket_provisional(self) -> bool:
        return self._bucket is None or self._bucket.provisional

    def set_bucket(self, bucket: BucketKey) -> None:
        """The retention bucket the envelopes are sealed under (before `set_envelope`; again in
        the storing transaction, which re-seals what is staged if the key changed meanwhile)."""
        if self._bucket is not None and self._bucket.key == bucket.key:
            return  # same key (a key is never reused across buckets)
        self._bucket = bucket
        for kind, age_file in list(self._age_files.items()):
            self.set_envelope(kind, age_file)

    def set_envelope(self, kind: EnvelopeKind, data: bytes) -> None:
        """The key of `kind` as an age file, replacing any earlier one; staged sealed under the
        bucket key (service.retention.buckets)."""
        if self._bucket is None:
            raise RuntimeError("set_bucket before set_envelope")
        self._age_files[kind] = data
        sealed = seal_envelope(self._bucket, self.tip_id, kind.value, data)
        row = {"tip_id": self.tip_id, "kind": kind.value, "data": sealed}
        kept = [e for e in self.staged[Envelope] if e["kind"] != kind.value]
        self.staged[Envelope] = [*kept, {**row, "bucket": self._bucket.name}]

    def add_subjects(
        self, indexes: list[tuple[str, bytes]], tokens: list[tuple[str, bytes]]
    ) -> None:
        self.staged[SubjectIndex] += [
            {"tip_id": self.tip_id, "kind": kind, "value": value} for kind, value in indexes
        ]
        self.staged[SubjectToken] += [
            {"tip_id": self.tip_id, "kind": kind, "token": token} for kind, token in tokens
        ]

    def add_blob(self, blob: Row, chunk: Row) -> None:
        """A small blob of one chunk (service.blobs.store.small_blob_rows)."""
        self.staged[Blob].append(blob)
        self.staged[BlobChunk].append(chunk)

    def set_blobs(self, **blob_ids: uuid.UUID) -> None:
        """The tip's own blobs: `report_blob_id`, `contact_blob_id`, `priority_blob_id`."""
        self.tip.update(blob_ids)

    def set_priority(self, *, score: int, urgent: bool) -> None:
        self.tip.update(priority=score, urgent=urgent)

    def insert(self, session: Session) -> None:
        """One multi-row INSERT per table, parents first. The caller pipelines the tip's whole
        store (service.db.pipelined) so that its files and audit rows join the round trip."""
        session.execute(_INSERTS[Tip], [self.tip])
        for model, rows in self.staged.items():
            if rows:
                session.execute(_INSERTS[model], rows)


def insert_attachments(session: Session, rows: list[Row]) -> None:
    """Attachment rows (service.tips.attachments.AttachmentWriter.row), after their blobs."""
    session.execute(_INSERT_ATTACHMENT, rows)
