"""Receiving a tip, or more evidence for one, whatever carries it: the rules of intake.

The JSON API, the multipart API, the report form and the reporter's uploads (API and status page)
all feed the same objects; the routes only turn requests into these calls and results into
answers (routes.intake_flow).

    intake = TipIntake(transactions, ctx, key=key, window=window, spool_dir=data_dir)
    intake.begin(submission, received)  # the fields are in: a JSON body, or the text fields
    sink = intake.open_file(name)       # per file: sink.write(piece) ..., sink.close()
    result = intake.finish()            # the one storing transaction, committed on return
    intake.close()                      # always: frees the spool

    upload = EvidenceUpload(transactions, reporter, spool_dir=data_dir, files_required=True)
    upload.begin(remove_metadata=True, message="")  # then open_file / finish / close alike

`open_file`, the sinks and `finish` block (database, disk, cryptography): call them from a worker
thread. `transactions()` opens one transaction that commits when its block ends
(routes.deps.transaction, which turns an outage into 503).

The rules:
- While a body streams no lock is held and no transaction is open: the first file begins the
  tip with reads only (routing, keys), and files are encrypted into a spool of ciphertext
  (service.blobs.spool). A tip without files is begun and stored in one transaction.
- One short transaction, holding SQLite's write lock from its start, stores everything: the
  tip's rows, its files, the idempotency record and the audit events (or, for evidence, the
  files and the reporter's message). The audience is computed again at that moment
  (service.tips.intake), so a conflict registered while the body arrived still counts.
- Idempotency: a replayed key with the same submission gets the first receipt back within its
  window (`replay_window`), then 410; with another submission, 409. The digest covers a JSON
  body as sent, or the text fields and every file's name and bytes. A key seen when the first
  file begins makes the upload a replay (files are hashed, not stored); a concurrent duplicate
  is settled when it stores (recall first; an insert that loses the race replays).
- A receipt's 40-bit lookup id may be taken (about n / 10^12 with n tips stored): a tip stored
  at once tries again with a fresh receipt (`_LOOKUP_ATTEMPTS`), an upload checks in its storing
  transaction and draws a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.config import Settings
from service.db import lock_for_write, utcnow
from service.errors import InvalidInput
from service.instance.context import InstanceContext
from service.tips import idempotency
from service.tips.attachments import AttachmentSummary, AttachmentWriter
from service.tips.conversation import add_reporter_message
from service.tips.intake import IntakeResult, PendingTip, begin_tip, is_lookup_collision
from service.tips.reporter_auth import ReporterSession
from service.tips.schemas import TipSubmission
from service.tips.uploads import ReporterUpload

__all__ = [
    "EvidenceResult",
    "EvidenceUpload",
    "HashedFile",
    "TipIntake",
    "Transactions",
    "replay_window",
]

Transactions = Callable[[], AbstractContextManager[Session]]
Received = bytes | Mapping[str, Sequence[str]]  # a JSON body, or multipart text fields
_LOOKUP_ATTEMPTS = 3


def replay_window(settings: Settings, *, form: bool) -> timedelta:
    """How long a replayed submission gets its receipt back: minutes for the HTML form, a day
    for API clients' retries (settings `form_replay_minutes`, `api_replay_hours`)."""
    if form:
        return timedelta(minutes=settings.form_replay_minutes)
    return timedelta(hours=settings.api_replay_hours)


class HashedFile:
    """A file's sink: its bytes go into the submission's digest and to the tip's writer (or
    nowhere, on a replay)."""

    def __init__(self, inner: AttachmentWriter | None, digest: hashlib._Hash) -> None:
        self._inner = inner
        self._digest = digest

    def write(self, data: bytes) -> None:
        self._digest.update(data)
        if self._inner is not None:
            self._inner.write(data)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


