"""The auditor's view of the log: filtered pages of entries and the checkpoint status.

Entries carry ids, action names and allowlisted details only (service.audit.canonical), never
content, so showing them to an auditor shows no content. Pages are newest first with a keyset
cursor (the last index shown). The object filter matches the tip id or any value in `objects`:
the tip column is indexed; other ids are found in the canonical bytes and then checked exactly.

`checkpoint_status` checks what an auditor would check offline, against the log key given by the
caller (routes take it from the key file, not from the database): both newest stored checkpoints
are signed by that key, the newest tree is consistent with the previous one (RFC 9162 proof from
the stored subtree hashes), and the root recomputed from the stored entries matches the newest.

Imports SQLAlchemy, `crypto` and `service`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import String, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from crypto.checkpoint import Checkpoint, open_checkpoint_by_any
from crypto.errors import CryptoError, ProofError
from crypto.merkle import TreeBuilder, verify_consistency
from crypto.note import Verifier
from service.audit.canonical import AuditRecord, decode_entry
from service.audit.entries import append_stored_entries
from service.audit.log import log_size
from service.audit.models import AuditCheckpoint, AuditEntry
from service.audit.proofs import consistency
from service.audit.sql_dates import compile_per_dialect
from service.errors import InvalidInput
from service.staff.models import StaffUser

__all__ = [
    "MAX_LIMIT",
    "CheckpointInfo",
    "CheckpointStatus",
    "EntryFilters",
    "EntryPage",
    "checkpoint_status",
    "list_entries",
]

MAX_LIMIT = 200
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]*)*")
_TOKEN = re.compile(r"[A-Za-z0-9_.:@+/=-]{1,128}")
_BATCH = 500


class _canonical_text(FunctionElement[str]):
    """The canonical entry bytes as text (they are ASCII JSON)."""

    type = String()
    inherit_cache = True


compile_per_dialect(
    _canonical_text, sqlite="CAST({} AS TEXT)", postgresql="convert_from({}, 'UTF8')"
)


@dataclass(frozen=True, slots=True)
class EntryFilters:
    """Validated filters; every field is a scalar, so they can go into the audit entry as-is."""

    actor: str | None = None  # a staff id, a username, "system" or "reporter"
    action: str | None = None  # exact, or a prefix ending in "." ("tip." matches "tip.viewed")
    object_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def __post_init__(self) -> None:
        bad: dict[str, str] = {}
        for name in ("actor", "object_id"):
            value = getattr(self, name)
            if value is not None and not _TOKEN.fullmatch(value):
                bad[name] = "invalid"
        if self.action is not None and (
            len(self.action) > 64 or not _ACTION.fullmatch(self.action)
        ):
            bad["action"] = "invalid"
        if self.date_from and self.date_to and self.date_from > self.date_to:
            bad["date_to"] = "before_from"
        if bad:
            raise InvalidInput("invalid filter: " + ", ".join(sorted(bad)), fields=bad)

    def details(self) -> dict[str, str | None]:
        return {
            "actor": self.actor,
            "action": self.action,
            "object_id": self.object_id,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
        }


@dataclass(frozen=True, slots=True)
class EntryPage:
    entries: list[AuditRecord]
    usernames: dict[str, str]  # actor id -> username, for the actors on this page
    next_cursor: int | None  # pass back as `cursor` for the next (older) page


def _actor_ids(session: Session, actor: str) -> list[str]:
    if actor in ("system", "reporter"):
        return [actor]
    try:
        return [str(uuid.UUID(actor))]
    except ValueError:
        found = session.scalar(select(StaffUser.id).where(StaffUser.username == actor))
        return [str(found)] if found is not None else []


def _conditions(session: Session, filters: EntryFilters) -> list[ColumnElement[bool]] | None:
    """SQL conditions, or None when nothing can match (an unknown username)."""
    out: list[ColumnElement[bool]] = []
    if filters.actor is not None:
        ids = _actor_ids(session, filters.actor)
        if not ids:
            return None
        out.append(AuditEntry.actor.in_(ids))
    if filters.action is not None:
        if filters.action.endswith("."):
            out.append(AuditEntry.action.startswith(filters.action, autoescape=True))
        else:
            out.append(AuditEntry.action == filters.action)
    if filters.date_from is not None:
        out.append(AuditEntry.time >= filters.date_from.isoformat())
    if filters.date_to is not None:
        # Times are 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SSZ': both sort below the next day.
        out.append(AuditEntry.time < (filters.date_to + timedelta(days=1)).isoformat())
    if filters.object_id is not None:
        out.append(_mentions(filters.object_id))
    return out


def _mentions(value: str) -> ColumnElement[bool]:
    try:
        tip = uuid.UUID(value)
    except ValueError:
        tip = None
    # Ids are stored in their canonical lowercase form; tokens need no JSON escaping.
    text = f'"{tip}"' if tip is not None else f'"{value}"'
    text_match = _canonical_text(AuditEntry.canonical).contains(text, autoescape=True)
    return text_match if tip is None else (AuditEntry.tip_id == tip) | text_match


def _is_about(record: AuditRecord, value: str) -> bool:
    try:
        value = str(uuid.UUID(value))
    except ValueError:
        pass
    return (record.tip_id is not None and str(record.tip_id) == value) or (
        value in record.objects.values()
    )


def list_entries(
    session: Session,
    *,
    filters: EntryFilters,
    cursor: int | None = None,
    limit: int = 50,
) -> EntryPage:
    """Entries matching `filters`, newest first, older than `cursor` (an index)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}", fields={"limit": "invalid"})
    if cursor is not None and cursor < 0:
        raise InvalidInput("cursor must be an entry index", fields={"cursor": "invalid"})
    conditions = _conditions(session, filters)
    if conditions is None:
        return EntryPage([], {}, None)
    found: list[AuditRecord] = []
    before = cursor
    more = False
    while True:
        query = select(AuditEntry.index, AuditEntry.canonical).where(*conditions)
        if before is not None:
            query = query.where(AuditEntry.index < before)
        rows = list(session.execute(query.order_by(AuditEntry.index.desc()).limit(_BATCH)))
        for index, canonical in rows:
            record = decode_entry(bytes(canonical))
            if filters.object_id is None or _is_about(record, filters.object_id):
                if len(found) == limit:
                    more = True
                    break
                found.append(record)
            before = index
        if more or len(rows) < _BATCH:
            break
    return EntryPage(
        entries=found,
        usernames=_usernames(session, {r.actor for r in found}),
        next_cursor=found[-1].index if more else None,
    )


