"""The staff zone's answers: sessions, the queue, a tip, changes to it, four-eyes approvals and
access changes. Content appears only in a tip's own answer, to readers of its audience."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

__all__ = [
    "AccessChange",
    "AccessChanges",
    "ApprovalDecided",
    "ApprovalRequested",
    "Assignee",
    "ConflictRegistered",
    "ConflictRequest",
    "ConflictRequests",
    "ContestedTip",
    "ContestedTips",
    "ConversationMessage",
    "Created",
    "Decided",
    "Evidence",
    "ExpiringTip",
    "ExpiringTips",
    "Flags",
    "FlagsPending",
    "HistoryEntry",
    "Me",
    "MembershipDecided",
    "Note",
    "PendingApproval",
    "PendingApprovals",
    "PendingMembership",
    "PendingMemberships",
    "PendingRewrite",
    "PendingRewrites",
    "PriorityOverridden",
    "QueuePage",
    "QueueRow",
    "ReaderlessTip",
    "ReaderlessTips",
    "Related",
    "RelatedTip",
    "RerouteRequested",
    "Rewritten",
    "StaffSession",
    "Tip",
    "TransitionPending",
    "Transitioned",
]


# ---- Answers: staff sessions, queue and tips ----


class StaffSession(BaseModel):
    token: str
    expires_at: str
    role: str


class Me(BaseModel):
    id: str
    username: str
    role: str


class QueueRow(BaseModel):
    id: str
    short_id: str
    status: str
    urgent: bool
    priority: int
    compartment: str
    received_on: str
    ack_due: str | None
    feedback_due: str | None
    ack_overdue: bool
    feedback_overdue: bool
    overdue: bool
    assignee: str | None


class QueuePage(BaseModel):
    tips: list[QueueRow]
    next_cursor: str | None


class RelatedTip(BaseModel):
    id: str
    short_id: str
    status: str
    received_on: str
    matches: list[str]  # "badge", "name", "unit"


class Related(BaseModel):
    related: list[RelatedTip]


class Evidence(BaseModel):
    id: str
    name: str
    kind: str
    size: int
    cleaned: bool
    removed: list[str]
    reason: str | None


class ConversationMessage(BaseModel):
    author: str
    from_reporter: bool
    sent_on: str
    body: str


class Note(BaseModel):
    id: str | None  # to choose notes for a referral export
    author: str | None
    kind: str
    created_at: str
    body: str


class HistoryEntry(BaseModel):
    index: int
    time: str
    actor: str
    actor_name: str | None
    action: str
    objects: dict[str, str]
    details: dict[str, Any]


class Tip(BaseModel):
    id: str
    short_id: str
    status: str
    urgent: bool
    legal_hold: bool
    priority: int
    priority_reasons: list[str]
    compartment: str
    received_on: str
    acknowledged_at: str | None
    ack_due: str
    feedback_due: str | None
    assignee: str | None
    closure_reason: str | None
    contested_on: str | None
    report: dict[str, Any]  # empty once purged
    evidence: list[Evidence]
    conversation: list[ConversationMessage]
    notes: list[Note]
    history: list[HistoryEntry]
    related: list[RelatedTip]
    contact_on_file: bool | None  # None unless the reader is an identity custodian
    purged: bool


# ---- Answers: changing a tip, four-eyes approvals ----


class Transitioned(BaseModel):
    outcome: str
    status: str


class Flags(BaseModel):
    urgent: bool
    legal_hold: bool


class TransitionPending(Transitioned):
    approval_id: str


class FlagsPending(Flags):
    approval_id: str


class Assignee(BaseModel):
    assignee: str | None


class Created(BaseModel):
    id: str


class PriorityOverridden(BaseModel):
    priority: int
    note_id: str


class ApprovalRequested(BaseModel):
    approval_id: str
    kind: str
    status: str


class RerouteRequested(BaseModel):
    approval_id: str
    status: Literal["pending"]


class PendingApproval(BaseModel):
    id: str
    tip_id: str
    kind: str
    requested_by: str
    requested_at: str
    payload: dict[str, Any]  # codes only, never content
    decider: str


class PendingApprovals(BaseModel):
    approvals: list[PendingApproval]


class ApprovalDecided(BaseModel):
    id: str
    kind: str
    status: str
    detail: str


class ContestedTip(BaseModel):
    tip_id: str
    compartment: str
    closure_reason: str | None
    closed_on: str | None
    contested_on: str
    in_oversight: bool
    reroute_pending: bool


class ContestedTips(BaseModel):
    tips: list[ContestedTip]


class ExpiringTip(BaseModel):
    tip_id: str
    compartment: str
    closed_on: str
    expires_on: str
    legal_hold: bool
    purge_requested: bool


class ExpiringTips(BaseModel):
    tips: list[ExpiringTip]


# ---- Answers: access changes (supervisors) ----


class PendingRewrite(BaseModel):
    tip_id: str
    adds: int
    removes: int


class PendingRewrites(BaseModel):
    tips: list[PendingRewrite]


class Rewritten(BaseModel):
    rewritten: int


class PendingMembership(BaseModel):
    compartment: str
    staff_id: str
    username: str
    role: str
    requested_at: str


class PendingMemberships(BaseModel):
    memberships: list[PendingMembership]


class MembershipDecided(BaseModel):
    approved: bool
    tips_queued: int


class Decided(BaseModel):
    approved: bool


class AccessChange(BaseModel):
    id: str
    kind: str
    compartment: str
    previous_compartment: str | None
    agency: str | None
    agency_name: str | None
    username: str | None
    requested_by: str
    requested_at: str


class AccessChanges(BaseModel):
    changes: list[AccessChange]


class ConflictRequest(BaseModel):
    id: str
    staff_id: str
    username: str
    kind: str
    requested_by: str | None  # None: the operator's CLI
    requested_at: str


class ConflictRequests(BaseModel):
    conflicts: list[ConflictRequest]


class ReaderlessTip(BaseModel):
    tip_id: str
    compartment: str
    received_on: str
    readerless_since: str | None


class ReaderlessTips(BaseModel):
    tips: list[ReaderlessTip]


class ConflictRegistered(BaseModel):
    registered: bool  # True: in force now; False: waits for a second supervisor (202)
    pending: bool = False  # sent only with the 202