class TipIntake:
    """One tip on its way in: `begin`, `open_file` per file, `finish`, and always `close`."""

    def __init__(
        self,
        transactions: Transactions,
        ctx: InstanceContext,
        *,
        key: str | None,
        window: timedelta,
        spool_dir: Path,
    ) -> None:
        """`key`: the client's Idempotency-Key if it came before the body (a header)."""
        self._transactions = transactions
        self._ctx = ctx
        self._key = None if key is None else idempotency.validate_key(key)
        self._window = window
        self._spool_dir = spool_dir
        self._digest = hashlib.sha256()
        self._submission: TipSubmission | None = None
        self._prepared = False  # begun in a read transaction, for its files
        self._pending: PendingTip | None = None  # None once prepared: a replay

    def begin(
        self, submission: TipSubmission, received: Received, *, key: str | None = None
    ) -> None:
        """The fields are in. `key`: one known only from them (the form's nonce). No I/O."""
        if key is not None:
            self._key = idempotency.validate_key(key)
        if isinstance(received, bytes):
            self._digest.update(received)
        else:
            for name in sorted(received):
                for value in received[name]:
                    self._digest.update(f"{len(name)}:{name}={len(value)}:{value};".encode())
        self._submission = submission

    def open_file(self, filename: str) -> HashedFile:
        if not self._prepared:
            self._prepare()
        self._digest.update(f"file:{len(filename)}:{filename};".encode())
        inner = self._pending.add_attachment(filename) if self._pending is not None else None
        return HashedFile(inner, self._digest)

    def finish(self) -> IntakeResult:
        """Store the tip, or replay an earlier submission with the same key."""
        digest = self._digest.digest()
        if self._prepared:
            return self._store_prepared(digest)
        attempts = 0
        while True:
            try:
                return self._store_at_once(digest)
            except IntegrityError as exc:
                attempts += 1
                if not is_lookup_collision(exc) or attempts == _LOOKUP_ATTEMPTS:
                    raise

    def close(self) -> None:
        if self._pending is not None:
            self._pending.close()

    def _begun(self) -> TipSubmission:
        if self._submission is None:
            raise RuntimeError("TipIntake.begin() must come first")
        return self._submission

    def _prepare(self) -> None:
        """Reads only, in a transaction that ends before the first file's bytes arrive."""
        submission = self._begun()
        with self._transactions() as session:
            if self._key is None or not idempotency.exists(session, self._key):
                self._pending = begin_tip(session, self._ctx, submission, spool_dir=self._spool_dir)
        self._prepared = True

    def _store_prepared(self, digest: bytes) -> IntakeResult:
        with self._transactions() as session:
            lock_for_write(session)
            earlier = self._recall(session, digest)
            if earlier is not None:
                return earlier
            if self._pending is None:  # the key was there when the files began, and is gone
                raise InvalidInput("could not match the earlier submission; please retry")
            return self._remember(session, digest, self._pending.finish(session))

    def _store_at_once(self, digest: bytes) -> IntakeResult:
        """Everything in memory: begun and stored in one transaction. A taken lookup id is not
        checked for first (a query per tip) but fails the insert, and the caller tries again."""
        submission = self._begun()
        with self._transactions() as session:
            lock_for_write(session)
            earlier = self._recall(session, digest)
            if earlier is not None:
                return earlier
            result = begin_tip(session, self._ctx, submission, check_lookup=False).finish()
            return self._remember(session, digest, result)

    def _recall(self, session: Session, digest: bytes) -> IntakeResult | None:
        if self._key is None:
            return None
        receipt = idempotency.recall(session, self._key, digest, now=utcnow())
        return None if receipt is None else IntakeResult(tip_id=None, receipt=receipt)

    def _remember(self, session: Session, digest: bytes, result: IntakeResult) -> IntakeResult:
        """Record the key with the new receipt; if a concurrent duplicate committed first, this
        one's rows are dropped for its receipt."""
        if self._key is None:
            return result
        now = utcnow()
        try:
            idempotency.remember(
                session, self._key, digest, result.receipt, now=now, window=self._window
            )
        except IntegrityError:
            session.rollback()  # whatever this request staged is dropped
            earlier = self._recall(session, digest)
            if earlier is None:
                raise InvalidInput("could not match the earlier submission; please retry") from None
            return earlier
        return result


@dataclass(frozen=True)
class EvidenceResult:
    attachments: list[AttachmentSummary]
    message_stored: bool


class EvidenceUpload:
    """More evidence (and on the status page a message) for a reporter's tip, stored together."""

    def __init__(
        self,
        transactions: Transactions,
        reporter: ReporterSession,
        *,
        spool_dir: Path,
        files_required: bool,
    ) -> None:
        """`files_required`: a body without files is refused (the API), or stores only the
        message, if any (the status page)."""
        self._transactions = transactions
        self._reporter = reporter
        self._spool_dir = spool_dir
        self._files_required = files_required
        self._remove_metadata = True
        self._message = ""
        self._upload: ReporterUpload | None = None

    def begin(self, *, remove_metadata: bool, message: str = "") -> None:
        """The text fields are in. No I/O."""
        self._remove_metadata = remove_metadata
        self._message = message

    def open_file(self, filename: str) -> AttachmentWriter:
        if self._upload is None:
            with self._transactions() as session:  # reads the tip's public key, then ends
                self._upload = ReporterUpload(
                    session,
                    self._reporter,
                    remove_metadata=self._remove_metadata,
                    spool_dir=self._spool_dir,
                )
        return self._upload.add_attachment(filename)

    def finish(self) -> EvidenceResult:
        """The message first, then the files, in one transaction."""
        if self._upload is None and self._files_required:
            raise InvalidInput("files: attach at least one file", fields={"files": "required"})
        with self._transactions() as session:
            lock_for_write(session)
            today = utcnow().date()
            stored = bool(self._message.strip())
            if stored:
                add_reporter_message(session, self._reporter, self._message, today=today)
            files = self._upload.store(session, today=today) if self._upload is not None else []
        return EvidenceResult(attachments=files, message_stored=stored)

    def close(self) -> None:
        if self._upload is not None:
            self._upload.close()
