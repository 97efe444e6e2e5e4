"""Evidence files: streamed through metadata removal and encryption into chunk rows.

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

from sqlalchemy.orm import Session

from crypto.age import generate_identity
from service.blobs.store import BlobWriter, delete_blob, rewrap_blob, write_blob
from service.evidence.sanitise import make_sanitiser, sanitise_filename
from service.tips.models import Attachment, KeyKind

__all__ = ["MAX_CLEAN_IN_MEMORY", "AttachmentSummary", "AttachmentWriter"]

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
    """A FileSink: `write` pieces as they arrive, `close` to store the attachment."""

    def __init__(
        self,
        session: Session,
        *,
        tip_id: uuid.UUID,
        conversation_recipient: str,
        seq: int,
        filename: str,
        remove_metadata: bool,
        max_in_memory: int = MAX_CLEAN_IN_MEMORY,
    ) -> None:
        self._session = session
        self._tip_id = tip_id
        self._recipient = conversation_recipient
        self._seq = seq
        self._name = sanitise_filename(filename)
        self._sanitiser = make_sanitiser(enabled=remove_metadata, max_in_memory=max_in_memory)
        self._blob = BlobWriter(
            session,
            tip_id=tip_id,
            key_kind=KeyKind.CONVERSATION,
            recipients=[conversation_recipient],
        )
        self._original: BlobWriter | None = None  # the copy the sanitiser asks us to keep
        self._original_key = ""  # its throwaway identity
        self.summary: AttachmentSummary | None = None

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
                delete_blob(self._session, original_id)
            else:  # damaged after all: the file as it came, never a partial output
                rewrap_blob(self._session, original_id, [self._original_key], [self._recipient])
                delete_blob(self._session, blob_id)
                blob_id, size = original_id, self._original.plaintext_size
        info = {
            "name": self._name,
            "kind": report.kind,
            "size": size,
            "cleaned": report.cleaned,
            "removed": list(report.removed),
            "reason": report.reason,
        }
        info_id = write_blob(
            self._session,
            tip_id=self._tip_id,
            key_kind=KeyKind.CONVERSATION,
            recipients=[self._recipient],
            data=json.dumps(info).encode(),
        )
        attachment = Attachment(
            tip_id=self._tip_id, blob_id=blob_id, info_blob_id=info_id, seq=self._seq
        )
        self._session.add(attachment)
        self._session.flush()
        self.summary = AttachmentSummary(
            id=attachment.id,
            name=self._name,
            size=size,
            cleaned=report.cleaned,
            removed=tuple(report.removed),
            reason=report.reason,
        )

    def _keep_original(self) -> None:
        original = self._sanitiser.take_original()
        if not original:
            return
        if self._original is None:
            self._original_key, throwaway = generate_identity()
            self._original = BlobWriter(
                self._session,
                tip_id=self._tip_id,
                key_kind=KeyKind.CONVERSATION,
                recipients=[throwaway],
                pipeline=False,  # joins the pipeline of the first writer, on the same connection
            )
        self._original.write(original)
