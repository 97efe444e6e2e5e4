"""One tip's page: `GET /staff/tips/{id}`, readers of its audience only (others get 404).

Shows everything of service.tips.view (audited `tip.viewed` before any content is rendered),
links each evidence file to its audited download (`/api/v1/tips/{id}/attachments/{aid}`; the
staff cookie authenticates API reads) and related tips to their pages, and includes the
workflow's actions partial (staff/_tip_actions.html, built by
service.tips.workflow_view.action_context).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from routes.api.tips import parse_id
from routes.deps import Db
from routes.i18n import pick_language
from routes.staff_auth import READERS, csrf_token, require_roles
from routes.templating import Pages, get_pages
from service.agencies.models import Agency
from service.approvals.models import Approval
from service.export.service import usable_exports
from service.staff.sessions import Principal
from service.tips.repository import get_readable_tip
from service.tips.taxonomy import LABELS, Allegation
from service.tips.view import tip_view
from service.tips.workflow_view import action_context

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_roles(*READERS))])
Reader = Annotated[Principal, Depends(require_roles(*READERS))]


def _actions(session: Session, principal: Principal, tip_id: uuid.UUID) -> dict[str, Any]:
    """The workflow's context for its actions partial (from the readable statement, as it asks)."""
    tip = get_readable_tip(session, principal.staff_id, tip_id)
    return action_context(session, principal, tip)


def _export_row(approval: Approval) -> dict[str, Any]:
    """An approved export the reader may download once: ids and codes only."""
    payload = approval.payload
    return {
        "id": approval.id,
        "recipient": payload.get("recipient"),
        "variant": payload.get("variant"),
        "notes": len(payload.get("notes", [])),
    }


def _agency_name(session: Session, slug: object, lang: str) -> str | None:
    agency = session.scalar(select(Agency).where(Agency.slug == str(slug)))
    if agency is None:
        return None
    return agency.name_es if lang == "es" else agency.name_en


def _allegations(codes: list[str], lang: str) -> list[str]:
    known = {a.value: a for a in Allegation}
    return [LABELS[known[c]][lang] if c in known else c for c in codes]


@router.get("/staff/tips/{tip_id}", response_class=HTMLResponse)
def tip_page(
    tip_id: str,
    request: Request,
    principal: Reader,
    pages: Annotated[Pages, Depends(get_pages)],
    db: Db,
) -> HTMLResponse:
    wanted = parse_id(tip_id)
    with db.transaction() as session:
        view = tip_view(session, principal, wanted)
        actions = _actions(session, principal, wanted)
        lang = pick_language(request)
        agency_name = _agency_name(session, view.report.get("agency"), lang)
        exports = [_export_row(a) for a in usable_exports(session, principal, wanted)]
    context = {
        "tip": view,
        "allegations": _allegations(list(view.report.get("allegations", [])), lang),
        "csrf": csrf_token(request, principal),
        "agency_name": agency_name,
        "exports": exports,
        **actions,
    }
    return pages.render(request, "staff/tip.html", context)
