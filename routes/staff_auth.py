"""Staff authentication for routes: roles, the session cookie, CSRF on staff forms, the KDF pool.

- `require_roles(*roles)` is the one way a staff or audit route says who may call it. It returns a
  FastAPI dependency (with a `roles` attribute, so tests can list every route's roles) yielding the
  `Principal` from `Authorization: Bearer <token>` or the `probity_staff` cookie. No or a bad
  credential: 401 (JSON on API paths, a redirect to /staff/login on pages); wrong role: 403.
- Cookie and CSRF policy: the cookie is HttpOnly, SameSite=Strict, Path=/, Secure when
  `settings.secure_cookies`. Every staff page POST checks a CSRF token bound to the session
  (`check_staff_csrf` / `StaffForm`). The JSON API takes state-changing calls with a bearer token
  only: a cookie alone authenticates API reads (GET/HEAD) but never writes, so a forged cross-site
  request cannot act through the API.
- `kdf_pool(request)`: the process's bounded pool for password derivations (503 when full).

Imports FastAPI/Starlette, `routes.*` and `service.*`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from routes import csrf
from routes.cookies import clear_session_cookie, set_session_cookie
from routes.deps import Db, instance_context, settings_of
from routes.errors import is_api_path, probity_error_response
from routes.pages.forms import Fields, read_small_form, refuse_cross_site
from routes.templating import see_other
from service.db import utcnow
from service.errors import Forbidden, LoginRequired, Unauthorized
from service.staff.kdf_pool import KdfPool
from service.staff.models import Role
from service.staff.sessions import Principal, authenticate

__all__ = [
    "ADMINS",
    "ALL_STAFF",
    "AUDITORS",
    "COOKIE",
    "LOGIN_PATH",
    "READERS",
    "SUPERVISORS",
    "Forbidden",
    "StaffForm",
    "StaffNav",
    "check_staff_csrf",
    "clear_staff_cookie",
    "csrf_token",
    "current_principal",
    "install_staff_auth",
    "kdf_pool",
    "require_roles",
    "set_staff_cookie",
    "staff_token",
    "verify_staff_csrf",
]

COOKIE = "probity_staff"
READERS = (Role.REVIEWER, Role.SUPERVISOR)  # may read content (when in a tip's audience)
SUPERVISORS = (Role.SUPERVISOR,)
ADMINS = (Role.ADMIN,)
AUDITORS = (Role.AUDITOR,)
ALL_STAFF = tuple(Role)
CSRF_PURPOSE = "staff-form"
LOGIN_PATH = "/staff/login"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class StaffNav:
    """What staff/base.html shows: who is signed in, and the token for its sign-out form."""

    username: str
    role: str
    csrf: str


def staff_token(request: Request) -> tuple[str, bool] | None:
    """(token, from_cookie) from the Authorization header or the cookie; None when neither."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else None


def current_principal(request: Request, db: Db) -> Principal:
    """Any signed-in staff member (routes use `require_roles`; this is its building block)."""
    found = staff_token(request)
    if found is None:
        raise LoginRequired("sign in as staff first")
    token, from_cookie = found
    api = is_api_path(request.url.path)
    if api and from_cookie and request.method not in _SAFE_METHODS:
        raise LoginRequired("state-changing API calls need an Authorization: Bearer token")
    now = settings_of(request).clock()
    try:
        principal = db.run(lambda s: authenticate(s, token, now=now))
    except Unauthorized as exc:
        raise LoginRequired(exc.detail) from None
    request.state.principal = principal
    if not api:
        nav = StaffNav(principal.username, principal.role.value, csrf_token(request, principal))
        request.state.page_context = {"staff": nav}
    return principal


@cache
def require_roles(*roles: Role | tuple[Role, ...]) -> Callable[..., Principal]:
    """A dependency admitting signed-in staff whose role is one of `roles` (tuples are flattened:
    `require_roles(*READERS)` and `require_roles(READERS)` are the same)."""
    allowed: tuple[Role, ...] = tuple(
        dict.fromkeys(r for item in roles for r in (item if isinstance(item, tuple) else (item,)))
    )
    if not allowed:
        raise ValueError("require_roles needs at least one role")

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            raise Forbidden("your role may not use this")
        return principal

    dependency.roles = allowed  # type: ignore[attr-defined]
    dependency.__name__ = "require_" + "_".join(r.value for r in allowed)
    return dependency


def csrf_token(request: Request, principal: Principal) -> str:
    """A token for staff page forms, bound to this session (valid for `csrf.TTL`)."""
    return csrf.issue(
        instance_context(request),
        purpose=CSRF_PURPOSE,
        binding=str(principal.session_id),
        now=utcnow(),
    )


def verify_staff_csrf(request: Request, principal: Principal, token: str | None) -> None:
    """For forms read by their handler (e.g. with files): 403 unless `token` is ours."""
    refuse_cross_site(request)
    csrf.verify(
        instance_context(request),
        token,
        purpose=CSRF_PURPOSE,
        binding=str(principal.session_id),
        now=utcnow(),
    )


async def check_staff_csrf(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Fields:
    """Dependency for every staff page POST: reads the small form, checks its `csrf` field
    (403 when missing or forged) and returns the fields."""
    refuse_cross_site(request)
    # Staff forms carry notes, messages and one finding per allegation: larger than reporter ones.
    fields = await read_small_form(request, 64 << 10, max_fields=40)
    sent = fields.get("csrf", [None])[0]
    verify_staff_csrf(request, principal, sent)
    return fields


StaffForm = Annotated[Fields, Depends(check_staff_csrf)]


def set_staff_cookie(request: Request, response: Response, token: str) -> None:
    set_session_cookie(request, response, COOKIE, token, path="/")


def clear_staff_cookie(request: Request, response: Response) -> None:
    clear_session_cookie(request, response, COOKIE, path="/")


def kdf_pool(request: Request) -> KdfPool:
    pool: KdfPool | None = getattr(request.app.state, "kdf_pool", None)
    if pool is None:
        pool = KdfPool(settings_of(request).kdf.pool_size)
        request.app.state.kdf_pool = pool
    return pool


async def _login_required(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, LoginRequired):  # registered for this class only
        raise exc
    if is_api_path(request.url.path):
        return probity_error_response(request, exc)
    response = see_other(request, LOGIN_PATH)
    if request.cookies.get(COOKIE):
        clear_staff_cookie(request, response)
    return response


def install_staff_auth(app: FastAPI) -> None:
    """Register the sign-in redirect for pages (called by `create_app`)."""
    app.add_exception_handler(LoginRequired, _login_required)
    app.state.kdf_pool = KdfPool(app.state.settings.kdf.pool_size)
