"""The API's wire shapes, declared once: request bodies read by hand, every JSON answer, the
error statuses each zone can give.

Handlers read their bodies themselves (`routes.deps.read_model`, to bound the size), so FastAPI
cannot see them: `request_body` documents them in /openapi.json instead. Answers are declared as
`response_model` (FastAPI checks and filters the handler's dict against it) or, for handlers that
build their own `JSONResponse` (a 202, a cookie), in `responses=`. Dates and times are ISO 8601
strings, as the handlers format them. Errors are `routes.errors.ErrorBody` for every status.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from routes.errors import errors
from service.inputs import InputModel

__all__ = [
    "BINARY",
    "BODY_ERRORS",
    "FILES",
    "SMALL_BODY",
    "STAFF_ERRORS",
    "STORE_ERRORS",
    "DecisionIn",
    "answer",
    "raw_answer",
    "request_body",
]

SMALL_BODY = 64 << 10  # bytes: the JSON bodies of the reporter and staff API
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
FILES: dict[str, Any] = {"type": "array", "items": BINARY}
# What any handler that reads a body can answer: stalled, too large, fields refused.
BODY_ERRORS = errors(408, 413, 422)
# Staff routers: no valid session, or a role that may not use the route.
STAFF_ERRORS = errors(401, 403)
# Handlers that store something: the disk may be full.
STORE_ERRORS = errors(507)


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` inlined (`openapi_extra` holds no components)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return dict(resolve(schema))


def request_body(
    model: type[BaseModel] | None = None,
    *,
    multipart: dict[str, Any] | None = None,
    required: bool = True,
) -> dict[str, Any]:
    """`openapi_extra` documenting a body the handler reads itself: JSON as `model`, and/or a
    multipart form whose parts `multipart` maps to their schemas (the first part listed first)."""
    content: dict[str, Any] = {}
    if model is not None:
        content["application/json"] = {"schema": _inline(model)}
    if multipart is not None:
        form = {"type": "object", "required": [next(iter(multipart))], "properties": multipart}
        content["multipart/form-data"] = {"schema": form}
    return {"requestBody": {"required": required, "content": content}}


def answer(status: int, model: type[BaseModel], description: str) -> dict[int | str, Any]:
    """`responses=` entry for a success a handler sends itself (a `JSONResponse`)."""
    return {status: {"model": model, "description": description}}


def raw_answer(media_type: str, description: str) -> dict[int | str, Any]:
    """`responses=` entry for a 200 that is not JSON (text, bytes). The route takes
    `response_class=Response`: with no media type of its own, its errors stay JSON."""
    string = {"type": "string"} if media_type.startswith("text/") else BINARY
    return {200: {"description": description, "content": {media_type: {"schema": string}}}}


class DecisionIn(InputModel):
    """A supervisor's decision on a pending request."""

    approve: StrictBool


# ---- Answers: the reporter's side ----


class AgencyName(BaseModel):
    en: str
    es: str


class AgencyOption(BaseModel):
    slug: str
    country: str  # "US", "MX"; "" for "other or unknown"
    name: AgencyName


class AllegationOption(BaseModel):
    code: str
    label: dict[str, str]  # language -> label


class IntakeForm(BaseModel):
    agencies: list[AgencyOption]
    allegations: list[AllegationOption]
    limits: dict[str, int]
    languages: list[str]


class AttachmentSummary(BaseModel):
    name: str
    size: int
    metadata_removed: list[str]
    metadata_cleaned: bool
    not_cleaned_reason: str | None


class Receipt(BaseModel):
    receipt: str
    attachments: list[AttachmentSummary] = Field(default_factory=list)  # multipart only


class Attachments(BaseModel):
    attachments: list[AttachmentSummary]


class Token(BaseModel):
    token: str


class ReporterMessage(BaseModel):
    sender: Literal["reporter", "staff"] = Field(alias="from")
    sent_on: str
    body: str


class ReporterTip(BaseModel):
    status: Literal["received", "acknowledged", "in_review", "closed"]
    received_on: str
    contested_on: str | None
    messages: list[ReporterMessage]
    attachments: list[AttachmentSummary]


class MessageSent(BaseModel):
    status: Literal["sent"]


class ClosureContested(BaseModel):
    status: Literal["contested"]
    contested_on: str


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
