"""What the tip page's actions partial (staff/_tip_actions.html) needs, built from the transition
table of service.tips.workflow and the tip's pending approvals. Imports service.* only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.approvals.models import Approval, ApprovalStatus
from service.approvals.oversight import decider
from service.compartments.models import Compartment
from service.staff.models import Role, StaffUser
from service.staff.sessions import Principal
from service.tips.models import Finding, Tip, TipAudience
from service.tips.taxonomy import LABELS, Allegation
from service.tips.workflow import (
    CLOSURE_REASONS,
    READER_ROLES,
    Requirement,
    allowed_actions,
    allowed_transitions,
    report_allegations,
    tip_path,
)

__all__ = ["action_context"]


def action_context(session: Session, principal: Principal, tip: Tip) -> dict[str, Any]:
    """What staff/_tip_actions.html needs, as {"actions": {...}} (the tip page merges it into its
    context; `tip` must come from a readable-tips query). Keys of "actions":

    - tip_id (str), status, purged, urgent, legal_hold, priority (int), assignee_id (str|None)
    - allowed: allowed_actions(tip, principal) ("to:<status>", "message", "note", ...)
    - transitions: [{"to", "requires" (none|message|closure_reason|findings), "approval" (bool)}]
    - closure_reasons: codes for closing from triage; findings: finding codes
    - allegations: [{"code", "labels": {"en", "es"}}] of the report, only when closing with
      findings is offered (else [])
    - assignable: [{"id", "username"}] readers of the tip's audience
    - compartments: names a reroute may target (all but the tip's own)
    - requestable: approval kinds the principal may request here
    - pending: [{"id", "kind", "requested_by", "requested_at", "payload" (codes), "own",
      "can_decide", "decider" (audience|oversight|none)}] on this tip
    """
    path = tip_path(session, tip.id)
    allowed = allowed_actions(tip, principal, path)
    transitions = [
        {
            "to": t.target.value,
            "requires": t.requires.value,
            "approval": t.needs_approval is not None,  # every closure, for one
        }
        for t in allowed_transitions(tip, principal, path)
    ]
    closing = any(t["requires"] == Requirement.FINDINGS for t in transitions)
    assignable = session.execute(
        select(StaffUser.id, StaffUser.username)
        .join(TipAudience, TipAudience.staff_id == StaffUser.id)
        .where(TipAudience.tip_id == tip.id, StaffUser.active.is_(True))
        .where(StaffUser.role.in_([r.value for r in READER_ROLES]))
        .order_by(StaffUser.username)
    ).all()
    compartments = session.scalars(
        select(Compartment.name)
        .where(Compartment.id != tip.compartment_id)
        .order_by(Compartment.name)
    ).all()
    return {
        "actions": {
            "tip_id": str(tip.id),
            "status": tip.status,
            "purged": tip.purged,
            "urgent": tip.urgent,
            "legal_hold": tip.legal_hold,
            "priority": tip.priority,
            "assignee_id": str(tip.assignee_id) if tip.assignee_id else None,
            "allowed": allowed,
            "transitions": transitions,
            "closure_reasons": list(CLOSURE_REASONS),
            "findings": [f.value for f in Finding],
            "allegations": _allegation_labels(session, tip, principal) if closing else [],
            "assignable": [{"id": str(i), "username": name} for i, name in assignable],
            "compartments": list(compartments),
            "requestable": [a.split(":", 1)[1] for a in allowed if a.startswith("request:")],
            "pending": _pending_here(session, principal, tip),
        }
    }


def _allegation_labels(session: Session, tip: Tip, principal: Principal) -> list[dict[str, Any]]:
    known = {a.value: a for a in Allegation}
    return [
        {"code": code, "labels": LABELS[known[code]] if code in known else {"en": code, "es": code}}
        for code in report_allegations(session, tip, principal)
    ]


def _pending_here(session: Session, principal: Principal, tip: Tip) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Approval, StaffUser.username)
        .outerjoin(StaffUser, StaffUser.id == Approval.requested_by)
        .where(Approval.tip_id == tip.id, Approval.status == ApprovalStatus.PENDING.value)
        .order_by(Approval.requested_at)
    ).all()
    supervisor = principal.role is Role.SUPERVISOR
    return [
        {
            "id": str(a.id),
            "kind": a.kind,
            "requested_by": name or "",
            "requested_at": a.requested_at,
            "payload": dict(a.payload),
            "own": a.requested_by == principal.staff_id,
            "can_decide": supervisor and a.requested_by != principal.staff_id,
            "decider": decider(session, a),
        }
        for a, name in rows
    ]
