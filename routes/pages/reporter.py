"""The reporter's pages: no JavaScript, no cookies before a receipt login, English and Spanish.

Imports FastAPI and `routes.templating`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from routes.templating import Pages, get_pages

__all__ = ["router"]

# Pages are not part of the JSON API contract, so they stay out of /openapi.json.
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def landing(request: Request, pages: Annotated[Pages, Depends(get_pages)]) -> HTMLResponse:
    """What Probity is, how to stay safe, what the receipt is."""
    return pages.render(request, "reporter/landing.html")
