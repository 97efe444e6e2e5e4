"""Helpers for the audit tests: a log key, sessions, filling the log."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from crypto.note import Signer
from service.audit.log import AuditEvent, record_many
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.instance.keys import create_instance_secrets

LOG_NAME = "probity.test/audit"


def make_log_key(settings: Settings) -> Signer:
    return create_instance_secrets(settings.effective_keys_dir, LOG_NAME)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    with session_scope(make_session_factory(engine)) as session:
        yield session


def fill(engine: Engine, count: int, *, action: str = "tip.viewed") -> None:
    with transaction(engine) as session:
        record_many(session, [AuditEvent("system", action, details={"n": i}) for i in range(count)])


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH, written straight from the definition (the test oracle)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()
