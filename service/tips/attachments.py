"""Evidence files: streamed through metadata removal and encryption into a spool of chunk rows
(service.blobs.spool), which the request's one transaction inserts: `AttachmentBatch`, for a new tip
(service.tips.intake) and for a return visit (service.tips.uploads).

What is stored is the cleaned file or, when it cannot be cleaned, the file exactly as it came:
a streamed image that turns out damaged is stored from the copy of the original kept beside it.
That copy is encrypted to a throwaway key held only in memory, and handed to the tip's key only
if it is kept: deleted rows linger (dead tuples, WAL, backups), and a photo's GPS must not open
with the tip's keys once the cleaned photo is what was stored.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from crypto.age import generate_identity, rewrap_file
from service.blobs.spool import ChunkSpool
from service.blobs.store import BlobWriter
from service.db import new_id
from service.evidence.sanitise import make_sanitiser, sanitise_filename
from service.tips.intake_rows import insert_attachments
from service.tips.models import KeyKind

__all__ = ["MAX_CLEAN_IN_MEMORY", "AttachmentBatch", "AttachmentSummary", "AttachmentWriter"]

# Formats that must be parsed whole (PDF, Office, WebP) are cleaned in memory up to this size.
MAX_CLEAN_IN_MEMORY = 32 << 20


@dataclass(frozen=True)
class AttachmentSummary:
    id: uuid.UUID
    name: str
    size: int
    cleaned: bool
    removed: tuple[str, ...]
    reason: str | None


class AttachmentWriter:
    """A FileSink: `write` pieces as they arrive, `close` to finish the attachment; its blobs
    wait in `spool`, and its row in `row(seq)`, for the upload's transaction."""

    def __init__(
        self,
        spool: ChunkSpool,
        *,
        tip_id: uuid.UUID,
        conversation_recipient: str,
        filename: str,
        remove_metadata: bool,
        max_in_memory: int = MAX_CLEAN_IN_MEMORY,
    ) -> None:
        self._spool = spool
        self._tip_id = tip_id
        self._recipient = conversation_recipient
        self._name = sanitise_filename(filename)
        self._sanitiser = make_sanitiser(enabled=remove_metadata, max_in_memory=max_in_memory)
        self._blob = BlobWriter(
            spool,
            tip_id=tip_id,
            key_kind=KeyKind.CONVERSATION,
            recipients=[conversation_recipient],
        )
        self._original: BlobWriter | None = None  # the copy the sanitiser asks us to keep
        self._original_key = ""  # its throwaway identity
        self.summary: AttachmentSummary | None = None
        self._ids: tuple[uuid.UUID, uuid.UUID] | None = None  # the file's blob and its info's

    def write(self, data: bytes) -> None:
        cleaned = self._sanitiser.feed(data)
        if cleaned:
            self._blob.write(cleaned)
        self._keep_original()

    def close(self) -> None:
        tail = self._sanitiser.finish()
        if tail:
            self._blob.write(tail)
        self._keep_original()
        blob_id, size = self._blob.close(), self._blob.plaintext_size
        report = self._sanitiser.report
        if self._original is not None:
            original_id = self._original.close()
            if report.cleaned:
                self._spool.drop_blob(original_id)
            else:  # damaged after all: the file as it came, never a partial output
                first = self._spool.first_chunk(original_id)
                header = rewrap_file(first, [self._original_key], [self._recipient])
                self._spool.replace_first_chunk(original_id, header)
                self._spool.drop_blob(blob_id)
                blob_id, size = original_id, self._original.plaintext_size
        info = {
            "name": self._name,
            "kind": report.kind,
            "size": size,
            "cleaned": report.cleaned,
            "removed": list(report.removed),
            "reason": report.reason,
        }
        described = BlobWriter(
            self._spool,
            tip_id=self._tip_id,
            key_kind=KeyKind.CONVERSATION,
            recipients=[self._recipient],
        )
        described.write(json.dumps(info).encode())
        info_id = described.close()
        self._ids = (blob_id, info_id)
        self.summary = AttachmentSummary(
            id=new_id(),
            name=self._name,
            size=size,
            cleaned=report.cleaned,
            removed=tuple(report.removed),
            reason=report.reason,
        )

    def row(self, seq: int) -> dict[str, object]:
        """The attachment's row, once closed; `seq` is its place among the tip's files."""
        if self.summary is None or self._ids is None:
            raise RuntimeError("an attachment was not closed before it was stored")
        blob_id, info_id = self._ids
        return {
            "id": self.summary.id,
            "tip_id": self._tip_id,
            "blob_id": blob_id,
            "info_blob_id": info_id,
            "seq": seq,
        }

    def _keep_original(self) -> None:
        original = self._sanitiser.take_original()
        if not original:
            return
        if self._original is None:
            self._original_key, throwaway = generate_identity()
            self._original = BlobWriter(
                self._spool,
                tip_id=self._tip_id,
                key_kind=KeyKind.CONVERSATION,
                recipients=[throwaway],
            )
        self._original.write(original)


class AttachmentBatch:
    """One request's files for a tip: a FileSink each (`add`), encrypted into one spool that the
    first file opens, then inserted together (`insert`); `close` frees the spool either way."""

    def __init__(
        self,
        *,
        tip_id: uuid.UUID,
        conversation_recipient: str,
        remove_metadata: bool,
        spool_dir: Path | None,
    ) -> None:
        self._tip_id = tip_id
        self._recipient = conversation_recipient
        self._remove = remove_metadata
        self._spool_dir = spool_dir
        self._spool: ChunkSpool | None = None
        self.writers: list[AttachmentWriter] = []

    def add(self, filename: str) -> AttachmentWriter:
        if self._spool is None:
            self._spool = ChunkSpool(self._spool_dir)
        writer = AttachmentWriter(
            self._spool,
            tip_id=self._tip_id,
            conversation_recipient=self._recipient,
            filename=filename,
            remove_metadata=self._remove,
        )
        self.writers.append(writer)
        return writer

    def summaries(self) -> list[AttachmentSummary]:
        """Of the files closed so far."""
        return [w.summary for w in self.writers if w.summary is not None]

    def insert(self, session: Session, *, first: int = 0) -> None:
        """The files' chunks, then their rows numbered from `first` (nothing if there are none)."""
        if self._spool is None:
            return
        self._spool.insert_into(session)
        insert_attachments(session, [w.row(first + i) for i, w in enumerate(self.writers)])

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
