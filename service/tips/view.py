"""What a reader sees of one tip, and opening its evidence for download.

Both start from the readable statement (a tip outside the audience is a 404, like a missing one),
open the tip keys with the reader's own identity, and append their audit entry before any content
leaves: if the append fails, the caller gets the exception and no content. Contact details are
never shown here: an identity custodian learns only that a confidential contact is on file
(revealing it is the four-eyes flow of service.access).

Imports `service` only.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from crypto.age import decrypt_bytes
from crypto.age_keys import X25519Identity
from service.audit.log import AuditRecord, history
from service.audit.staff_actions import record_as
from service.blobs.store import read_blob
from service.errors import NotFound
from service.staff.models import StaffUser
from service.staff.sessions import Principal
from service.tips.keys import open_tip_keys
from service.tips.models import (
    Attachment,
    Status,
    Tip,
    deadlines_of,
)
from service.tips.related import RelatedTip, related_to_readable
from service.tips.repository import (
    get_readable_tip,
    readable_tip_for_view,
    small_blobs,
    tip_parts,
)

__all__ = [
    "AttachmentDownload",
    "EvidenceItem",
    "MessageItem",
    "NoteItem",
    "TipView",
    "open_attachment",
    "staff_actor_ids",
    "tip_view",
]


@dataclass(frozen=True)
class EvidenceItem:
    id: uuid.UUID
    name: str  # sanitised at upload
    kind: str  # the detected type
    size: int
    cleaned: bool
    removed: tuple[str, ...]  # what metadata was removed
    reason: str | None  # why it could not be cleaned, as a code


@dataclass(frozen=True)
class MessageItem:
    author: str  # "reporter" or the staff username
    from_reporter: bool
    sent_on: date
    body: str


@dataclass(frozen=True)
class NoteItem:
    author: str | None
    kind: str
    created_at: datetime
    body: str
    id: uuid.UUID | None = None  # to choose notes for a referral export


@dataclass(frozen=True)
class TipView:
    id: uuid.UUID
    short_id: str
    status: str
    urgent: bool
    legal_hold: bool
    priority: int
    priority_reasons: list[str]
    compartment: str
    received_on: date
    acknowledged_at: datetime | None
    ack_due: date
    feedback_due: date | None
    assignee: str | None
    closure_reason: str | None
    report: dict[str, Any]  # agency, allegations, narrative, subjects, incident_date, location...
    evidence: list[EvidenceItem]
    conversation: list[MessageItem]
    notes: list[NoteItem]
    history: list[AuditRecord]
    actors: dict[str, str]  # history actor (staff id) -> username
    related: list[RelatedTip]
    contact_on_file: bool | None  # None unless the reader is an identity custodian
    purged: bool = False  # crypto-shredded: no content is left to show
    contested_on: date | None = None  # the reporter contested the closure (a date only)


@dataclass(frozen=True)
class AttachmentDownload:
    """Everything a route needs to stream one file after the transaction has committed."""

    attachment_id: uuid.UUID
    blob_id: uuid.UUID
    name: str
    size: int
    identity: str  # the tip's conversation key, to decrypt the chunks


class _Blobs:
    """This tip's small blobs, fetched at once; anything else is read row by row."""

    def __init__(self, session: Session, tip_id: uuid.UUID) -> None:
        self._session = session
        self._small = small_blobs(session, tip_id)
        self._identities: dict[str, X25519Identity] = {}

    def json(self, blob_id: uuid.UUID | None, identity: str) -> Any:
        if blob_id is None:
            return {}
        found = self._small.get(blob_id)
        if found is None or found[0] != len(found[1]):
            return _json(self._session, blob_id, identity)  # the streaming path checks it all
        # Parsed once per view: bech32 decoding costs more than the decryption itself.
        parsed = self._identities.get(identity)
        if parsed is None:
            parsed = self._identities[identity] = X25519Identity.from_str(identity)
        return json.loads(decrypt_bytes(found[1], [parsed], pad=True))


def _json(session: Session, blob_id: uuid.UUID | None, identity: str) -> Any:
    if blob_id is None:
        return {}
    return json.loads(read_blob(session, blob_id, [identity]))


def _usernames(session: Session, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(wanted)))
    return {row.id: row.username for row in rows}


def _evidence(parts: list[Any], blobs: _Blobs, key: str) -> list[EvidenceItem]:
    items = []
    for part in parts:
        info = blobs.json(part["blob_id"], key)
        items.append(
            EvidenceItem(
                id=part["id"],
                name=info["name"],
                kind=info.get("kind") or "unknown",
                size=info["size"],
                cleaned=info["cleaned"],
                removed=tuple(info.get("removed", ())),
                reason=info.get("reason"),
            )
        )
    return items


def _note_text(payload: Any) -> str:
    # service.tips.casework: {"body"} for a note, {"reason"} for a priority override.
    if isinstance(payload, dict):
        return str(payload.get("body", payload.get("reason", "")))
    return str(payload)


