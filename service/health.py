"""Readiness: can this instance serve? Room to write (service.storage), database reachable,
schema at head, keys present, and no audit-log alarm (service.audit.alarm: the signer found a
rewritten history)."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from crypto.errors import CryptoError
from service.audit.alarm import read_alarm
from service.config import Settings
from service.instance.keys import load_blind_index_key, load_log_signer
from service.instance.models import AUDIT_LOG_VKEY, RECOVERY_RECIPIENT, InstanceKey
from service.migrations import current_revision, head_revision
from service.storage import watch_of

__all__ = ["readiness_problems"]


def readiness_problems(engine: Engine, settings: Settings) -> list[str]:
    """Short reasons this instance is not ready; empty when it is."""
    watch = watch_of(engine)
    storage = watch.problems() if watch is not None else []
    return storage + _database_problems(engine, settings)


def _database_problems(engine: Engine, settings: Settings) -> list[str]:
    try:
        current = current_revision(engine)
    except SQLAlchemyError:
        return ["database unreachable"]
    if current != head_revision():
        return ["migrations not at head (run `probity db upgrade`)"]
    problems: list[str] = []
    try:
        with engine.connect() as connection:
            rows = {
                n: v for n, v in connection.execute(select(InstanceKey.name, InstanceKey.value))
            }
    except SQLAlchemyError:
        return ["database unreachable"]
    if AUDIT_LOG_VKEY not in rows or RECOVERY_RECIPIENT not in rows:
        problems.append("instance keys missing (run `probity init`)")
        return problems
    keys_dir = settings.effective_keys_dir
    try:
        signer = load_log_signer(keys_dir)
        if signer.verifier.encode() != rows[AUDIT_LOG_VKEY]:
            problems.append("log signing key does not match the database")
        load_blind_index_key(keys_dir)
    except (OSError, ValueError, CryptoError):
        problems.append("key files missing or unreadable in the keys directory")
    alarm = read_alarm(keys_dir)
    if alarm is not None:
        problems.append(
            f"audit_log_alarm: {alarm.reason} (the log no longer matches what was signed; "
            "signing stopped; see docs/operations.md)"
        )
    return problems
