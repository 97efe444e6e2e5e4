"""Helpers for the key-rotation tests: a reporter signed in with the receipt, content written by
both sides through the real services, and every blob of a tip opened with a set of keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crypto.errors import CryptoError
from service.blobs.models import Blob
from service.blobs.store import read_blob
from service.config import Settings
from service.db import make_session_factory, session_scope, utcnow
from service.instance.context import load_context
from service.staff.sessions import Principal
from service.tips.casework import add_note, send_message
from service.tips.conversation import add_reporter_message
from service.tips.keys import open_identity_key, open_tip_keys
from service.tips.receiving import EvidenceUpload
from service.tips.reporter_auth import ReporterSession, login_with_receipt, open_token
from tests.factories import in_tx

__all__ = [
    "Keys",
    "blob_ids",
    "keys_of",
    "opens",
    "reporter_login",
    "reporter_upload",
    "reporter_writes",
    "staff_writes",
]


@dataclass(frozen=True)
class Keys:
    """A tip's private keys as one holder could copy them."""

    conversation: str
    case: str
    identity: str | None

    def all(self) -> list[str]:
        return [k for k in (self.conversation, self.case, self.identity) if k is not None]


def keys_of(engine: Engine, tip_id: uuid.UUID, staff: str, custodian: str | None = None) -> Keys:
    """The keys `staff` opens from the staff envelope (and `custodian` from the identity one)."""

    def read(session: Session) -> Keys:
        keys = open_tip_keys(session, tip_id, staff)
        identity = open_identity_key(session, tip_id, custodian) if custodian else None
        return Keys(keys.conversation, keys.case, identity)

    return in_tx(engine, read)


def blob_ids(engine: Engine, tip_id: uuid.UUID) -> set[uuid.UUID]:
    return set(in_tx(engine, lambda s: s.scalars(select(Blob.id).where(Blob.tip_id == tip_id))))


def opens(engine: Engine, blob_id: uuid.UUID, identities: list[str]) -> bool:
    try:
        in_tx(engine, lambda s: read_blob(s, blob_id, identities))
    except CryptoError:
        return False
    return True


def reporter_login(engine: Engine, settings: Settings, receipt: str) -> ReporterSession:
    with session_scope(make_session_factory(engine)) as session:
        ctx = load_context(session, settings)
        token = login_with_receipt(session, ctx, receipt, now=utcnow()).token
    assert token is not None
    return open_token(ctx, token, now=utcnow())


def reporter_upload(
    engine: Engine, settings: Settings, reporter: ReporterSession, data: bytes, message: str = ""
) -> None:
    """A message and one file, as the status page sends them."""
    upload = EvidenceUpload(
        partial(session_scope, make_session_factory(engine)),
        reporter,
        spool_dir=settings.data_dir,
        files_required=True,
    )
    try:
        upload.begin(remove_metadata=False, message=message)
        sink = upload.open_file("notes.txt")
        sink.write(data)
        sink.close()
        upload.finish()
    finally:
        upload.close()


def staff_writes(engine: Engine, who: Principal, tip_id: uuid.UUID, text: str) -> None:
    """A message to the reporter and an internal note, by `who`."""
    in_tx(engine, lambda s: send_message(s, who, tip_id, f"message {text}", now=utcnow()))
    in_tx(engine, lambda s: add_note(s, who, tip_id, f"note {text}", now=utcnow()))


def reporter_writes(engine: Engine, reporter: ReporterSession, text: str) -> None:
    in_tx(engine, lambda s: add_reporter_message(s, reporter, text, today=utcnow().date()))
