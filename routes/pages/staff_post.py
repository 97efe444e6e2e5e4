"""What a staff page's form post works with, as one dependency: `staff_post(*roles)`.

A `StaffPost` carries the signed-in member (of one of `roles`), the form fields with their CSRF
token checked (`StaffForm`), the renderer and the unit of work; `act` runs one change and answers
303 back to the page, or the staff error page with the refusal's status.

Imports FastAPI, `routes.*` and `service.*`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from routes.deps import Db, UnitOfWork
from routes.pages.forms import Fields
from routes.staff_auth import StaffForm, require_roles
from routes.templating import Pages, PagesDep, see_other
from service.errors import ProbityError
from service.staff.models import Role
from service.staff.sessions import Principal

__all__ = ["StaffPost", "refusal", "staff_post"]


def refusal(request: Request, pages: Pages, exc: ProbityError, back: str) -> Response:
    """The staff error page for a refused action, with a link back to where the form was."""
    context = {"error": exc.code, "detail": exc.detail, "back": back}
    return pages.render(request, "staff/action_error.html", context, status_code=exc.status)


@dataclass(frozen=True)
class StaffPost:
    request: Request
    principal: Principal
    fields: Fields
    pages: Pages
    db: UnitOfWork

    def refuse(self, exc: ProbityError, back: str) -> Response:
        return refusal(self.request, self.pages, exc, back)

    async def act(self, back: str, work: Callable[[Session], Any]) -> Response:
        """Run `work` in one transaction; 303 to `back` (in the page's language) or a refusal."""
        try:
            await self.db.run_in_thread(work)
        except ProbityError as exc:
            return self.refuse(exc, back)
        return see_other(self.request, back)


@cache
def staff_post(*roles: Role) -> Callable[..., Any]:
    """The dependency giving a form post's `StaffPost`, for members of `roles` only. (This module
    evaluates annotations eagerly: the role check is built here, from `roles`.)"""

    async def dependency(
        request: Request,
        principal: Annotated[Principal, Depends(require_roles(*roles))],
        fields: StaffForm,
        pages: PagesDep,
        db: Db,
    ) -> StaffPost:
        return StaffPost(request, principal, fields, pages, db)

    return dependency
