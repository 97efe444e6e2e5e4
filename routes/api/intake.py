"""Reporter intake API: the form's options and limits, and submitting a tip."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from routes.deps import (
    IntakeGate,
    intake_slot,
    read_body_limited,
    session_factory,
)
from routes.intake_flow import Fields, intake_context, receive, summaries_json, tip_intake
from service.agencies.models import Agency
from service.agencies.service import OTHER_AGENCY
from service.errors import InvalidInput, Malformed, UnsupportedMediaType
from service.tips.receiving import TipIntake
from service.tips.schemas import LIMITS, TipSubmission
from service.tips.taxonomy import LABELS

__all__ = ["parse_submission", "router"]

router = APIRouter(prefix="/api/v1", tags=["intake"])
JSON_LIMIT = 256 << 10


def parse_submission(raw: str | bytes) -> TipSubmission:
    try:
        return TipSubmission.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise Malformed("the tip is not valid JSON") from None
        raise RequestValidationError(exc.errors()) from None


def _tip_part(intake: TipIntake, fields: Fields) -> None:
    parts = fields.get("tip", [])
    if len(parts) != 1 or set(fields) != {"tip"}:
        raise InvalidInput("tip: send exactly one 'tip' part (JSON) before the files")
    intake.begin(parse_submission(parts[0]), fields)


def _form_options(factory: sessionmaker[Session]) -> dict[str, Any]:
    with factory() as session:
        agencies = session.scalars(
            select(Agency).where(Agency.active).order_by(Agency.country, Agency.name_en)
        )
        listed = [
            {"slug": a.slug, "country": a.country, "name": {"en": a.name_en, "es": a.name_es}}
            for a in agencies
        ]
    listed.append(
        {
            "slug": OTHER_AGENCY,
            "country": "",
            "name": {"en": "Other or unknown", "es": "Otra o no sé"},
        }
    )
    return {
        "agencies": listed,
        "allegations": [{"code": c.value, "label": labels} for c, labels in LABELS.items()],
        "limits": LIMITS,
        "languages": ["en", "es"],
    }


@router.get("/intake/form")
def intake_form(
    factory: Annotated[sessionmaker[Session], Depends(session_factory)],
) -> dict[str, Any]:
    """Agencies, allegation types (English and Spanish labels) and the submission limits."""
    return _form_options(factory)


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` inlined, to embed in `openapi_extra`."""
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


# The body is read from the stream by hand (size limits, multipart without spooling), so its
# schema is declared here for /openapi.json.
_TIP_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline_schema(TipSubmission)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["tip"],
                    "properties": {
                        "tip": {"type": "string", "description": "The tip as JSON, first"},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            },
        },
    }
}


@router.post(
    "/tips",
    status_code=201,
    responses={201: {"description": "Stored; the receipt"}},
    openapi_extra=_TIP_BODY,
)
async def submit_tip(
    request: Request, gate: Annotated[IntakeGate, Depends(intake_slot)]
) -> JSONResponse:
    """A tip as JSON, or multipart with a `tip` JSON part followed by `files`.

    `201 {"receipt": ...}` is sent only after the tip is committed to disk. A retry with the same
    `Idempotency-Key` returns the same receipt; the same key with another body is a 409.
    """
    key = request.headers.get("idempotency-key")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    async with gate.slot():
        if content_type == "multipart/form-data":
            intake = tip_intake(request, await intake_context(request), key=key, form=False)
            result = await receive(request, gate, intake, fields_in=partial(_tip_part, intake))
        elif content_type == "application/json":
            body = await read_body_limited(request, JSON_LIMIT)
            submission = parse_submission(body)
            intake = tip_intake(request, await intake_context(request), key=key, form=False)
            intake.begin(submission, body)
            result = await gate.write(intake.finish)
        else:
            raise UnsupportedMediaType("send application/json or multipart/form-data")
    answer: dict[str, Any] = {"receipt": result.receipt}
    if result.attachments:
        answer["attachments"] = summaries_json(result.attachments)
    return JSONResponse(answer, status_code=201)
