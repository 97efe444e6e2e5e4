"""Evidence added on a return visit: files encrypted into a spool as they arrive, then stored
after the tip's present ones in one short transaction (driven by service.tips.receiving).

The files are encrypted, before any lock, to the conversation key the reporter's session holds
(checked against the tip's when the first file begins). If the tip's keys rotate while the body
streams, `store` - under the tip's lock - finds the session's key dead and refuses the whole
upload with 401, storing nothing: the reporter signs in again with the receipt and sends it
again. Nothing ever reaches the database encrypted to a dead key, and rotations are rare (a
member leaving), so the simple refusal was chosen over rewrapping the spooled headers.

Imports `service` only.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.audit.pending import record_reporter_event
from service.errors import InvalidInput, Unauthorized
from service.tips.attachments import AttachmentBatch, AttachmentSummary, AttachmentWriter
from service.tips.models import Attachment
from service.tips.reporter_auth import ReporterSession, reporter_tip

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
        tip = reporter_tip(session, reporter)  # 401 if the session's key is dead already
        self._reporter = reporter
        self._tip_id = tip.id
        self._recipient = tip.conversation_recipient
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
        # Locked: 404 if purged while the body arrived, 401 if its keys rotated meanwhile.
        tip = reporter_tip(session, self._reporter, lock=True)
        if tip.conversation_recipient != self._recipient:
            raise Unauthorized("your session has ended; sign in with your receipt again")
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
