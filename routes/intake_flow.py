"""Receiving a tip over HTTP, shared by the JSON API and the HTML form.

Text fields come first; the tip is begun (validated, routed, keys created) when the first file
part starts or the body ends; files then stream through metadata removal and encryption into
chunk rows in the same transaction. Nothing is committed until the whole body has arrived and
every check passed, and `receive_tip` returns only after the commit.

Idempotency: a replayed key with the same submission returns the first receipt within its
window (`replay_window`), then 410; with another submission, 409. The digest covers the fields
and every file's bytes as received. A concurrent duplicate waits on the first one's row
(PostgreSQL) or its write lock (SQLite), then replays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio
from fastapi import Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from routes.deps import (
    async_transaction,
    instance_context,
    session_factory,
    settings_of,
    transaction,
)
from routes.multipart import FileSink, Limits, stream_multipart
from service.config import Settings
from service.db import lock_for_write, utcnow
from service.errors import InvalidInput
from service.instance.context import InstanceContext
from service.tips import idempotency
from service.tips.attachments import AttachmentSummary
from service.tips.intake import IntakeResult, PendingTip, begin_tip, is_lookup_collision
from service.tips.schemas import LIMITS, TipSubmission

__all__ = [
    "INTAKE_LIMITS",
    "Fields",
    "receive_tip",
    "replay_window",
    "store_submission",
    "summaries_json",
]

Fields = dict[str, list[str]]
_LOOKUP_ATTEMPTS = 3
INTAKE_LIMITS = Limits(
    max_body=LIMITS["tip_max_bytes"] + (1 << 20),
    max_file=LIMITS["file_max_bytes"],
    max_files=LIMITS["files_max"],
    max_field=64 << 10,
    max_fields=200,
)


class _HashingSink:
    """Feeds a file to the tip's writer (or nowhere, on a replay) and into the digest."""

    def __init__(self, inner: FileSink | None, digest: Any) -> None:
        self._inner = inner
        self._digest = digest

    def write(self, data: bytes) -> None:
        self._digest.update(data)
        if self._inner is not None:
            self._inner.write(data)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


@dataclass
class _Receiving:
    session: Session
    ctx: InstanceContext
    to_submission: Callable[[Fields], TipSubmission]
    key: str | None
    window: timedelta  # how long a replay gets the receipt back
    # The HTML form sends its key (a one-time nonce) as a field, known only once fields are in.
    key_from_fields: Callable[[Fields], str | None] | None = None
    replaying: bool = False
    fields: Fields = field(default_factory=dict)
    begun: bool = False
    pending: PendingTip | None = None
    digest: Any = field(default_factory=hashlib.sha256)

    def begin(self) -> None:
        # Fields first (CSRF, validation), then the write lock: a client that never finishes its
        # fields must not hold up every other writer.
        submission = self.to_submission(self.fields)
        if self.key_from_fields is not None:
            self.key = self.key_from_fields(self.fields)
            if self.key is not None:
                idempotency.validate_key(self.key)
        lock_for_write(self.session)
        self.replaying = self.key is not None and idempotency.exists(self.session, self.key)
        for name in sorted(self.fields):
            for value in self.fields[name]:
                self.digest.update(f"{len(name)}:{name}={len(value)}:{value};".encode())
        self.begun = True
        if not self.replaying:
            self.pending = begin_tip(self.session, self.ctx, submission)

    def open_file(self, filename: str) -> FileSink:
        if not self.begun:
            self.begin()
        self.digest.update(f"file:{len(filename)}:{filename};".encode())
        inner = self.pending.add_attachment(filename) if self.pending is not None else None
        return _HashingSink(inner, self.digest)

    def finish(self) -> IntakeResult:
        if not self.begun:
            self.begin()
        digest = self.digest.digest()
        if self.pending is None and self.key is not None:
            return _replayed(self.session, self.key, digest)
        if self.pending is None:
            raise RuntimeError("a tip was neither begun nor replayed")
        result = self.pending.finish()
        return _remember(self.session, self.key, digest, result, self.window)


