"""Receiving a tip over HTTP, shared by the JSON API and the HTML form.

Text fields come first; the tip is begun (validated, routed, keys created, reading only) when
the first file part starts or the body ends; files then stream through metadata removal and
encryption into a spool of ciphertext. While the body arrives no lock is held and no
transaction is open. Once it has ended, one short transaction stores the tip with its files
(service.tips.uploads), and `receive_tip` returns only after the commit.

Idempotency: a replayed key with the same submission returns the first receipt within its
window (`replay_window`), then 410; with another submission, 409. The digest covers the fields
and every file's bytes as received. A concurrent duplicate is settled when it stores: it waits
for the first one's row (PostgreSQL) or its turn to write (SQLite), then replays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from routes.deps import (
    IntakeGate,
    instance_context,
    session_factory,
    settings_of,
    transaction,
    write_transaction,
)
from routes.multipart import FileSink, Limits, stream_multipart
from service.config import Settings
from service.db import utcnow
from service.errors import InvalidInput
from service.instance.context import InstanceContext
from service.tips import idempotency
from service.tips.attachments import AttachmentSummary
from service.tips.intake import IntakeResult, PendingTip, begin_tip, is_lookup_collision
from service.tips.schemas import LIMITS, TipSubmission
from service.tips.uploads import prepare_tip, remember, store_tip

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
    factory: sessionmaker[Session]
    ctx: InstanceContext
    to_submission: Callable[[Fields], TipSubmission]
    key: str | None
    window: timedelta  # how long a replay gets the receipt back
    spool_dir: Path
    # The HTML form sends its key (a one-time nonce) as a field, known only once fields are in.
    key_from_fields: Callable[[Fields], str | None] | None = None
    fields: Fields = field(default_factory=dict)
    begun: bool = False
    pending: PendingTip | None = None  # None once begun: a replay
    digest: Any = field(default_factory=hashlib.sha256)

    def begin(self) -> None:
        """In a worker thread, once the fields are in: CSRF and validation, then reads only."""
        submission = self.to_submission(self.fields)
        if self.key_from_fields is not None:
            self.key = self.key_from_fields(self.fields)
            if self.key is not None:
                idempotency.validate_key(self.key)
        for name in sorted(self.fields):
            for value in self.fields[name]:
                self.digest.update(f"{len(name)}:{name}={len(value)}:{value};".encode())
        with transaction(self.factory) as session:  # ends before any file arrives
            self.pending = prepare_tip(
                session, self.ctx, submission, key=self.key, spool_dir=self.spool_dir
            )
        self.begun = True

    def open_file(self, filename: str) -> FileSink:
        if not self.begun:
            self.begin()
        self.digest.update(f"file:{len(filename)}:{filename};".encode())
        inner = self.pending.add_attachment(filename) if self.pending is not None else None
        return _HashingSink(inner, self.digest)

    def store(self) -> IntakeResult:
        """In the write turn: the one transaction, committed before it returns."""
        digest = self.digest.digest()
        with transaction(self.factory) as session:
            return store_tip(
                session, self.pending, key=self.key, digest=digest, now=utcnow(),
                window=self.window,
            )  # fmt: skip

    def close(self) -> None:
        if self.pending is not None:
            self.pending.close()


async def receive_tip(
    request: Request,
    *,
    to_submission: Callable[[Fields], TipSubmission],
    idempotency_key: str | None,
    gate: IntakeGate,
    idempotency_from_fields: Callable[[Fields], str | None] | None = None,
    limits: Limits = INTAKE_LIMITS,
) -> IntakeResult:
    """Parse a multipart body into one committed tip; return its receipt.

    The key comes either from the caller (`idempotency_key`, e.g. a header) or, when
    `idempotency_from_fields` is given, from the text fields (called after `to_submission`).
    Blocking work runs on the intake gate's worker threads; the storing step in its write turn.
    """
    if idempotency_key is not None and idempotency_from_fields is not None:
        raise ValueError("pass idempotency_key or idempotency_from_fields, not both")
    if idempotency_key is not None:
        idempotency.validate_key(idempotency_key)
    ctx = await anyio.to_thread.run_sync(instance_context, request)
    settings = settings_of(request)
    window = replay_window(settings, form=idempotency_from_fields is not None)
    state = _Receiving(
        session_factory(request), ctx, to_submission, idempotency_key, window,
        settings.data_dir, idempotency_from_fields,
    )  # fmt: skip

    async def on_field(name: str, value: str) -> None:
        if state.begun:
            raise InvalidInput("text fields must come before files")
        state.fields.setdefault(name, []).append(value)

    async def on_file(name: str, filename: str, _type: str | None) -> FileSink:
        if name != "files":
            raise InvalidInput("files go in the 'files' field")
        return await gate.run_sync(lambda: state.open_file(filename))

    try:
        await stream_multipart(
            request, limits=limits, on_field=on_field, on_file=on_file, limiter=gate.threads
        )
        if not state.begun:
            await gate.run_sync(state.begin)
        return await gate.write(state.store)
    finally:
        state.close()


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
            with write_transaction(factory) as session:
                if idempotency_key is not None:
                    earlier = idempotency.recall(
                        session, idempotency_key, body_digest, now=utcnow()
                    )
                    if earlier is not None:
                        return IntakeResult(tip_id=None, receipt=earlier)
                result = begin_tip(session, ctx, submission, check_lookup=False).finish()
                return remember(
                    session, idempotency_key, body_digest, result, now=utcnow(),
                    window=replay_window,
                )  # fmt: skip
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
