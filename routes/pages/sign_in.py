"""The two sign-in forms' common steps: the reporter's receipt (`/status`) and staff
(`/staff/login`). Neither has a session yet, so each form's CSRF token is bound to a constant of
its own; a form shown again after a refused post keeps its token while it is young, so two
refusals look byte for byte alike.

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NamedTuple

from fastapi import Request
from fastapi.responses import HTMLResponse

from routes import csrf
from routes.deps import instance_context, run_blocking
from routes.pages.forms import Fields, read_small_form, refuse_cross_site
from routes.pages.report_fields import one
from routes.templating import Pages, notice_of
from service.db import utcnow
from service.instance.context import InstanceContext

__all__ = ["SignInForm", "checked_sign_in", "render_sign_in", "sign_in_token"]


class SignInForm(NamedTuple):
    """A sign-in form: its template, CSRF purpose and binding, and the notices it may show."""

    template: str
    purpose: str
    binding: str
    notices: Collection[str]


async def sign_in_token(request: Request, form: SignInForm) -> str:
    ctx = await run_blocking(instance_context, request)
    return csrf.issue(ctx, purpose=form.purpose, binding=form.binding, now=utcnow())


async def checked_sign_in(
    request: Request, form: SignInForm
) -> tuple[Fields, InstanceContext, str]:
    """The posted fields once their CSRF token is checked, the instance context, and the token
    to show again should the form come back."""
    refuse_cross_site(request)
    fields = await read_small_form(request)
    ctx = await run_blocking(instance_context, request)
    now, sent = utcnow(), one(fields, "csrf")
    csrf.verify(ctx, sent, purpose=form.purpose, binding=form.binding, now=now)
    again = csrf.refresh(ctx, sent, purpose=form.purpose, binding=form.binding, now=now)
    return fields, ctx, again


def render_sign_in(
    request: Request,
    pages: Pages,
    form: SignInForm,
    token: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **values: str,
) -> HTMLResponse:
    """The form; a `?notice=` from its list only when there is no error to show."""
    notice = None if error else notice_of(request, form.notices)
    context = {"csrf": token, "error": error, "notice": notice, **values}
    return pages.render(request, form.template, context, status_code=status_code, headers=headers)
