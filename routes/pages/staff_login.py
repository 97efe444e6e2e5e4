"""Staff sign-in pages: `GET/POST /staff/login`, `POST /staff/logout`, `GET/POST /staff/password`.

No JavaScript; English and Spanish through `lang`. Sign-in sets the `probity_staff` cookie
(routes.staff_auth); sign-out revokes the session on the server. Unknown user, wrong password and
wrong code and an account paused after too many failures show the same 401 page; the typed
password and code are never echoed back. `/staff/enrol` (routes.pages.staff_enrol) is included
here.

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from routes import csrf
from routes.api.staff import change_password, sign_in
from routes.deps import Db, instance_context, run_blocking, settings_of
from routes.i18n import pick_language
from routes.pages.forms import read_small_form, refuse_cross_site
from routes.pages.report_fields import one
from routes.pages.staff_enrol import router as enrol_router
from routes.staff_auth import (
    ALL_STAFF,
    LOGIN_PATH,
    StaffForm,
    clear_staff_cookie,
    csrf_token,
    require_roles,
    set_staff_cookie,
    staff_token,
)
from routes.templating import Pages, get_pages, lang_url
from service.db import utcnow
from service.errors import InvalidInput, TooManyAttempts, Unauthorized, Unavailable
from service.staff.sessions import Principal, logout

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
router.include_router(enrol_router)
LOGIN_PURPOSE = "staff-login"
LOGIN_BINDING = "staff-login"
NOTICES = frozenset({"signed_out", "password_changed"})
AnyStaff = Annotated[Principal, Depends(require_roles(*ALL_STAFF))]


def _render_login(
    request: Request,
    pages: Pages,
    token: str,
    *,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    notice = request.query_params.get("notice")
    context = {
        "csrf": token,
        "error": error,
        "username": username,
        "notice": notice if notice in NOTICES and error is None else None,
    }
    return pages.render(
        request, "staff/login.html", context, status_code=status_code, headers=headers
    )


@router.get("/staff/login", response_class=HTMLResponse)
async def login_form(request: Request, pages: Annotated[Pages, Depends(get_pages)]) -> Response:
    ctx = await run_blocking(instance_context, request)
    token = csrf.issue(ctx, purpose=LOGIN_PURPOSE, binding=LOGIN_BINDING, now=utcnow())
    return _render_login(request, pages, token)


def _retry(exc: TooManyAttempts | Unavailable) -> dict[str, str] | None:
    return {"Retry-After": str(exc.retry_after)} if exc.retry_after else None


@router.post("/staff/login", response_class=HTMLResponse)
async def login_submit(
    request: Request, pages: Annotated[Pages, Depends(get_pages)], db: Db
) -> Response:
    refuse_cross_site(request)
    fields = await read_small_form(request)
    ctx = await run_blocking(instance_context, request)
    now = utcnow()
    sent = one(fields, "csrf")
    csrf.verify(ctx, sent, purpose=LOGIN_PURPOSE, binding=LOGIN_BINDING, now=now)
    again = csrf.refresh(ctx, sent, purpose=LOGIN_PURPOSE, binding=LOGIN_BINDING, now=now)
    username = one(fields, "username")[:64]
    try:
        token, _, _ = await sign_in(
            request,
            db,
            username=username,
            password=one(fields, "password"),
            totp=one(fields, "totp"),
        )
    except Unauthorized:  # also a paused account: it must look like any other failure
        return _render_login(
            request, pages, again, username=username, error="invalid", status_code=401
        )
    except Unavailable as exc:
        return _render_login(
            request, pages, again, error="busy", status_code=503, headers=_retry(exc)
        )
    response = RedirectResponse(lang_url("/staff", pick_language(request)), status_code=303)
    set_staff_cookie(request, response, token)
    return response


@router.get("/staff")
def staff_home(request: Request, principal: AnyStaff) -> RedirectResponse:
    """Each role's landing page."""
    home = {"admin": "/staff/admin", "auditor": "/audit"}.get(principal.role.value, "/staff/queue")
    return RedirectResponse(lang_url(home, pick_language(request)), status_code=303)


@router.post("/staff/logout")
def logout_submit(request: Request, principal: AnyStaff, form: StaffForm, db: Db) -> Response:
    found = staff_token(request)
    if found is not None:
        with db.transaction() as session:
            logout(session, found[0], now=settings_of(request).clock())
    target = lang_url(f"{LOGIN_PATH}?notice=signed_out", pick_language(request))
    response = RedirectResponse(target, status_code=303)
    clear_staff_cookie(request, response)
    return response


def _render_password(
    request: Request,
    pages: Pages,
    principal: Principal,
    *,
    error: str | None = None,
    done: bool = False,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    context = {"csrf": csrf_token(request, principal), "error": error, "done": done}
    return pages.render(
        request, "staff/password.html", context, status_code=status_code, headers=headers
    )


@router.get("/staff/password", response_class=HTMLResponse)
def password_form(
    request: Request, principal: AnyStaff, pages: Annotated[Pages, Depends(get_pages)]
) -> Response:
    return _render_password(request, pages, principal)


@router.post("/staff/password", response_class=HTMLResponse)
async def password_submit(
    request: Request,
    principal: AnyStaff,
    form: StaffForm,
    pages: Annotated[Pages, Depends(get_pages)],
    db: Db,
) -> Response:
    """Change the password; this session stays, every other one is signed out."""
    old, new, repeat = one(form, "old"), one(form, "new"), one(form, "repeat")
    if new != repeat:
        return _render_password(request, pages, principal, error="mismatch", status_code=422)
    try:
        await change_password(request, db, principal, old=old, new=new)
    except InvalidInput as exc:
        error = "guessable" if exc.fields.get("password") == "guessable" else "weak"
        return _render_password(request, pages, principal, error=error, status_code=422)
    except Unauthorized:
        return _render_password(request, pages, principal, error="wrong", status_code=401)
    except TooManyAttempts as exc:
        return _render_password(
            request, pages, principal, error="locked", status_code=429, headers=_retry(exc)
        )
    except Unavailable as exc:
        return _render_password(
            request, pages, principal, error="busy", status_code=503, headers=_retry(exc)
        )
    return _render_password(request, pages, principal, done=True)
