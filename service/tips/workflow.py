"""The case workflow (design section 4): one transition table, as data.

    received → triage → investigating → decision_review → closed
                 │  ↘        │   ↑            │
                 │  needs_info ←┘             └→ investigating
                 └→ closed (duplicate, out_of_scope, spam, referred_out, withdrawn)

needs_info returns only to the state it was entered from (read from the tip's audit history).
Every move to closed, from any state and with any reason or findings, is a four-eyes request
(close_with_reason, close_with_findings): no one person ends a tip (issue 10). A different
supervisor of the audience decides it, or oversight supervisors when nobody else there can
(service.approvals.oversight).

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
from service.audit.log import history, record
from service.blobs.store import read_blob
from service.db import lock_rows
from service.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from service.staff.models import Role
from service.staff.sessions import Principal
from service.tips.conversation import post_staff_message
from service.tips.keys import open_tip_keys
from service.tips.models import ClosureReason, Finding, Status, Tip, TipFinding
from service.tips.repository import readable_tips

__all__ = [
    "CLOSURE_REASONS",
    "READER_ROLES",
    "TRANSITIONS",
    "Requirement",
    "Transition",
    "TransitionResult",
    "allowed_actions",
    "allowed_transitions",
    "apply_closure",
    "apply_findings",
    "lock_tip",
    "lock_tip_for_oversight",
    "report_allegations",
    "tip_path",
    "transition",
    "validate_findings",
]

READER_ROLES = frozenset({Role.REVIEWER, Role.SUPERVISOR})
# Reasons for closing straight from triage; "findings" is only reached through approval.
CLOSURE_REASONS = tuple(r.value for r in ClosureReason if r is not ClosureReason.FINDINGS)


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
    # Only back to the state the tip left for this one (needs_info returns where it came from).
    resume_only: bool = False


S = Status
TRANSITIONS: tuple[Transition, ...] = (
    Transition(S.RECEIVED, S.TRIAGE, READER_ROLES),
    Transition(S.TRIAGE, S.INVESTIGATING, READER_ROLES),
    Transition(S.TRIAGE, S.NEEDS_INFO, READER_ROLES, requires=Requirement.MESSAGE),
    Transition(S.INVESTIGATING, S.NEEDS_INFO, READER_ROLES, requires=Requirement.MESSAGE),
    Transition(S.NEEDS_INFO, S.TRIAGE, READER_ROLES, resume_only=True),
    Transition(S.NEEDS_INFO, S.INVESTIGATING, READER_ROLES, resume_only=True),
    Transition(S.INVESTIGATING, S.DECISION_REVIEW, READER_ROLES),
    Transition(S.DECISION_REVIEW, S.INVESTIGATING, READER_ROLES),
    Transition(
        S.DECISION_REVIEW,
        S.CLOSED,
        READER_ROLES,
        needs_approval=ApprovalKind.CLOSE_WITH_FINDINGS,
        requires=Requirement.FINDINGS,
    ),
    Transition(
        S.TRIAGE,
        S.CLOSED,
        READER_ROLES,
        needs_approval=ApprovalKind.CLOSE_WITH_REASON,
        requires=Requirement.CLOSURE_REASON,
    ),
)
# Leaving the state a closure request was filed from cancels it.
_CLOSURE_REQUESTS = {
    S.DECISION_REVIEW: ApprovalKind.CLOSE_WITH_FINDINGS,
    S.TRIAGE: ApprovalKind.CLOSE_WITH_REASON,
}
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
    stmt = readable_tips(principal.staff_id).where(Tip.id == tip_id)
    tip = lock_rows(session, stmt, of=Tip).scalar()
    if tip is None:
        raise NotFound("no such tip")
    if tip.purged:
        raise Conflict("the tip was purged; nothing can change it any more")
    return tip


def lock_tip_for_oversight(session: Session, tip_id: uuid.UUID) -> Tip:
    """The tip, locked, for an oversight supervisor outside its audience deciding a closure
    (service.approvals.oversight has checked that they may): state only, no keys, no content."""
    tip = lock_rows(session, select(Tip).where(Tip.id == tip_id), of=Tip).scalar()
    if tip is None:
        raise NotFound("no such tip")
    if tip.purged:
        raise Conflict("the tip was purged; nothing can change it any more")
    return tip


Path = list[tuple[str, str]]


def allowed_transitions(
    tip: Tip, principal: Principal, path: Path | None = None
) -> list[Transition]:
    """The rows `principal` may take; given the tip's `path` (its moves so far), a tip in
    needs_info offers only the state it came from."""
    if tip.purged:
        return []
    rows = [t for t in TRANSITIONS if t.source == tip.status and principal.role in t.roles]
    if path is not None:
        resume = _resume_state(path)
        rows = [t for t in rows if not t.resume_only or t.target == resume]
    return rows


def allowed_actions(tip: Tip, principal: Principal, path: Path | None = None) -> list[str]:
    """What the page may offer `principal` on `tip` (already known to be readable by them):
    "to:<status>" per allowed transition, then "message", "note", "assign", "flag:urgent",
    "flag:legal_hold", "lift_legal_hold", "priority", "request:<kind>", "decide"."""
    if tip.purged or principal.role not in READER_ROLES:
        return []
    actions = [f"to:{t.target}" for t in allowed_transitions(tip, principal, path)]
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


def apply_closure(
    session: Session, tip: Tip, reason: str, *, actor: uuid.UUID, now: datetime
) -> None:
    """Close `tip` from triage with `reason` (an approved close_with_reason request)."""
    if tip.status != Status.TRIAGE:
        raise InvalidTransition("the tip is no longer in triage")
    if reason not in CLOSURE_REASONS:
        raise InvalidInput("reason: not a closure reason", fields={"reason": "closure_reason"})
    _move(session, tip, Status.CLOSED, actor=actor, reason=reason, now=now)


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
    path = tip_path(session, tip.id)
    rule = _rule(tip, principal, to, path)
    _check_inputs(rule, reason, message)
    kind = rule.needs_approval
    if kind is not None:
        if kind is ApprovalKind.CLOSE_WITH_FINDINGS:
            payload: dict[str, Any] = {
                "findings": validate_findings(findings, report_allegations(session, tip, principal))
            }
        else:
            payload = {"reason": reason}
        approval = file_request(session, principal, tip, kind=kind, payload=payload, now=now)
        return TransitionResult("approval_requested", tip.status, approval.id)
    if rule.requires is Requirement.MESSAGE and message:
        sent = post_staff_message(
            session, tip, message, staff_id=principal.staff_id, today=now.date()
        )
        record(
            session,
            actor=principal.staff_id,
            action="message.sent",
            tip_id=tip.id,
            objects={"message": sent.id},
        )
    _move(session, tip, rule.target, actor=principal.staff_id, reason=reason, now=now)
    return TransitionResult("applied", tip.status)


def _check_inputs(rule: Transition, reason: str | None, message: str | None) -> None:
    # The reason goes into the immutable audit log: only a closure code, only when closing.
    if rule.requires is Requirement.CLOSURE_REASON:
        if reason not in CLOSURE_REASONS:
            raise InvalidInput(
                f"reason: one of {', '.join(CLOSURE_REASONS)}", fields={"reason": "closure_reason"}
            )
    elif reason is not None:
        raise InvalidInput("reason: only for closing from triage", fields={"reason": "unexpected"})
    if rule.requires is Requirement.MESSAGE and not (message and message.strip()):
        raise InvalidInput(
            "message: asking the reporter needs a message", fields={"message": "required"}
        )


def tip_path(session: Session, tip_id: uuid.UUID) -> Path:
    """(from, to) of the tip's moves so far, oldest first, from its audit history."""
    return [
        (str(entry.details.get("from")), str(entry.details.get("to")))
        for entry in history(session, tip_id)
        if entry.action == "tip.transitioned"
    ]


