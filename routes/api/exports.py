"""Referral bundles over HTTP (issue 13): `POST /api/v1/tips/{id}/exports/{approval_id}`.

The requester or the approver of an approved export request gets ONE bundle: an age file to the
approved recipient, streamed as `application/octet-stream` (service.export). The check and the
`tip.export_started` entry commit before the first byte; the seal (approval used, `tip.exported`,
checkpoint) commits before the last one. Shared with the staff tip page's download button.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from routes.api.schemas import STAFF_ERRORS, raw_answer
from routes.api.tips import DOWNLOAD_CSP, parse_id
from routes.deps import Db, UnitOfWork, path_id, settings_of
from routes.errors import errors
from routes.staff_auth import READERS, require_roles
from service.config import Settings
from service.export.bundle import BundleStream
from service.export.service import Exporter, Seal, begin_export, seal_export
from service.instance.keys import load_log_signer
from service.staff.sessions import Principal

__all__ = ["export_response", "router"]

router = APIRouter(
    prefix="/api/v1/tips",
    tags=["exports"],
    dependencies=[Depends(require_roles(*READERS))],
    responses={**STAFF_ERRORS, **errors(404, 409)},
)
Reader = Annotated[Principal, Depends(require_roles(*READERS))]


def export_response(
    db: UnitOfWork, settings: Settings, principal: Principal, tip_id: uuid.UUID, approval: str
) -> StreamingResponse:
    """Check and audit (committed), then stream the bundle; the seal commits inside the stream."""
    approval_id = path_id(approval, "export approval")
    with db.transaction() as session:
        plan = begin_export(
            session,
            tip_id=tip_id,
            approval_id=approval_id,
            exporter=Exporter.staff(principal),
            settings=settings,
            principal=principal,
        )
    origin = load_log_signer(settings.effective_keys_dir).name

    def seal(manifest: bytes, exported_at: datetime) -> Seal:
        with db.transaction() as session:
            return seal_export(session, settings, plan, manifest, exported_at)

    @contextmanager
    def reader() -> Iterator[Session]:
        session = db.reader()
        try:
            yield session
        finally:
            session.close()

    stream = BundleStream(plan, origin, reader=reader, seal=seal)
    return StreamingResponse(
        stream.chunks(),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="referral-{tip_id.hex[:8]}.age"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": DOWNLOAD_CSP,
        },
    )


@router.post(
    "/{tip_id}/exports/{approval_id}",
    response_class=Response,
    responses=raw_answer("application/octet-stream", "The referral bundle (an age file)"),
)
def post_export(
    tip_id: str, approval_id: str, request: Request, principal: Reader, db: Db
) -> StreamingResponse:
    """The referral bundle of an approved export request, once, for its requester or approver:
    an age file to the approved recipient (`age -d -i KEY | tar -x`)."""
    return export_response(db, settings_of(request), principal, parse_id(tip_id), approval_id)
