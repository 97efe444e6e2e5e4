"""Reporter intake API: the form's options and limits, and submitting a tip."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from routes.api.schemas import (
    BODY_ERRORS,
    FILES,
    STORE_ERRORS,
    IntakeForm,
    Receipt,
    request_body,
)
from routes.deps import (
    IntakeGate,
    instance_context,
    intake_slot,
    read_body_limited,
    session_factory,
    settings_of,
)
from routes.errors import errors
from routes.intake_flow import (
    Fields,
    receive_tip,
    replay_window,
    store_submission,
    summaries_json,
)
from service.agencies.models import Agency
from service.agencies.service import OTHER_AGENCY
from service.errors import InvalidInput, Malformed, UnsupportedMediaType
from service.instance.context import InstanceContext
from service.tips.idempotency import validate_key
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


def _tip_part(fields: Fields) -> TipSubmission:
    parts = fields.get("tip", [])
    if len(parts) != 1 or set(fields) != {"tip"}:
        raise InvalidInput("tip: send exactly one 'tip' part (JSON) before the files")
    return parse_submission(parts[0])


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


@router.get("/intake/form", response_model=IntakeForm)
def intake_form(
    factory: Annotated[sessionmaker[Session], Depends(session_factory)],
) -> dict[str, Any]:
    """Agencies, allegation types (English and Spanish labels) and the submission limits."""
    return _form_options(factory)


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
            result = await receive_tip(
                request, to_submission=_tip_part, idempotency_key=key, gate=gate
            )
        elif content_type == "application/json":
            body = await read_body_limited(request, JSON_LIMIT)
            submission = parse_submission(body)
            # Cached after the first request; loading it needs the database (a thread).
            ctx: InstanceContext | None = getattr(request.app.state, "instance_context", None)
            if ctx is None:
                ctx = await anyio.to_thread.run_sync(instance_context, request)
            if key is not None:
                validate_key(key)
            result = await gate.write(
                lambda: store_submission(
                    session_factory(request),
                    ctx,
                    submission,
                    idempotency_key=key,
                    body_digest=hashlib.sha256(body).digest(),
                    replay_window=replay_window(settings_of(request), form=False),
                )
            )
        else:
            raise UnsupportedMediaType("send application/json or multipart/form-data")
    answer: dict[str, Any] = {"receipt": result.receipt}
    if result.attachments:
        answer["attachments"] = summaries_json(result.attachments)
    return JSONResponse(answer, status_code=201)