def _resume_state(path: Path) -> str:
    """Where a tip in needs_info goes back to: the state it left for needs_info (triage if the
    history does not say - the earlier state, so nothing is skipped)."""
    for source, target in reversed(path):
        if target == Status.NEEDS_INFO:
            return source
    return Status.TRIAGE.value


def _rule(tip: Tip, principal: Principal, to: str, path: Path) -> Transition:
    try:
        target = Status(to)
    except ValueError:
        raise InvalidInput("to: not a workflow state", fields={"to": "unknown"}) from None
    rule = _TABLE.get((Status(tip.status), target))
    if rule is None or principal.role not in rule.roles:
        raise InvalidTransition(f"a tip cannot go from {tip.status} to {target}")
    if rule.resume_only and _resume_state(path) != target:
        raise InvalidTransition(
            f"a tip in needs_info returns to {_resume_state(path)}, where it came from"
        )
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
    pending_kind = _CLOSURE_REQUESTS.get(Status(source))
    if pending_kind is not None:
        _cancel_pending_closures(session, tip, pending_kind, actor=actor, now=now)
    session.flush()
    details: dict[str, str | int | bool | None] = {"from": source, "to": target.value}
    if reason is not None:
        details["reason"] = reason
    record(session, actor=actor, action="tip.transitioned", tip_id=tip.id, details=details)


def _cancel_pending_closures(
    session: Session, tip: Tip, kind: ApprovalKind, *, actor: uuid.UUID, now: datetime
) -> None:
    # A closure request makes no sense once the tip has left the state it was filed from.
    pending = session.scalars(
        select(Approval).where(
            Approval.tip_id == tip.id,
            Approval.kind == kind.value,
            Approval.status == ApprovalStatus.PENDING.value,
        )
    ).all()
    for approval in pending:
        approval.status = ApprovalStatus.CANCELLED.value
        approval.decided_at = now
        record(
            session,
            actor=actor,
            action="approval.cancelled",
            tip_id=tip.id,
            objects={"approval": approval.id},
            details={"kind": approval.kind},
        )
