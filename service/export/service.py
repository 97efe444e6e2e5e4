"""Referral exports (issue 13): a four-eyes request naming the external age recipient, the
variant and the notes; once a different supervisor approves it, ONE bundle, by the requester or
the approver (or the operator with the recovery key, `probity export`).

Three steps, so no lock is held while evidence streams:
1. `begin_export` (its own short transaction, committed before any content leaves): checks the
   approval, opens the tip keys with the exporter's key, decrypts the small parts and appends
   `tip.export_started` (the content read is audited before the first byte).
2. The bundle streams (service.export.bundle), reading evidence row by row.
3. `seal_export` (its own transaction): re-checks the approval under its lock, consumes it
   (`tip_exports`, primary key = the approval: used once even by two concurrent downloads),
   appends `tip.exported` with the manifest's SHA-256, signs a checkpoint right after it and
   proves the entry's inclusion. The bundle's final age chunk is written only after this
   commits: a failed seal leaves a truncated file that age refuses.

Imports service.* and crypto only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.checkpoint import format_inclusion_proof
from crypto.note import sign_note
from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.audit.alarm import read_alarm
from service.audit.canonical import format_time
from service.audit.checkpoints import sign_new_checkpoint
from service.audit.log import AuditEvent, record, record_many
from service.audit.models import AuditEntry
from service.audit.proofs import inclusion
from service.config import Settings
from service.errors import Conflict, Forbidden, HistoryMismatch, InvalidInput, NotFound
from service.export.content import Contents, gather
from service.export.models import TipExport
from service.export.repository import (
    export_of,
    lock_approval,
    matching_approvals,
    notes_of,
    usernames,
)
from service.export.schemas import ExportOrder, Variant, manifest_note_text, sha256_hex
from service.instance.keys import load_log_signer
from service.staff.sessions import Principal
from service.tips.keys import open_identity_key, open_tip_keys
from service.tips.models import Tip
from service.tips.workflow import lock_tip, lock_tip_for_oversight

__all__ = [
    "ExportPlan",
    "Exporter",
    "Seal",
    "begin_export",
    "find_approval",
    "request_payload",
    "seal_export",
    "usable_exports",
]


def request_payload(
    session: Session, tip: Tip, *, recipient: str | None, redacted: bool, notes: list[str]
) -> dict[str, Any]:
    """The payload of an export request (service.approvals.service.request): a valid recipient
    and notes of this tip (422 otherwise)."""
    if not recipient:
        raise InvalidInput("recipient: required for export", fields={"recipient": "required"})
    order = ExportOrder.parse(recipient, redacted=redacted, notes=notes)
    found = {n.id for n in notes_of(session, tip.id, order.notes)} if order.notes else set()
    if set(order.notes) - found:
        raise InvalidInput("notes: not notes of this tip", fields={"notes": "unknown"})
    return order.payload()


@dataclass(frozen=True)
class Exporter:
    """Who produces the bundle: a signed-in staff member, or the operator (staff_id None) with
    the offline recovery key."""

    staff_id: uuid.UUID | None
    name: str
    identity: str  # AGE-SECRET-KEY-1..., opens the tip's staff envelope

    @classmethod
    def staff(cls, principal: Principal) -> Exporter:
        return cls(principal.staff_id, principal.username, principal.identity)

    @property
    def actor(self) -> uuid.UUID | str:
        return "system" if self.staff_id is None else self.staff_id


@dataclass(frozen=True)
class ExportPlan:
    approval_id: uuid.UUID
    tip_id: uuid.UUID
    order: ExportOrder
    people: dict[str, Any]  # requested_by, approved_by, exported_by: {"id", "username"}
    exporter: Exporter
    contents: Contents


@dataclass(frozen=True)
class Seal:
    """The bundle's tail: everything that depends on the manifest."""

    signature: str  # a signed note over the manifest's SHA-256
    entry: bytes  # the canonical bytes of `tip.exported`
    checkpoint: str  # signed right after the entry
    proof: str  # c2sp.org/tlog-proof@v1 of the entry in that checkpoint


def find_approval(session: Session, tip_id: uuid.UUID, order_of: ExportOrder) -> uuid.UUID:
    """The approved, unused export request of the tip for this recipient and variant."""
    for approval in matching_approvals(session, tip_id):
        order = ExportOrder.of(approval.payload)
        if order.recipient == order_of.recipient and order.variant is order_of.variant:
            return approval.id
    raise Conflict(
        "no approved, unused export request for this tip, recipient and variant: "
        "request one on the tip page and have a different supervisor approve it"
    )


def usable_exports(session: Session, principal: Principal, tip_id: uuid.UUID) -> list[Approval]:
    """Approved, unused export requests of the tip that `principal` asked for or approved."""
    mine = (principal.staff_id,)
    return [
        a
        for a in matching_approvals(session, tip_id)
        if a.requested_by in mine or a.decided_by in mine
    ]


def _checked(session: Session, approval_id: uuid.UUID, tip_id: uuid.UUID) -> Approval:
    approval = lock_approval(session, approval_id)
    if approval is None or approval.tip_id != tip_id or approval.kind != ApprovalKind.EXPORT:
        raise NotFound("no such export approval for this tip")
    if approval.status != ApprovalStatus.APPROVED.value:
        raise Conflict(f"this export request is {approval.status}, not approved")
    if export_of(session, approval.id) is not None:
        raise Conflict("this export approval was already used: an approval gives one bundle")
    return approval


