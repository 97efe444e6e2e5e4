"""The API's wire shapes, declared once: request bodies read by hand, every JSON answer, the
error statuses each zone can give.

Handlers read their bodies themselves (`routes.deps.read_model`, to bound the size), so FastAPI
cannot see them: `request_body` documents them in /openapi.json instead. Each answer is a
`response_model`: FastAPI checks and filters a handler's dict against it, and only documents a
`JSONResponse` the handler builds itself (a cookie, a 202); other successes go in `responses=`
(`answer`, `raw_answer`). Dates and times are ISO 8601 strings, as the handlers format them.
Every error status is the one `routes.errors.ErrorBody`.
"""

from __future__ import annotations

import uuid
from datetime import date
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
    "AgencyName",
    "AgencyOption",
    "AllegationOption",
    "AttachmentSummary",
    "Attachments",
    "ClosureContested",
    "DecisionIn",
    "IntakeForm",
    "MessageSent",
    "Receipt",
    "ReporterMessage",
    "ReporterTip",
    "Token",
    "answer",
    "json_fields",
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


def json_fields(item: object, *names: str) -> dict[str, Any]:
    """The fields `names` of `item` as JSON values: ids as strings, dates and times in ISO 8601,
    the rest as they are. Naming each field keeps the answer an allowlist."""
    return {name: _json_value(getattr(item, name)) for name in names}


def _json_value(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    return value
