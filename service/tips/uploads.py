"""Evidence added on a return visit: files encrypted into a spool as they arrive, then stored
after the tip's present ones in one short transaction (driven by service.tips.receiving).

Imports `service` only.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.audit.pending import record_reporter_event
from service.errors import InvalidInput, NotFound
from service.tips.attachments import AttachmentBatch, AttachmentSummary, AttachmentWriter
from service.tips.models import Attachment, Tip
from service.tips.reporter_auth import ReporterSession

__all__ = ["ReporterUpload"]


class ReporterUpload:
    """A FileSink per file (into a spool), then `store`."""

    def __init__(
        self,
        session: Session,
        reporter: ReporterSession,
        *,
        remove_metadata: bool,
        spool_dir: Path | None = None,
    ) -> None:
        """Reads the tip's public key from `session`; nothing is written to it."""
        tip = session.get(Tip, reporter.tip_id)
        if tip is None:
            raise NotFound("no such report")
        self._tip_id = tip.id
        self._files = AttachmentBatch(
            tip_id=tip.id,
            conversation_recipient=tip.conversation_recipient,
            remove_metadata=remove_metadata,
            spool_dir=spool_dir,
        )

    def add_attachment(self, filename: str) -> AttachmentWriter:
        return self._files.add(filename)

    def store(self, session: Session, *, today: date) -> list[AttachmentSummary]:
        """Insert every file, numbered after the tip's present ones, with its audit events."""
        if not self._files.writers:
            raise InvalidInput("files: attach at least one file", fields={"files": "required"})
        tip = session.get(Tip, self._tip_id)
        if tip is None:  # purged while the body arrived
            raise NotFound("no such report")
        count = select(func.count()).where(Attachment.tip_id == tip.id)
        first = session.scalar(count) or 0
        self._files.insert(session, first=first)
        tip.reporter_active_on = today
        summaries = self._files.summaries()
        for summary in summaries:
            record_reporter_event(
                session, "attachment.added", day=today, tip_id=tip.id, attachment_id=summary.id
            )
        session.flush()
        return summaries

    def close(self) -> None:
        """Free the spool (stored or abandoned)."""
        self._files.close()
