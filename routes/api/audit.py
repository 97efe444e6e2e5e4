"""The audit zone of the API: checkpoints, entries and proofs of the tamper-evident log.

Auditors, supervisors and admins only (the dependency sits on the router). Formats: docs/audit.md.
Reading entries is itself an audit entry (`audit.read` with the range).
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.checkpoint import format_inclusion_proof
from routes.api.schemas import STAFF_ERRORS, STORE_ERRORS, raw_answer
from routes.api.schemas_audit import Consistency, Entry, Inclusion
from routes.deps import Db, UnitOfWork, settings_of
from routes.errors import errors
from routes.staff_auth import require_roles
from service.audit import proofs
from service.audit.checkpoints import current_checkpoint
from service.audit.entries import StoredEntry, read_entries
from service.audit.models import AuditCheckpoint
from service.audit.statements import list_statements
from service.audit.verify import export_statement
from service.errors import Unavailable
from service.instance.keys import load_log_signer
from service.staff.models import Role
from service.staff.sessions import Principal

__all__ = ["AUDIT_ROLES", "router"]

AUDIT_ROLES = (Role.AUDITOR, Role.SUPERVISOR, Role.ADMIN)
_auditor = require_roles(*AUDIT_ROLES)
Auditor = Annotated[Principal, Depends(_auditor)]
# The entries say which staff member read which tip and when: auditors only (as the /audit
# pages). Checkpoints, the key and proofs are hashes, for anyone checking the log.
AuditorOnly = Annotated[Principal, Depends(require_roles(Role.AUDITOR))]

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    dependencies=[Depends(_auditor)],
    responses=STAFF_ERRORS,
)
_TEXT = "text/plain; charset=utf-8"
Position = Annotated[int, Query(ge=-(2**62), le=2**62)]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _signed_checkpoint(request: Request, db: UnitOfWork) -> str:
    settings = settings_of(request)
    try:
        return db.run(lambda s: current_checkpoint(s, settings))
    except FileNotFoundError:
        raise Unavailable("the audit log's signing key is missing") from None


@router.get(
    "/checkpoint",
    response_class=Response,
    responses={**raw_answer("text/plain", "The signed note"), **STORE_ERRORS},
)
def checkpoint(request: Request, db: Db) -> PlainTextResponse:
    """The newest signed checkpoint (C2SP tlog-checkpoint note); signs one if the log grew."""
    return PlainTextResponse(_signed_checkpoint(request, db), media_type=_TEXT)


@router.get(
    "/key",
    response_class=Response,
    responses=raw_answer("text/plain", "The verifier key, one line"),
)
def key(request: Request) -> PlainTextResponse:
    """The log's signed-note verifier key, for `probity audit verify --key`."""
    try:
        signer = load_log_signer(settings_of(request).effective_keys_dir)
    except FileNotFoundError:
        raise Unavailable("the audit log's signing key is missing") from None
    return PlainTextResponse(signer.verifier.encode() + "\n", media_type=_TEXT)


@router.get(
    "/statements",
    response_class=Response,
    responses={**raw_answer("text/plain", "One JSON line per statement"), **STORE_ERRORS},
)
def statements(db: Db) -> PlainTextResponse:
    """The log's signed statements (key rotations, restores), oldest first: one
    `{"statement": "<signed note>"}` line each, exactly as `probity audit export` writes them."""
    notes = db.run(lambda s: [row.note for row in list_statements(s)])
    return PlainTextResponse("".join(export_statement(n) for n in notes), media_type=_TEXT)


def _entry_json(entry: StoredEntry) -> dict[str, Any]:
    r = entry.record
    return {
        "index": r.index,
        "time": r.time.isoformat().replace("+00:00", "Z"),
        "actor": r.actor,
        "action": r.action,
        "tip": str(r.tip_id) if r.tip_id is not None else None,
        "objects": r.objects,
        "details": r.details,
        "canonical": _b64(entry.canonical),
    }


@router.get("/entries", response_model=list[Entry], responses={**errors(400), **STORE_ERRORS})
def entries(principal: AuditorOnly, start: Position, end: Position, db: Db) -> list[dict[str, Any]]:
    """Entries [start, end) (end is clamped to the log's size), at most 1000 a call."""
    found = db.run(lambda s: read_entries(s, start, end, reader=principal.staff_id))
    return [_entry_json(e) for e in found]


def _checkpoint_note(session: Session, size: int) -> str | None:
    return session.scalar(select(AuditCheckpoint.note).where(AuditCheckpoint.size == size))


@router.get("/proofs/inclusion", response_model=Inclusion, responses=errors(400))
def inclusion_proof(index: Position, tree_size: Position, db: Db) -> dict[str, Any]:
    """RFC 9162 inclusion proof; with `tlog_proof` (C2SP tlog-proof text) when a signed
    checkpoint of exactly `tree_size` exists."""

    def work(session: Session) -> tuple[list[bytes], str | None]:
        return proofs.inclusion(session, index, tree_size), _checkpoint_note(session, tree_size)

    hashes, note = db.run(work)
    text = format_inclusion_proof(index, hashes, note) if note is not None else None
    return {
        "index": index,
        "tree_size": tree_size,
        "hashes": [_b64(h) for h in hashes],
        "tlog_proof": text,
    }


@router.get("/proofs/consistency", response_model=Consistency, responses=errors(400))
def consistency_proof(first: Position, second: Position, db: Db) -> dict[str, Any]:
    """RFC 9162 consistency proof between tree sizes `first` <= `second`."""
    hashes = db.run(lambda s: proofs.consistency(s, first, second))
    return {"first": first, "second": second, "hashes": [_b64(h) for h in hashes]}