def staff_actor_ids(entries: list[AuditRecord]) -> set[uuid.UUID | None]:
    """The staff ids among the entries' actors (not "system" or "reporter")."""
    ids: set[uuid.UUID | None] = set()
    for entry in entries:
        try:
            ids.add(uuid.UUID(entry.actor))
        except ValueError:
            continue  # "system", "reporter"
    return ids


def _header(
    tip: Tip, compartment: str, names: dict[uuid.UUID, str], entries: list[AuditRecord]
) -> dict[str, Any]:
    """The TipView fields a purged tip keeps: its dates, flags and history."""
    ack_due, _ = deadlines_of(tip.received_on, tip.acknowledged_at)
    return {
        "id": tip.id,
        "short_id": tip.id.hex[:8],
        "status": tip.status,
        "urgent": tip.urgent,
        "legal_hold": tip.legal_hold,
        "priority": tip.priority,
        "compartment": compartment,
        "received_on": tip.received_on,
        "acknowledged_at": tip.acknowledged_at,
        "ack_due": ack_due,
        "assignee": names.get(tip.assignee_id) if tip.assignee_id else None,
        "closure_reason": tip.closure_reason,
        "contested_on": tip.contested_on,
        "history": entries,
        "actors": {str(k): v for k, v in names.items()},
    }


def _purged_view(session: Session, principal: Principal, tip: Tip, compartment: str) -> TipView:
    record_as(session, principal, "tip.viewed", tip.id)
    session.flush()
    entries = history(session, tip.id)
    names = _usernames(session, {tip.assignee_id, *staff_actor_ids(entries)})
    return TipView(
        **_header(tip, compartment, names, entries),
        priority_reasons=[],
        feedback_due=None,
        report={},
        evidence=[],
        conversation=[],
        notes=[],
        related=[],
        contact_on_file=None,
        purged=True,
    )


def tip_view(session: Session, principal: Principal, tip_id: uuid.UUID) -> TipView:
    """The whole tip for a reader in its audience; audited (`tip.viewed`) before any content."""
    found = readable_tip_for_view(session, principal.staff_id, tip_id)
    tip, compartment, custodian = found.tip, found.compartment, found.identity_custodian
    if tip.purged:  # crypto-shredded: its dates, flags and history are all there is
        return _purged_view(session, principal, tip, compartment)
    keys = open_tip_keys(session, tip.id, principal.identity)
    record_as(session, principal, "tip.viewed", tip.id)
    session.flush()
    blobs = _Blobs(session, tip.id)
    parts = tip_parts(session, tip.id)
    messages, notes = parts["m"], parts["n"]
    entries = history(session, tip.id)
    authors = {part["author_id"] for part in (*messages, *notes)}
    names = _usernames(session, {tip.assignee_id, *authors, *staff_actor_ids(entries)})
    _, feedback_due = deadlines_of(tip.received_on, tip.acknowledged_at)
    return TipView(
        **_header(tip, compartment, names, entries),
        priority_reasons=list(blobs.json(tip.priority_blob_id, keys.case).get("reasons", [])),
        feedback_due=None if tip.status == Status.CLOSED else feedback_due,
        report=blobs.json(tip.report_blob_id, keys.conversation),
        evidence=_evidence(parts["a"], blobs, keys.conversation),
        conversation=[
            MessageItem(
                author="reporter" if m["author_id"] is None else names.get(m["author_id"], "staff"),
                from_reporter=m["author_id"] is None,
                sent_on=m["day"],
                body=blobs.json(m["blob_id"], keys.conversation)["body"],
            )
            for m in messages
        ],
        notes=[
            NoteItem(
                author=names.get(n["author_id"]) if n["author_id"] else None,
                kind=n["kind"],
                created_at=n["at"],
                body=_note_text(blobs.json(n["blob_id"], keys.case)),
                id=n["id"],
            )
            for n in notes
        ],
        related=related_to_readable(session, principal.staff_id, tip.id),
        contact_on_file=(tip.contact_blob_id is not None) if custodian else None,
    )


def open_attachment(
    session: Session, principal: Principal, tip_id: uuid.UUID, attachment_id: uuid.UUID
) -> AttachmentDownload:
    """Authorise and audit (`attachment.downloaded`) one download; the caller commits, then
    streams `blob_id` with `identity` (service.blobs.store.iter_blob)."""
    tip = get_readable_tip(session, principal.staff_id, tip_id)
    attachment = session.scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.tip_id == tip.id)
    )
    if attachment is None:
        raise NotFound("no such attachment")
    keys = open_tip_keys(session, tip.id, principal.identity)
    info = _json(session, attachment.info_blob_id, keys.conversation)
    objects = {"attachment_id": attachment.id}
    record_as(session, principal, "attachment.downloaded", tip.id, objects=objects)
    session.flush()
    return AttachmentDownload(
        attachment_id=attachment.id,
        blob_id=attachment.blob_id,
        name=info["name"],
        size=info["size"],
        identity=keys.conversation,
    )
