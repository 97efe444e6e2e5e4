"""`GET/POST /staff/enrol?token=...`: a new staff member chooses their own password and keys.

The admin who created the account handed over the one-time link; nothing the admin saw opens the
account. Step `password` (choose a password: the identity and TOTP secret are made now and sealed
under it; the secret is shown once), then step `confirm` (the password again and a current code:
the account becomes usable and the link is spent). Forms carry a CSRF token bound to the link and
refuse cross-site posts; no JavaScript; English and Spanish. See service.staff.enrolment.

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from routes import csrf
from routes.deps import Db, UnitOfWork, instance_context, run_blocking, settings_of
from routes.pages.forms import Fields, read_small_form, refuse_cross_site
from routes.pages.report_fields import one
from routes.staff_auth import kdf_pool
from routes.templating import Pages, get_pages
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound, Unauthorized, Unavailable
from service.instance.setup import kdf_params
from service.staff import enrolment

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PURPOSE = "staff-enrol"
PagesDep = Annotated[Pages, Depends(get_pages)]
T = TypeVar("T")


def _binding(token: str) -> str:
    # Tied to the link: a form token of one enrolment is refused by another.
    return enrolment.token_hash(token).hex()


def _render(
    request: Request,
    pages: Pages,
    step: str,
    *,
    token: str = "",
    username: str = "",
    error: str | None = None,
    keys: enrolment.EnrolmentKeys | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """`step`: password, confirm, done or invalid (the link cannot be used)."""
    context: dict[str, Any] = {"step": step, "error": error, "username": username, "keys": keys}
    if step in ("password", "confirm"):
        ctx = instance_context(request)
        context["token"] = token
        context["csrf"] = csrf.issue(ctx, purpose=PURPOSE, binding=_binding(token), now=utcnow())
    return pages.render(request, "staff/enrol.html", context, status_code=status_code)


def _invalid(request: Request, pages: Pages) -> HTMLResponse:
    return _render(request, pages, "invalid", status_code=404)


@router.get("/staff/enrol", response_class=HTMLResponse)
async def enrol_form(request: Request, pages: PagesDep, db: Db) -> Response:
    token = request.query_params.get("token", "")
    try:
        now = settings_of(request).clock()
        user = await db.run_in_thread(
            lambda s: enrolment.find_enrolment(s, token, now=now).username
        )
    except NotFound:
        return _invalid(request, pages)
    return await run_blocking(
        lambda: _render(request, pages, "password", token=token, username=user)
    )


async def _checked_form(request: Request) -> tuple[Fields, str]:
    refuse_cross_site(request)
    fields = await read_small_form(request)
    token = one(fields, "token")
    ctx = await run_blocking(instance_context, request)
    csrf.verify(ctx, one(fields, "csrf"), purpose=PURPOSE, binding=_binding(token), now=utcnow())
    return fields, token


@router.post("/staff/enrol", response_class=HTMLResponse)
async def enrol_submit(request: Request, pages: PagesDep, db: Db) -> Response:
    fields, token = await _checked_form(request)
    step = one(fields, "step")
    if step not in ("password", "confirm"):
        raise InvalidInput("step must be password or confirm", fields={"step": "choice"})
    try:
        with kdf_pool(request).slot():
            if step == "password":
                return await _choose(request, db, pages, fields, token)
            return await _confirm(request, db, pages, fields, token)
    except NotFound:
        return _invalid(request, pages)
    except Unavailable:
        return _render(request, pages, step, token=token, error="busy", status_code=503)


async def _choose(
    request: Request, db: UnitOfWork, pages: Pages, fields: Fields, token: str
) -> Response:
    password, kdf = one(fields, "password"), kdf_params(settings_of(request))
    if password != one(fields, "repeat"):
        return _render(request, pages, "password", token=token, error="mismatch", status_code=422)
    now = settings_of(request).clock()
    try:
        begin = partial(enrolment.begin, token=token, password=password, kdf=kdf, now=now)
        keys = await db.run_in_thread(begin)
    except InvalidInput as exc:
        error = "guessable" if exc.fields.get("password") == "guessable" else "weak"
        return _render(request, pages, "password", token=token, error=error, status_code=422)
    return _render(request, pages, "confirm", token=token, username=keys.username, keys=keys)


async def _confirm(
    request: Request, db: UnitOfWork, pages: Pages, fields: Fields, token: str
) -> Response:
    password, kdf = one(fields, "password"), kdf_params(settings_of(request))
    code, now = one(fields, "code"), settings_of(request).clock()
    try:
        confirm = partial(
            enrolment.confirm, token=token, password=password, code=code, kdf=kdf, now=now
        )
        username = (await db.run_in_thread(confirm)).username
    except Unauthorized:
        return _render(request, pages, "confirm", token=token, error="wrong", status_code=401)
    except Conflict:
        return _render(request, pages, "password", token=token, status_code=409)
    return _render(request, pages, "done", username=username)