def _replayed(session: Session, key: str, digest: bytes) -> IntakeResult:
    session.rollback()  # Whatever this request staged is dropped.
    receipt = idempotency.recall(session, key, digest, now=utcnow())
    if receipt is None:
        raise InvalidInput("could not match the earlier submission; please retry")
    return IntakeResult(tip_id=None, receipt=receipt)


def _remember(
    session: Session, key: str | None, digest: bytes, result: IntakeResult, window: timedelta
) -> IntakeResult:
    if key is None:
        return result
    try:
        idempotency.remember(session, key, digest, result.receipt, now=utcnow(), window=window)
    except IntegrityError:
        return _replayed(session, key, digest)
    return result


async def receive_tip(
    request: Request,
    *,
    to_submission: Callable[[Fields], TipSubmission],
    idempotency_key: str | None,
    idempotency_from_fields: Callable[[Fields], str | None] | None = None,
    limits: Limits = INTAKE_LIMITS,
    limiter: anyio.CapacityLimiter | None = None,
) -> IntakeResult:
    """Parse a multipart body into one committed tip; return its receipt.

    The key comes either from the caller (`idempotency_key`, e.g. a header) or, when
    `idempotency_from_fields` is given, from the text fields (called after `to_submission`).
    Blocking work runs on worker threads taken from `limiter` (the intake gate's).
    """
    if idempotency_key is not None and idempotency_from_fields is not None:
        raise ValueError("pass idempotency_key or idempotency_from_fields, not both")
    if idempotency_key is not None:
        idempotency.validate_key(idempotency_key)
    ctx = await anyio.to_thread.run_sync(instance_context, request)
    window = replay_window(settings_of(request), form=idempotency_from_fields is not None)
    async with async_transaction(session_factory(request)) as session:
        state = _Receiving(
            session, ctx, to_submission, idempotency_key, window, idempotency_from_fields
        )

        async def on_field(name: str, value: str) -> None:
            if state.begun:
                raise InvalidInput("text fields must come before files")
            state.fields.setdefault(name, []).append(value)

        async def on_file(name: str, filename: str, _type: str | None) -> FileSink:
            if name != "files":
                raise InvalidInput("files go in the 'files' field")
            return await anyio.to_thread.run_sync(state.open_file, filename, limiter=limiter)

        await stream_multipart(
            request, limits=limits, on_field=on_field, on_file=on_file, limiter=limiter
        )
        return await anyio.to_thread.run_sync(state.finish, limiter=limiter)


def replay_window(settings: Settings, *, form: bool) -> timedelta:
    """How long a replayed submission gets its receipt back: minutes for the HTML form, a day
    for API clients' retries (settings `form_replay_minutes`, `api_replay_hours`)."""
    if form:
        return timedelta(minutes=settings.form_replay_minutes)
    return timedelta(hours=settings.api_replay_hours)


def store_submission(
    factory: sessionmaker[Session],
    ctx: InstanceContext,
    submission: TipSubmission,
    *,
    idempotency_key: str | None,
    body_digest: bytes,
    replay_window: timedelta,
) -> IntakeResult:
    """The JSON path: one transaction, no files. The submission is in memory, so a taken
    receipt lookup id is simply tried again rather than checked for first (a query per tip)."""
    attempts = 0
    while True:
        try:
            with transaction(factory) as session:
                lock_for_write(session)
                if idempotency_key is not None:
                    earlier = idempotency.recall(
                        session, idempotency_key, body_digest, now=utcnow()
                    )
                    if earlier is not None:
                        return IntakeResult(tip_id=None, receipt=earlier)
                result = begin_tip(session, ctx, submission, check_lookup=False).finish()
                return _remember(session, idempotency_key, body_digest, result, replay_window)
        except IntegrityError as exc:
            attempts += 1
            if not is_lookup_collision(exc) or attempts == _LOOKUP_ATTEMPTS:
                raise


def summaries_json(items: list[AttachmentSummary]) -> list[dict[str, object]]:
    return [
        {
            "name": s.name,
            "size": s.size,
            "metadata_removed": list(s.removed),
            "metadata_cleaned": s.cleaned,
            "not_cleaned_reason": s.reason,
        }
        for s in items
    ]
