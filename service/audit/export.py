"""`probity audit export`: the log as JSON Lines plus the signed checkpoint it matches.

The log's signed statements (key rotations, restores: service.audit.statements) follow the
header, so an auditor can follow the key chain and see restores before reading the entries.

The checkpoint is signed (or reused; while the signer's alarm is on, the last one it signed) and
committed first, so the long read that follows holds no
lock: entries below a signed size never change.
"""

from __future__ import annotations

import os
from binascii import b2a_base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from crypto.checkpoint import open_checkpoint_by_any
from service.audit.alarm import read_signed_record
from service.audit.checkpoints import current_checkpoint, latest_checkpoint
from service.audit.entries import iter_stored
from service.audit.log import record
from service.audit.statements import list_statements
from service.audit.verify import export_header, export_statement
from service.config import Settings
from service.errors import HistoryMismatch
from service.instance.keys import log_verifiers

__all__ = ["ExportResult", "checkpoint_path", "export_line", "export_log"]


@dataclass(frozen=True)
class ExportResult:
    origin: str
    size: int
    path: Path
    checkpoint: Path


def export_line(index: int, entry: bytes, leaf: bytes) -> str:
    """Exactly service.audit.verify.export_line's text (json.dumps defaults; base64 needs no
    escaping), at a fifth of its cost: the export of a large log is mostly this."""
    entry_b64 = b2a_base64(entry, newline=False).decode()
    leaf_b64 = b2a_base64(leaf, newline=False).decode()
    return f'{{"index": {index}, "entry": "{entry_b64}", "leaf_hash": "{leaf_b64}"}}\n'


def checkpoint_path(path: Path) -> Path:
    return path.with_name(path.name + ".checkpoint")


def _checkpoint_to_export(session: Session, settings: Settings) -> str:
    """The current checkpoint; while the signer's alarm is on (nothing is signed), the one it
    remembers signing last, else the newest stored: the export that shows what was changed."""
    try:
        return current_checkpoint(session, settings)
    except HistoryMismatch:
        remembered = read_signed_record(settings.effective_keys_dir)
        if remembered is not None:
            return remembered
        latest = latest_checkpoint(session)
        if latest is None:
            raise
        return latest.note


def export_log(
    session: Session,
    settings: Settings,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Write entries [0, size) of the newest checkpoint to `path` and the checkpoint beside it."""
    note = _checkpoint_to_export(session, settings)
    session.commit()
    cp = open_checkpoint_by_any(note, log_verifiers(settings.effective_keys_dir))[0]
    statements = [row.note for row in list_statements(session)]
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="\n") as out:
        out.write(export_header(cp.origin, cp.size, len(statements)))
        out.writelines(export_statement(s) for s in statements)
        for index, canonical, leaf in iter_stored(session, cp.size):
            out.write(export_line(index, canonical, leaf))
            if progress is not None and index % 8192 == 0:
                progress(index, cp.size)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    checkpoint_path(path).write_text(note, encoding="utf-8")
    if progress is not None:
        progress(cp.size, cp.size)
    record(session, actor="system", action="audit.exported", details={"size": cp.size})
    return ExportResult(cp.origin, cp.size, path, checkpoint_path(path))
