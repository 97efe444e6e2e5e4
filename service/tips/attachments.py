"""Evidence files: streamed through metadata removal and encryption into chunk rows."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.blobs.store import BlobWriter, write_blob
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
    ) -> None:
        self._session = session
        self._tip_id = tip_id
        self._recipient = conversation_recipient
        self._seq = seq
        self._name = sanitise_filename(filename)
        self._sanitiser = make_sanitiser(enabled=remove_metadata, max_in_memory=MAX_CLEAN_IN_MEMORY)
        self._blob = BlobWriter(
            session,
            tip_id=tip_id,
            key_kind=KeyKind.CONVERSATION,
            recipients=[conversation_recipient],
        )
        self.summary: AttachmentSummary | None = None

    def write(self, data: bytes) -> None:
        cleaned = self._sanitiser.feed(data)
        if cleaned:
            self._blob.write(cleaned)

    def close(self) -> None:
        tail = self._sanitiser.finish()
        if tail:
            self._blob.write(tail)
        blob_id = self._blob.close()
        report = self._sanitiser.report
        info = {
            "name": self._name,
            "kind": report.kind,
            "size": self._blob.plaintext_size,
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
            size=self._blob.plaintext_size,
            cleaned=report.cleaned,
            removed=tuple(report.removed),
            reason=report.reason,
        )
