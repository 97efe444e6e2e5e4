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

from routes.api.staff import change_password, sign_in
from routes.deps import Db, settings_of
from routes.pages.report_fields import one
from routes.pages.sign_in import SignInForm, checked_sign_in, render_sign_in, sign_in_token
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
from routes.templating import Pages, PagesDep, see_other
from service.errors import InvalidInput, TooManyAttempts, Unauthorized, Unavailable
from service.staff.sessions import Principal, logout

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
router.include_router(enrol_router)
LOGIN_PURPOSE = "staff-login"
LOGIN_BINDING = "staff-login"
NOTICES = frozenset({"signed_out", "password_changed"})
SIGN_IN = SignInForm("staff/login.html", LOGIN_PURPOSE, LOGIN_BINDING, NOTICES)
AnyStaff = Annotated[Principal, Depends(require_roles(*ALL_STAFF))]


@router.get("/staff/login", response_class=HTMLResponse)
async def login_form(request: Request, pages: PagesDep) -> Response:
    token = await sign_in_token(request, SIGN_IN)
    return render_sign_in(request, pages, SIGN_IN, token, username="")


def _retry(exc: TooManyAttempts | Unavailable) -> dict[str, str] | None:
    return {"Retry-After": str(exc.retry_after)} if exc.retry_after else None


@router.post("/staff/login", response_class=HTMLResponse)
async def login_submit(request: Request, pages: PagesDep, db: Db) -> Response:
    fields, _, again = await checked_sign_in(request, SIGN_IN)
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
        return render_sign_in(
            request, pages, SIGN_IN, again, error="invalid", status_code=401, username=username
        )
    except Unavailable as exc:
        return render_sign_in(
            request,
            pages,
            SIGN_IN,
            again,
            error="busy",
            status_code=503,
            headers=_retry(exc),
            username="",
        )
    response = see_other(request, "/staff")
    set_staff_cookie(request, response, token)
    return response


@router.get("/staff")
def staff_home(request: Request, principal: AnyStaff) -> RedirectResponse:
    """Each role's landing page."""
    home = {"admin": "/staff/admin", "auditor": "/audit"}.get(principal.role.value, "/staff/queue")
    return see_other(request, home)


@router.post("/staff/logout")
def logout_submit(request: Request, principal: AnyStaff, form: StaffForm, db: Db) -> Response:
    found = staff_token(request)
    if found is not None:
        with db.transaction() as session:
            logout(session, found[0], now=settings_of(request).clock())
    response = see_other(request, f"{LOGIN_PATH}?notice=signed_out")
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
def password_form(request: Request, principal: AnyStaff, pages: PagesDep) -> Response:
    return _render_password(request, pages, principal)


@router.post("/staff/password", response_class=HTMLResponse)
async def password_submit(
    request: Request,
    principal: AnyStaff,
    form: StaffForm,
    pages: PagesDep,
    db: Db,
) -> Response:
    """Change the password (and, if ticked, the identity); this session stays, every other one
    is signed out."""
    old, new, repeat = one(form, "old"), one(form, "new"), one(form, "repeat")
    rotate = one(form, "new_identity") == "on"
    if new != repeat:
        return _render_password(request, pages, principal, error="mismatch", status_code=422)
    try:
        await change_password(request, db, principal, old=old, new=new, new_identity=rotate)
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
