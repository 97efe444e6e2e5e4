"""Receipt login and logout: `GET /status`, `POST /status`, `POST /status/logout`.

The only cookie the reporter pages ever set is `probity_reporter`, and only after a receipt
login: the sealed session token (service.tips.reporter_auth), HttpOnly, SameSite=Strict,
Path=/status, Secure when `settings.secure_cookies`, and no Max-Age, so it dies with the browser.
Unknown and wrong receipts get the same 401 page (the typed receipt is never echoed).

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from routes import csrf
from routes.api.reporter import login
from routes.cookies import clear_session_cookie, set_session_cookie
from routes.deps import Db, instance_context, run_blocking
from routes.pages.forms import read_small_form, refuse_cross_site
from routes.pages.report_fields import one
from routes.pages.sign_in import SignInForm, checked_sign_in, render_sign_in, sign_in_token
from routes.templating import PagesDep, see_other
from service.db import utcnow
from service.errors import InvalidInput, TooManyAttempts, Unauthorized
from service.instance.context import InstanceContext
from service.tips.reporter_auth import ReporterSession, issue_token, open_token

__all__ = [
    "COOKIE",
    "LOGOUT",
    "clear_session",
    "current_reporter",
    "keep_session",
    "router",
    "to_login",
]

router = APIRouter(include_in_schema=False)
COOKIE = "probity_reporter"
COOKIE_PATH = "/status"
LOGIN = "status-login"
LOGOUT = "status-logout"
# Why the login page is shown again; a closed list, so the query string cannot inject text.
NOTICES = frozenset({"signin", "expired", "signed_out"})
SIGN_IN = SignInForm("reporter/status_login.html", LOGIN, csrf.LOGIN_BINDING, NOTICES)


def current_reporter(request: Request, ctx: InstanceContext) -> ReporterSession | None:
    """The session in the cookie, or None when it is missing, forged or expired."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return open_token(ctx, token, now=utcnow())
    except Unauthorized:
        return None


def keep_session(
    request: Request, response: Response, ctx: InstanceContext, reporter: ReporterSession
) -> None:
    """A fresh token on every signed-in answer: the idle timeout slides, the start stays."""
    now = utcnow()
    token = issue_token(
        ctx, reporter.tip_id, reporter.conversation_identity, started=reporter.started, now=now
    )
    _set_cookie(request, response, token)


def _set_cookie(request: Request, response: Response, token: str) -> None:
    set_session_cookie(request, response, COOKIE, token, path=COOKIE_PATH)


def clear_session(request: Request, response: Response) -> None:
    clear_session_cookie(request, response, COOKIE, path=COOKIE_PATH)


def to_login(request: Request, notice: str, *, clear: bool) -> RedirectResponse:
    response = see_other(request, f"/status?notice={notice}")
    if clear:
        clear_session(request, response)
    return response


@router.get("/status", response_class=HTMLResponse)
async def status_login(request: Request, pages: PagesDep) -> Response:
    """The receipt form. Sets no cookie."""
    return render_sign_in(request, pages, SIGN_IN, await sign_in_token(request, SIGN_IN))


@router.post("/status", response_class=HTMLResponse)
async def status_sign_in(request: Request, pages: PagesDep, db: Db) -> Response:
    """Check the receipt; on success set the session cookie and go to the report."""
    fields, ctx, again = await checked_sign_in(request, SIGN_IN)
    try:
        token = await run_blocking(login, db, ctx, one(fields, "receipt"))
    except Unauthorized:
        return render_sign_in(request, pages, SIGN_IN, again, error="not_found", status_code=401)
    except InvalidInput:
        return render_sign_in(request, pages, SIGN_IN, again, error="format", status_code=422)
    except TooManyAttempts as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return render_sign_in(
            request, pages, SIGN_IN, again, error="locked", status_code=429, headers=headers
        )
    response = see_other(request, "/status/tip")
    _set_cookie(request, response, token)
    return response


@router.post("/status/logout")
async def status_logout(request: Request) -> Response:
    """Forget the session in this browser (CSRF-protected while it is valid)."""
    refuse_cross_site(request)
    fields = await read_small_form(request)
    ctx = await run_blocking(instance_context, request)
    reporter = current_reporter(request, ctx)
    if reporter is not None:
        csrf.verify(
            ctx,
            one(fields, "csrf"),
            purpose=LOGOUT,
            binding=csrf.signed_in_binding(reporter),
            now=utcnow(),
        )
    return to_login(request, "signed_out", clear=True)
