"""The reporter's pages: no JavaScript, no cookies before a receipt login, English and Spanish.

This module holds the landing page and gathers the reporter zone's page routers:
`report_form` (`/report`), `status` (`/status`, receipt login and logout) and `status_tip`
(`/status/tip`, `/status/messages`). Shared pieces: `forms` (reading small forms without
`request.form()`), `report_fields` (form fields to a `TipSubmission`), `views` (formatting).

Imports FastAPI and `routes.*`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from routes.pages import report_form, status, status_tip
from routes.templating import Pages, get_pages

__all__ = ["router"]

# Pages are not part of the JSON API contract, so they stay out of /openapi.json.
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def landing(request: Request, pages: Annotated[Pages, Depends(get_pages)]) -> HTMLResponse:
    """What Probity is, how to stay safe, what the receipt is."""
    return pages.render(request, "reporter/landing.html")


router.include_router(report_form.router)
router.include_router(status.router)
router.include_router(status_tip.router)
