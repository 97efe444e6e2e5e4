"""Reporter intake API: the form's options and limits, and submitting a tip."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from routes.api.schemas import (
    BODY_ERRORS,
    FILES,
    STORE_ERRORS,
    IntakeForm,
    Receipt,
    request_body,
)
from routes.deps import (
    Db,
    IntakeGate,
    intake_slot,
    read_body_limited,
)
from routes.errors import errors
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


def _form_options(session: Session) -> dict[str, Any]:
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


@router.get("/intake/form", response_model=IntakeForm)
def intake_form(
    db: Db,
) -> dict[str, Any]:
    """Agencies, allegation types (English and Spanish labels) and the submission limits."""
    return db.run(_form_options)


# The body is read from the stream by hand (size limits, multipart without spooling).
_TIP_PARTS = {"tip": {"type": "string", "description": "The tip as JSON, first"}, "files": FILES}


@router.post(
    "/tips",
    status_code=201,
    response_model=Receipt,
    responses={**errors(400, 409, 410, 415), **BODY_ERRORS, **STORE_ERRORS},
    openapi_extra=request_body(TipSubmission, multipart=_TIP_PARTS),
)
async def submit_tip(
    request: Request, gate: Annotated[IntakeGate, Depends(intake_slot)], db: Db
) -> JSONResponse:
    """A tip as JSON, or multipart with a `tip` JSON part followed by `files`.

    `201 {"receipt": ...}` is sent only after the tip is committed to disk. A retry with the same
    `Idempotency-Key` returns the same receipt; the same key with another body is a 409.
    """
    key = request.headers.get("idempotency-key")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    async with gate.slot():
        if content_type == "multipart/form-data":
            intake = tip_intake(request, db, await intake_context(request), key=key, form=False)
            result = await receive(request, gate, intake, fields_in=partial(_tip_part, intake))
        elif content_type == "application/json":
            body = await read_body_limited(request, JSON_LIMIT)
            submission = parse_submission(body)
            intake = tip_intake(request, db, await intake_context(request), key=key, form=False)
            intake.begin(submission, body)
            result = await gate.write(intake.finish)
        else:
            raise UnsupportedMediaType("send application/json or multipart/form-data")
    answer: dict[str, Any] = {"receipt": result.receipt}
    if result.attachments:
        answer["attachments"] = summaries_json(result.attachments)
    return JSONResponse(answer, status_code=201)
