"""Reading one tip over the API, readers of its audience only (others get 404, like a missing tip):

- `GET /api/v1/tips/{id}`: the whole tip (audited `tip.viewed` before any content is returned);
- `GET /api/v1/tips/{id}/related`: readable tips sharing a subject, with the kind of match;
- `GET /api/v1/tips/{id}/attachments/{attachment_id}`: one evidence file. The audit entry
  (`attachment.downloaded`) is committed before the first byte; the file is then decrypted and
  streamed chunk row by chunk row, never whole in memory, as a sandboxed download.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse

from routes.api.schemas import STAFF_ERRORS, json_fields, raw_answer
from routes.api.schemas_staff import Related, Tip
from routes.deps import Db, UnitOfWork, path_id
from routes.errors import errors
from routes.staff_auth import READERS, require_roles
from service.audit.log import AuditRecord
from service.blobs.store import iter_blob
from service.errors import NotFound
from service.staff.sessions import Principal
from service.tips.related import RelatedTip, related_tips
from service.tips.view import AttachmentDownload, TipView, open_attachment, tip_view

__all__ = [
    "DOWNLOAD_CSP",
    "content_disposition",
    "download_response",
    "parse_id",
    "related_json",
    "router",
    "view_json",
]

router = APIRouter(
    prefix="/api/v1/tips",
    tags=["tips"],
    dependencies=[Depends(require_roles(*READERS))],
    responses={**STAFF_ERRORS, **errors(404)},
)
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
DOWNLOAD_CSP = "sandbox; default-src 'none'"
# RFC 5987 attr-char: what may stay unencoded in filename*.
_ATTR_CHARS = "!#$&+-.^_`|~"


def parse_id(value: str) -> uuid.UUID:
    """A path id; what is not a UUID names no tip (404, like a tip outside the audience)."""
    return path_id(value, "tip")


def related_json(related: list[RelatedTip]) -> list[dict[str, Any]]:
    return [
        {**json_fields(r, "id", "short_id", "status", "received_on"), "matches": list(r.matches)}
        for r in related
    ]


def _history_json(entry: AuditRecord, actors: dict[str, str]) -> dict[str, Any]:
    fields = json_fields(entry, "index", "time", "actor", "action", "objects", "details")
    return {**fields, "actor_name": actors.get(entry.actor)}


# Copied as they are (ids and dates as JSON strings); the lists are shaped in view_json.
_VIEW_FIELDS = (
    "id short_id status urgent legal_hold priority priority_reasons compartment received_on"
    " acknowledged_at ack_due feedback_due assignee closure_reason contested_on report"
    " contact_on_file purged"
).split()


def view_json(view: TipView) -> dict[str, Any]:
    return {
        **json_fields(view, *_VIEW_FIELDS),
        "evidence": [
            {**asdict(e), "id": str(e.id), "removed": list(e.removed)} for e in view.evidence
        ],
        "conversation": [
            json_fields(m, "author", "from_reporter", "sent_on", "body") for m in view.conversation
        ],
        "notes": [json_fields(n, "id", "author", "kind", "created_at", "body") for n in view.notes],
        "history": [_history_json(h, view.actors) for h in view.history],
        "related": related_json(view.related),
    }


@router.get("/{tip_id}", response_model=Tip)
def get_tip(tip_id: str, principal: Reader, db: Db) -> dict[str, Any]:
    """The report, priority reasons, evidence list, conversation, notes, history, related tips."""
    with db.transaction() as session:
        view = tip_view(session, principal, parse_id(tip_id))
    return view_json(view)


@router.get("/{tip_id}/related", response_model=Related)
def get_related(tip_id: str, principal: Reader, db: Db) -> dict[str, Any]:
    with db.transaction() as session:
        related = related_tips(session, principal.staff_id, parse_id(tip_id))
    return {"related": related_json(related)}


def content_disposition(name: str) -> str:
    return "attachment; filename*=UTF-8''" + quote(name, safe=_ATTR_CHARS)


def _chunks(db: UnitOfWork, download: AttachmentDownload) -> Iterator[bytes]:
    # A fresh read-only session: the audited transaction has already committed.
    with db.reader() as session:
        yield from iter_blob(session, download.blob_id, [download.identity])


def download_response(
    db: UnitOfWork, principal: Principal, tip_id: uuid.UUID, attachment_id: str
) -> StreamingResponse:
    """Shared with the staff tip page: audit and commit, then stream."""
    try:
        wanted = uuid.UUID(attachment_id)
    except ValueError:
        raise NotFound("no such attachment") from None
    with db.transaction() as session:
        download = open_attachment(session, principal, tip_id, wanted)
    return StreamingResponse(
        _chunks(db, download),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(download.name),
            "Content-Length": str(download.size),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": DOWNLOAD_CSP,
        },
    )


@router.get(
    "/{tip_id}/attachments/{attachment_id}",
    response_class=Response,
    responses=raw_answer("application/octet-stream", "The file, sandboxed"),
)
def download_attachment(
    tip_id: str, attachment_id: str, principal: Reader, db: Db
) -> StreamingResponse:
    """One evidence file as cleaned at upload: `application/octet-stream`, sandboxed."""
    return download_response(db, principal, parse_id(tip_id), attachment_id)
