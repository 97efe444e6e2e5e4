"""The log signer's own memory, kept in the keys directory, out of reach of a database editor.

Two 0600 files beside the log signing key:
- `audit-last-signed.note`: the newest checkpoint this keys directory signed, written after the
  signing transaction commits. A database rewrite that also deletes or replaces checkpoint rows
  is caught by comparing the database with it.
- `audit-alarm.json`: set when the signer found the log inconsistent with what was signed. While
  it exists nothing is signed, `/readyz` fails and `/audit` pages show a banner. Only an operator
  clears it (`probity audit alarm clear`, docs/operations.md).

Files are replaced atomically (write a temporary file, fsync, rename). Imports the standard
library, `crypto` and `service.logging`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from crypto.checkpoint import parse_body
from crypto.errors import CryptoError
from service.logging import get_logger

__all__ = [
    "ALARM_FILE",
    "SIGNED_RECORD_FILE",
    "AuditAlarm",
    "clear_alarm",
    "raise_alarm",
    "read_alarm",
    "read_signed_record",
    "write_signed_record",
]

ALARM_FILE = "audit-alarm.json"
SIGNED_RECORD_FILE = "audit-last-signed.note"
_log = get_logger("probity.audit.signer")


@dataclass(frozen=True, slots=True)
class AuditAlarm:
    reason: str
    tree_size: int  # the log's size when it was found
    raised_at: str  # UTC, to the second: when the signer noticed, not any reporter's action


def _replace(path: Path, data: bytes) -> None:
    """Atomically make `path` hold `data`, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_alarm(keys_dir: Path) -> AuditAlarm | None:
    """The active alarm; an unreadable alarm file is still an alarm."""
    path = keys_dir / ALARM_FILE
    try:
        data = json.loads(path.read_bytes())
        return AuditAlarm(str(data["reason"]), int(data["tree_size"]), str(data["raised_at"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return AuditAlarm("alarm_file_unreadable", 0, "")


def raise_alarm(keys_dir: Path, reason: str, tree_size: int) -> AuditAlarm:
    """Record the alarm (the first one stays: it names the original cause) and log it."""
    existing = read_alarm(keys_dir)
    if existing is not None:
        return existing
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    alarm = AuditAlarm(reason, tree_size, now)
    _replace(keys_dir / ALARM_FILE, json.dumps(asdict(alarm), sort_keys=True).encode() + b"\n")
    _log.error("audit_alarm", reason=reason, tree_size=tree_size)
    return alarm


def clear_alarm(keys_dir: Path) -> AuditAlarm | None:
    """Remove the alarm; returns what it said."""
    alarm = read_alarm(keys_dir)
    (keys_dir / ALARM_FILE).unlink(missing_ok=True)
    return alarm


def read_signed_record(keys_dir: Path) -> str | None:
    try:
        return (keys_dir / SIGNED_RECORD_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def write_signed_record(keys_dir: Path, note: str, size: int) -> None:
    """Remember `note` unless a bigger one is remembered already (two signers may race)."""
    current = read_signed_record(keys_dir)
    if current is not None:
        try:
            if parse_body(current.split("\n\n", 1)[0] + "\n").size >= size:
                return
        except CryptoError:
            pass  # unreadable: replace it with one we know is good
    _replace(keys_dir / SIGNED_RECORD_FILE, note.encode("utf-8"))