def _people(session: Session, approval: Approval, exporter: Exporter) -> dict[str, Any]:
    names = usernames(session, {approval.requested_by, approval.decided_by})

    def person(staff_id: uuid.UUID | None) -> dict[str, str | None]:
        ident = None if staff_id is None else str(staff_id)
        return {"id": ident, "username": names.get(staff_id) if staff_id else None}

    exported_id = None if exporter.staff_id is None else str(exporter.staff_id)
    exported = {"id": exported_id, "username": exporter.name}
    return {
        "requested_by": person(approval.requested_by),
        "approved_by": person(approval.decided_by),
        "exported_by": exported,
    }


def _identity_key(session: Session, tip: Tip, identity: str) -> str | None:
    if tip.contact_blob_id is None:
        return None
    try:
        return open_identity_key(session, tip.id, identity)
    except NotFound:  # not an identity custodian: the full bundle goes without contact details
        return None


def _carries_contact(tip: Tip, identity_key: str | None) -> bool:
    return identity_key is not None and tip.contact_blob_id is not None


def begin_export(
    session: Session,
    *,
    tip_id: uuid.UUID,
    approval_id: uuid.UUID,
    exporter: Exporter,
    settings: Settings,
    principal: Principal | None = None,
    expect: ExportOrder | None = None,
) -> ExportPlan:
    """Check and audit an export, and gather its contents (step 1; the caller commits). Staff:
    404 outside the audience, 403 unless the requester or the approver; 409 for an approval not
    approved, already used, or for another recipient or variant than `expect`; 503 while the
    audit log's alarm is on (the seal could not sign a checkpoint: refuse before streaming)."""
    alarm = read_alarm(settings.effective_keys_dir)
    if alarm is not None:
        raise HistoryMismatch(alarm.reason)
    if principal is not None:
        tip = lock_tip(session, principal, tip_id)
    else:
        tip = lock_tip_for_oversight(session, tip_id)
    approval = _checked(session, approval_id, tip.id)
    if principal is not None and principal.staff_id not in (
        approval.requested_by,
        approval.decided_by,
    ):
        raise Forbidden("only the requester or the approver may use this export approval")
    order = ExportOrder.of(approval.payload)
    if expect is not None and expect.recipient != order.recipient:
        raise Conflict("this export was approved for another recipient")
    if expect is not None and expect.variant is not order.variant:
        raise Conflict(f"this export was approved for the {order.variant.value} variant")
    keys = open_tip_keys(session, tip.id, exporter.identity)
    identity_key = None
    if order.variant is Variant.FULL:
        identity_key = _identity_key(session, tip, exporter.identity)
    record(
        session,
        actor=exporter.actor,
        action="tip.export_started",
        tip_id=tip.id,
        objects={"approval": approval.id},
        # Whether the reporter's contact details leave depends on who exports (an identity
        # custodian or not), not on the approval: the log must say which.
        details={"variant": order.variant.value, "contact": _carries_contact(tip, identity_key)},
    )
    contents = gather(session, tip, order, keys, identity_key)
    people = _people(session, approval, exporter)
    return ExportPlan(approval.id, tip.id, order, people, exporter, contents)


def seal_export(
    session: Session, settings: Settings, plan: ExportPlan, manifest: bytes, exported_at: datetime
) -> Seal:
    """Consume the approval and log the export (step 3; the caller commits). Locks in the order
    every four-eyes step takes (tip, request, log): no deadlock with a decision; 409 if the tip
    was purged meanwhile."""
    lock_tip_for_oversight(session, plan.tip_id)
    approval = _checked(session, plan.approval_id, plan.tip_id)
    digest = sha256_hex(manifest)
    event = AuditEvent(
        actor=plan.exporter.actor,
        action="tip.exported",
        tip_id=plan.tip_id,
        objects={"approval": approval.id},
        details={
            "manifest_sha256": digest,
            "variant": plan.order.variant.value,
            "recipient": plan.order.recipient,
            "contact": plan.contents.contact,
        },
        time=format_time(exported_at),
    )
    index = record_many(session, [event])[0]
    session.add(
        TipExport(
            approval_id=approval.id,
            tip_id=plan.tip_id,
            exported_by=plan.exporter.staff_id,
            exported_at=exported_at,
            manifest_sha256=digest,
            audit_index=index,
        )
    )
    session.flush()
    signed = sign_new_checkpoint(session, settings)
    if signed is None:  # cannot happen: the entry above grew the log under the append lock
        raise Conflict("no checkpoint could be signed after the export entry")
    hashes = inclusion(session, index, signed.size)
    canonical = session.scalar(select(AuditEntry.canonical).where(AuditEntry.index == index))
    signer = load_log_signer(settings.effective_keys_dir)
    return Seal(
        signature=sign_note(manifest_note_text(digest), signer),
        entry=bytes(canonical or b""),
        checkpoint=signed.note,
        proof=format_inclusion_proof(index, hashes, signed.note),
    )