def _usernames(session: Session, actors: set[str]) -> dict[str, str]:
    ids = []
    for actor in actors:
        try:
            ids.append(uuid.UUID(actor))
        except ValueError:
            continue
    if not ids:
        return {}
    rows = session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(ids)))
    return {str(staff_id): name for staff_id, name in rows}


# ---- Checkpoint status ----


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    size: int
    created_at: datetime
    root_hex: str | None  # None when the note could not be opened
    signature_ok: bool


@dataclass(frozen=True, slots=True)
class CheckpointStatus:
    """`verified` only when every check passed; `problem` is a short code saying which failed:
    no_checkpoint, bad_signature, beyond_log, entries_mismatch, previous_bad_signature,
    inconsistent."""

    verified: bool
    problem: str | None
    log_size: int
    newest: CheckpointInfo | None = None
    previous: CheckpointInfo | None = None
    checks: dict[str, bool] = field(default_factory=dict)


def _open(
    row: AuditCheckpoint, verifiers: Sequence[Verifier]
) -> tuple[Checkpoint | None, CheckpointInfo]:
    try:
        cp = open_checkpoint_by_any(row.note, verifiers)[0]
    except CryptoError:
        return None, CheckpointInfo(row.size, row.created_at, None, False)
    # The row's size column must say what the signed note says.
    ok = cp.size == row.size
    return (cp if ok else None), CheckpointInfo(row.size, row.created_at, cp.root_hex, ok)


def _root_from_entries(session: Session, size: int) -> bytes | None:
    """The Merkle root over the first `size` stored entries' canonical bytes (None if a gap)."""
    builder = TreeBuilder()
    return builder.root() if append_stored_entries(session, builder, size) else None


def checkpoint_status(
    session: Session, verifier: Verifier | Sequence[Verifier]
) -> CheckpointStatus:
    """Verify the newest stored checkpoint (and its consistency with the previous one);
    `verifier` may be every key the log was signed with (service.instance.keys.log_verifiers)."""
    keys = [verifier] if isinstance(verifier, Verifier) else list(verifier)
    size = log_size(session)
    rows = list(
        session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(2))
    )
    if not rows:
        return CheckpointStatus(False, "no_checkpoint", size)
    newest_cp, newest = _open(rows[0], keys)
    previous_cp, previous = _open(rows[1], keys) if len(rows) > 1 else (None, None)
    checks: dict[str, bool] = {"signature": newest_cp is not None}

    def result(problem: str | None) -> CheckpointStatus:
        return CheckpointStatus(problem is None, problem, size, newest, previous, checks)

    if newest_cp is None:
        return result("bad_signature")
    checks["within_log"] = newest_cp.size <= size
    if not checks["within_log"]:
        return result("beyond_log")
    checks["entries"] = _root_from_entries(session, newest_cp.size) == newest_cp.root
    if not checks["entries"]:
        return result("entries_mismatch")
    if previous is None:
        return result(None)
    checks["previous_signature"] = previous_cp is not None
    if previous_cp is None:
        return result("previous_bad_signature")
    try:
        proof = consistency(session, previous_cp.size, newest_cp.size)
        verify_consistency(
            previous_cp.size, newest_cp.size, proof, previous_cp.root, newest_cp.root
        )
        checks["consistent"] = True
    except (ProofError, LookupError):
        checks["consistent"] = False
        return result("inconsistent")
    return result(None)
