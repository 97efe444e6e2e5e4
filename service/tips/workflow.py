"""The case workflow (design section 4): one transition table, as data.

    received → triage → investigating → decision_review → closed
                 │  ↘        │   ↑            │
                 │  needs_info ←┘             └→ investigating
                 └→ closed (duplicate, out_of_scope, spam, referred_out, withdrawn)

`TRANSITIONS` lists every allowed (from, to, who, needs_approval, requires) row; anything else
raises `InvalidTransition` (409) and changes nothing. A row that needs approval does not move the
tip: it files a four-eyes request (service.approvals) that a different supervisor decides.
Flags, assignment, priority, messages and notes are in service.tips.casework.

Imports service.* only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.approvals.requests import file_request
from service.audit.log import record
from service.blobs.store import read_blob
from service.compartments.models import Compartment
from service.db import lock_for_write
from service.errors import Conflict, InvalidInput, NotFound
from service.staff.models import Role, StaffUser
from service.staff.sessions import Principal
from service.tips.conversation import post_staff_message
from service.tips.keys import open_tip_keys
from service.tips.models import ClosureReason, Finding, Status, Tip, TipAudience, TipFinding
from service.tips.repository import readable_tips
from service.tips.taxonomy import LABELS, Allegation

__all__ = [
    "CLOSURE_REASONS",
    "READER_ROLES",
    "TRANSITIONS",
    "InvalidTransition",
    "Requirement",
    "Transition",
    "TransitionResult",
    "action_context",
    "allowed_actions",
    "allowed_transitions",
    "apply_findings",
    "lock_tip",
    "report_allegations",
    "transition",
    "validate_findings",
    "write_lock",
]

READER_ROLES = frozenset({Role.REVIEWER, Role.SUPERVISOR})
# Reasons for closing straight from triage; "findings" is only reached through approval.
CLOSURE_REASONS = tuple(r.value for r in ClosureReason if r is not ClosureReason.FINDINGS)


class InvalidTransition(Conflict):
    code = "invalid_transition"


class Requirement(StrEnum):
    NONE = "none"
    MESSAGE = "message"  # a message to the reporter goes with the move
    CLOSURE_REASON = "closure_reason"
    FINDINGS = "findings"  # one finding per allegation in the report


@dataclass(frozen=True)
class Transition:
    source: Status
    target: Status
    roles: frozenset[Role]
    needs_approval: ApprovalKind | None = None
    requires: Requirement = Requirement.NONE


S = Status
TRANSITIONS: tuple[Transition, ...] = (
    Transition(S.RECEIVED, S.TRIAGE, READER_ROLES),
    Transition(S.TRIAGE, S.INVESTIGATING, READER_ROLES),
    Transition(S.TRIAGE, S.NEEDS_INFO, READER_ROLES, requires=Requirement.MESSAGE),
    Transition(S.INVESTIGATING, S.NEEDS_INFO, READER_ROLES, requires=Requirement.MESSAGE),
    Transition(S.NEEDS_INFO, S.TRIAGE, READER_ROLES),
    Transition(S.NEEDS_INFO, S.INVESTIGATING, READER_ROLES),
    Transition(S.INVESTIGATING, S.DECISION_REVIEW, READER_ROLES),
    Transition(S.DECISION_REVIEW, S.INVESTIGATING, READER_ROLES),
    Transition(
        S.DECISION_REVIEW,
        S.CLOSED,
        READER_ROLES,
        needs_approval=ApprovalKind.CLOSE_WITH_FINDINGS,
        requires=Requirement.FINDINGS,
    ),
    Transition(S.TRIAGE, S.CLOSED, READER_ROLES, requires=Requirement.CLOSURE_REASON),
)
_TABLE = {(t.source, t.target): t for t in TRANSITIONS}


@dataclass(frozen=True)
class TransitionResult:
    outcome: str  # "applied" or "approval_requested"
    status: str  # the tip's status afterwards
    approval_id: uuid.UUID | None = None


def lock_tip(session: Session, principal: Principal, tip_id: uuid.UUID) -> Tip:
    """The tip, if `principal` may change it, locked for this transaction (404 otherwise)."""
    if principal.role not in READER_ROLES:
        raise NotFound("no such tip")
    write_lock(session)
    stmt = readable_tips(principal.staff_id).where(Tip.id == tip_id).with_for_update(of=Tip)
    tip = session.scalar(stmt)
    if tip is None:
        raise NotFound("no such tip")
    if tip.purged:
        raise Conflict("the tip was purged; nothing can change it any more")
    return tip


def write_lock(session: Session) -> None:
    # SQLite: take the write lock before reading, unless this transaction already wrote (and so
    # holds it). PostgreSQL: the row lock in `lock_tip` serialises writers of one tip.
    if session.get_bind().dialect.name == "sqlite":
        raw: Any = session.connection().connection.driver_connection
        if not raw.in_transaction:
            lock_for_write(session)


def allowed_transitions(tip: Tip, principal: Principal) -> list[Transition]:
    if tip.purged:
        return []
    return [t for t in TRANSITIONS if t.source == tip.status and principal.role in t.roles]


def allowed_actions(tip: Tip, principal: Principal) -> list[str]:
    """What the page may offer `principal` on `tip` (already known to be readable by them):
    "to:<status>" per allowed transition, then "message", "note", "assign", "flag:urgent",
    "flag:legal_hold", "lift_legal_hold", "priority", "request:<kind>", "decide"."""
    if tip.purged or principal.role not in READER_ROLES:
        return []
    actions = [f"to:{t.target}" for t in allowed_transitions(tip, principal)]
    actions += ["message", "note", "assign", "flag:urgent", "priority"]
    actions.append("lift_legal_hold" if tip.legal_hold else "flag:legal_hold")
    kinds = [ApprovalKind.EXPORT, ApprovalKind.REROUTE]
    if tip.identity_recipient:
        kinds.append(ApprovalKind.IDENTITY_REVEAL)
    if not tip.legal_hold:
        kinds.append(ApprovalKind.PURGE)
    actions += [f"request:{k}" for k in kinds]
    if principal.role is Role.SUPERVISOR:
        actions.append("decide")
    return actions


def report_allegations(session: Session, tip: Tip, principal: Principal) -> list[str]:
    """The allegation codes of the tip's encrypted report, opened with the principal's key."""
    if tip.report_blob_id is None:
        return []
    keys = open_tip_keys(session, tip.id, principal.identity)
    report = json.loads(read_blob(session, tip.report_blob_id, [keys.conversation]))
    return [str(code) for code in report.get("allegations", [])]


def validate_findings(findings: Mapping[str, str] | None, allegations: list[str]) -> dict[str, str]:
    """One known finding for each allegation of the report, and nothing else (422 otherwise)."""
    if not findings:
        raise InvalidInput(
            "findings: give a finding for each allegation", fields={"findings": "required"}
        )
    known = {f.value for f in Finding}
    if set(findings) != set(allegations):
        raise InvalidInput(
            "findings: give exactly one finding for each allegation of the report",
            fields={"findings": "allegations"},
        )
    if any(value not in known for value in findings.values()):
        raise InvalidInput("findings: unknown finding", fields={"findings": "unknown"})
    return {code: findings[code] for code in sorted(findings)}


def apply_findings(
    session: Session, tip: Tip, findings: Mapping[str, str], *, actor: uuid.UUID, now: datetime
) -> None:
    """Close `tip` with `findings` (an approved close_with_findings request)."""
    if tip.status != Status.DECISION_REVIEW:
        raise InvalidTransition("the tip is no longer in decision review")
    for allegation, finding in findings.items():
        session.add(TipFinding(tip_id=tip.id, allegation=allegation, finding=finding))
    _move(session, tip, Status.CLOSED, actor=actor, reason=ClosureReason.FINDINGS.value, now=now)


def transition(
    session: Session,
    principal: Principal,
    tip_id: uuid.UUID,
    *,
    to: str,
    reason: str | None = None,
    findings: Mapping[str, str] | None = None,
    message: str | None = None,
    now: datetime,
) -> TransitionResult:
    """Move a tip along the table, or file the approval its row needs."""
    tip = lock_tip(session, principal, tip_id)
    rule = _rule(tip, principal, to)
    if rule.requires is Requirement.CLOSURE_REASON and reason not in CLOSURE_REASONS:
        raise InvalidInput(
            f"reason: one of {', '.join(CLOSURE_REASONS)}", fields={"reason": "closure_reason"}
        )
    if rule.requires is Requirement.MESSAGE and not (message and message.strip()):
        raise InvalidInput(
            "message: asking the reporter needs a message", fields={"message": "required"}
        )
    if rule.needs_approval is not None:
        checked = validate_findings(findings, report_allegations(session, tip, principal))
        approval = file_request(
            session,
            principal,
            tip,
            kind=rule.needs_approval,
            payload={"findings": checked},
            now=now,
        )
        return TransitionResult("approval_requested", tip.status, approval.id)
    if rule.requires is Requirement.MESSAGE and message:
        sent = post_staff_message(
            session, tip, message, staff_id=principal.staff_id, today=now.date()
        )
        record(session, actor=principal.staff_id, action="message.sent", tip_id=tip.id,
               objects={"message": sent.id})  # fmt: skip
    _move(session, tip, rule.target, actor=principal.staff_id, reason=reason, now=now)
    return TransitionResult("applied", tip.status)


def _rule(tip: Tip, principal: Principal, to: str) -> Transition:
    try:
        target = Status(to)
    except ValueError:
        raise InvalidInput("to: not a workflow state", fields={"to": "unknown"}) from None
    rule = _TABLE.get((Status(tip.status), target))
    if rule is None or principal.role not in rule.roles:
        raise InvalidTransition(f"a tip cannot go from {tip.status} to {target}")
    return rule


def _move(
    session: Session,
    tip: Tip,
    target: Status,
    *,
    actor: uuid.UUID,
    reason: str | None,
    now: datetime,
) -> None:
    source = tip.status
    tip.status = target.value
    if target is Status.TRIAGE and tip.acknowledged_at is None:
        tip.acknowledged_at = now  # the first human look acknowledges receipt (art. 9)
    if target is Status.CLOSED:
        tip.closure_reason = reason
        tip.closed_at = now
    if source == Status.DECISION_REVIEW and target is not Status.CLOSED:
        _cancel_pending_closures(session, tip, actor=actor, now=now)
    session.flush()
    details: dict[str, str | int | bool | None] = {"from": source, "to": target.value}
    if reason is not None:
        details["reason"] = reason
    record(session, actor=actor, action="tip.transitioned", tip_id=tip.id, details=details)


def _cancel_pending_closures(
    session: Session, tip: Tip, *, actor: uuid.UUID, now: datetime
) -> None:
    # A closure request makes no sense once the tip has left decision review.
    pending = session.scalars(
        select(Approval).where(
            Approval.tip_id == tip.id,
            Approval.kind == ApprovalKind.CLOSE_WITH_FINDINGS.value,
            Approval.status == ApprovalStatus.PENDING.value,
        )
    ).all()
    for approval in pending:
        approval.status = ApprovalStatus.CANCELLED.value
        approval.decided_at = now
        record(session, actor=actor, action="approval.cancelled", tip_id=tip.id,
               objects={"approval": approval.id}, details={"kind": approval.kind})  # fmt: skip


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
      "can_decide"}] on this tip
    """
    allowed = allowed_actions(tip, principal)
    transitions = [
        {
            "to": t.target.value,
            "requires": t.requires.value,
            "approval": t.needs_approval is not None,
        }
        for t in allowed_transitions(tip, principal)
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
        }
        for a, name in rows
    ]
