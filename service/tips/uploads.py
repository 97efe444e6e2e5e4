"""Uploads that hold no lock and no transaction while the client sends its body.

While a body streams nothing is written to the database: the tip is begun from its fields with
reads only (`prepare_tip`), each file is cleaned and encrypted into a spool of ciphertext rows
(service.blobs.spool), and once the body has ended one short transaction takes the write lock,
settles idempotency and inserts everything (`store_tip`, `ReporterUpload.store`). A client that
trickles its body, or never finishes it, then holds up no other writer and no pooled connection.
The caller runs the storing step on SQLite one at a time (routes.deps.IntakeGate.write), so no
thread waits in BEGIN IMMEDIATE for a writer that needs a thread itself.

Idempotency (the contract in routes.intake_flow): a key seen when the fields arrive makes the
upload a replay (files are only hashed); a duplicate that raced past that check is settled in
the storing transaction (recall first; a concurrent insert fails on the key's row, then replays).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.audit.pending import record_reporter_event
from service.blobs.spool import ChunkSpool
from service.db import lock_for_write
from service.errors import InvalidInput, NotFound
from service.instance.context import InstanceContext
from service.tips import idempotency
from service.tips.attachments import AttachmentSummary, AttachmentWriter
from service.tips.intake import IntakeResult, PendingTip, begin_tip
from service.tips.models import Attachment, Tip
from service.tips.reporter_auth import ReporterSession
from service.tips.schemas import TipSubmission

__all__ = ["ReporterUpload", "prepare_tip", "remember", "replayed", "store_tip"]

_INSERT_ATTACHMENT = cast(Table, Attachment.__table__).insert()


def prepare_tip(
    session: Session,
    ctx: InstanceContext,
    submission: TipSubmission,
    *,
    key: str | None,
    spool_dir: Path,
) -> PendingTip | None:
    """Route the tip and create its keys, reading only (the caller ends the transaction before
    any file arrives); None if `key` was used before (a replay: files are hashed, not stored)."""
    if key is not None and idempotency.exists(session, key):
        return None
    return begin_tip(session, ctx, submission, spool_dir=spool_dir)


def store_tip(
    session: Session,
    pending: PendingTip | None,
    *,
    key: str | None,
    digest: bytes,
    now: datetime,
    window: timedelta,
) -> IntakeResult:
    """The upload's one write: replay an earlier submission with `key`, or insert the tip."""
    lock_for_write(session)
    if key is not None:
        earlier = idempotency.recall(session, key, digest, now=now)
        if earlier is not None:
            return IntakeResult(tip_id=None, receipt=earlier)
    if pending is None:  # the key was there when the fields arrived, and is gone
        raise InvalidInput("could not match the earlier submission; please retry")
    result = pending.finish(session)
    return remember(session, key, digest, result, now=now, window=window)


def remember(
    session: Session,
    key: str | None,
    digest: bytes,
    result: IntakeResult,
    *,
    now: datetime,
    window: timedelta,
) -> IntakeResult:
    """Record `key` with the new tip's receipt; a concurrent duplicate that committed first
    wins, and this one's rows are dropped for its receipt."""
    if key is None:
        return result
    try:
        idempotency.remember(session, key, digest, result.receipt, now=now, window=window)
    except IntegrityError:
        return replayed(session, key, digest, now=now)
    return result


def replayed(session: Session, key: str, digest: bytes, *, now: datetime) -> IntakeResult:
    session.rollback()  # whatever this request staged is dropped
    receipt = idempotency.recall(session, key, digest, now=now)
    if receipt is None:
        raise InvalidInput("could not match the earlier submission; please retry")
    return IntakeResult(tip_id=None, receipt=receipt)


class ReporterUpload:
    """Evidence added on a return visit: a FileSink per file (into a spool), then `store`."""

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
        self._public = tip.conversation_recipient
        self._remove = remove_metadata
        self._spool_dir = spool_dir
        self._spool: ChunkSpool | None = None
        self.writers: list[AttachmentWriter] = []

    def add_attachment(self, filename: str) -> AttachmentWriter:
        if self._spool is None:
            self._spool = ChunkSpool(self._spool_dir)
        writer = AttachmentWriter(
            self._spool,
            tip_id=self._tip_id,
            conversation_recipient=self._public,
            filename=filename,
            remove_metadata=self._remove,
        )
        self.writers.append(writer)
        return writer

    def store(self, session: Session, *, today: date) -> list[AttachmentSummary]:
        """Insert every file, numbered after the tip's present ones, with its audit events."""
        if self._spool is None:
            raise InvalidInput("files: attach at least one file", fields={"files": "required"})
        tip = session.get(Tip, self._tip_id)
        if tip is None:  # purged while the body arrived
            raise NotFound("no such report")
        count = select(func.count()).where(Attachment.tip_id == tip.id)
        first = session.scalar(count) or 0
        self._spool.insert_into(session)
        rows = [w.row(first + i) for i, w in enumerate(self.writers)]
        session.execute(_INSERT_ATTACHMENT, rows)
        tip.reporter_active_on = today
        summaries = [w.summary for w in self.writers if w.summary is not None]
        for summary in summaries:
            record_reporter_event(
                session, "attachment.added", day=today, tip_id=tip.id, attachment_id=summary.id
            )
        session.flush()
        return summaries

    def close(self) -> None:
        """Free the spool (stored or abandoned)."""
        if self._spool is not None:
            self._spool.close()
