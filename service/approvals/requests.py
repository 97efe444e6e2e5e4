"""Filing a four-eyes request (shared by the workflow and the approvals service, so neither
imports the other). Callers have already checked that the requester may change the tip."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.audit.staff_actions import record_as
from service.blobs.store import write_blob
from service.errors import Conflict, InvalidInput
from service.staff.sessions import Principal
from service.tips.models import KeyKind, Tip

__all__ = ["REASON_MAX", "file_request", "write_case_text"]

REASON_MAX = 2_000


def write_case_text(session: Session, tip: Tip, text: str, *, field: str, limit: int) -> uuid.UUID:
    """Encrypt staff-typed text to the tip's case key; returns the blob id."""
    text = text.strip()
    if not text or len(text) > limit:
        raise InvalidInput(f"{field}: 1-{limit} characters", fields={field: "length"})
    return write_blob(
        session,
        tip_id=tip.id,
        key_kind=KeyKind.CASE,
        recipients=[tip.case_recipient],
        data=json.dumps({"body": text}).encode(),
    )


def file_request(
    session: Session,
    principal: Principal,
    tip: Tip,
    *,
    kind: ApprovalKind,
    payload: Mapping[str, Any],
    reason: str | None = None,
    now: datetime,
) -> Approval:
    """A pending request of `kind` on `tip`; one pending request per kind and tip (409)."""
    pending = session.scalar(
        select(Approval.id).where(
            Approval.tip_id == tip.id,
            Approval.kind == kind.value,
            Approval.status == ApprovalStatus.PENDING.value,
        )
    )
    if pending is not None:
        raise Conflict("a request of this kind is already waiting for approval on this tip")
    reason_blob = None
    if reason is not None and reason.strip():
        reason_blob = write_case_text(session, tip, reason, field="reason", limit=REASON_MAX)
    approval = Approval(
        tip_id=tip.id,
        kind=kind.value,
        requested_by=principal.staff_id,
        requested_at=now,
        payload=dict(payload),
        reason_blob_id=reason_blob,
        status=ApprovalStatus.PENDING.value,
    )
    session.add(approval)
    session.flush()
    objects = {"approval": approval.id}
    details = {"kind": kind.value}
    record_as(session, principal, "approval.requested", tip.id, objects=objects, details=details)
    return approval
