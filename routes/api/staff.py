"""Staff sessions over the API: sign in, sign out, change password, who am I.

`POST /api/v1/staff/session` is the only anonymous route here. The token it returns goes in
`Authorization: Bearer`; it is also set as the `probity_staff` cookie for the pages. Sign-in and
password change run in the bounded KDF pool (503 + Retry-After when it is full). Sign-in takes
`application/json` only and refuses cross-site requests (login CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from routes.api.schemas import BODY_ERRORS, STAFF_ERRORS, request_body
from routes.api.schemas_staff import Me, StaffSession
from routes.deps import (
    Db,
    UnitOfWork,
    instance_context,
    read_model,
    run_blocking,
    settings_of,
)
from routes.errors import errors
from routes.pages.forms import media_type, refuse_cross_site
from routes.staff_auth import (
    ALL_STAFF,
    clear_staff_cookie,
    kdf_pool,
    require_roles,
    set_staff_cookie,
    staff_token,
)
from service.errors import Unauthorized, UnsupportedMediaType
from service.inputs import InputModel
from service.instance.setup import kdf_params
from service.staff.rotation import rotate_identity_in_transaction
from service.staff.sessions import (
    ABSOLUTE_TIMEOUT,
    Principal,
    change_password_in_transaction,
    login_in_transaction,
    logout,
)

__all__ = ["LoginIn", "PasswordIn", "change_password", "router", "sign_in"]

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])
SMALL_BODY = 8 << 10
# The key under which failed sign-ins of names with no account are counted (its own label).
THROTTLE_LABEL = b"probity/v1/staff-login-throttle"
AnyStaff = Annotated[Principal, Depends(require_roles(*ALL_STAFF))]


class LoginIn(InputModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    totp: str = Field(max_length=16)


class PasswordIn(InputModel):
    old: str = Field(max_length=1024)
    new: str = Field(max_length=1024)
    # Also replace the X25519 identity: every envelope the member is in is re-addressed to a
    # new one, so a copy of the old sealed record and the old password opens nothing new.
    new_identity: bool = False


async def sign_in(
    request: Request, db: UnitOfWork, *, username: str, password: str, totp: str
) -> tuple[str, Principal, datetime]:
    """Shared with the sign-in page: (token, principal, absolute expiry)."""
    now = settings_of(request).clock()
    login = partial(
        login_in_transaction,
        db.factory,
        username=username,
        password=password,
        totp=totp,
        kdf=kdf_params(settings_of(request)),
        now=now,
    )
    ctx = await run_blocking(instance_context, request)
    key = hmac.new(ctx.index_key, THROTTLE_LABEL, hashlib.sha256).digest()
    with kdf_pool(request).slot():
        token, principal = await run_blocking(partial(login, throttle_key=key))
    return token, principal, now + ABSOLUTE_TIMEOUT


async def change_password(
    request: Request,
    db: UnitOfWork,
    principal: Principal,
    *,
    old: str,
    new: str,
    new_identity: bool = False,
) -> None:
    """Shared with the password page: re-seal the keys (under a new identity on request:
    service.staff.rotation), committed even when refused."""
    kdf, now = kdf_params(settings_of(request)), settings_of(request).clock()
    change: Callable[[], object]
    if new_identity:
        found = staff_token(request)
        if found is None:  # the principal came from it
            raise Unauthorized("sign in as staff first")
        change = partial(
            rotate_identity_in_transaction,
            db.factory,
            principal,
            token=found[0],
            old=old,
            new=new,
            kdf=kdf,
            now=now,
        )
    else:
        change = partial(
            change_password_in_transaction,
            db.factory,
            principal,
            old=old,
            new=new,
            kdf=kdf,
            now=now,
        )
    with kdf_pool(request).slot():
        await run_blocking(change)


@router.post(
    "/session",
    status_code=201,
    response_model=StaffSession,
    responses={**errors(401, 403, 415, 429), **BODY_ERRORS},
    openapi_extra=request_body(LoginIn),
)
async def create_session(request: Request, db: Db) -> JSONResponse:
    """Sign in. Unknown user, wrong password or code and a paused account get the same 401.

    JSON only (415 otherwise) and never from another site's page: a form or text/plain post
    from elsewhere could otherwise sign a victim's browser in as the attacker (login CSRF)."""
    refuse_cross_site(request)
    if media_type(request) != "application/json":
        raise UnsupportedMediaType("send the sign-in as application/json")
    body: LoginIn = await read_model(request, LoginIn, limit=SMALL_BODY)
    token, principal, expires = await sign_in(
        request, db, username=body.username, password=body.password, totp=body.totp
    )
    content = {"token": token, "expires_at": expires.isoformat(), "role": principal.role.value}
    response = JSONResponse(content, status_code=201)
    set_staff_cookie(request, response, token)
    return response


@router.delete("/session", status_code=204, response_class=Response, responses=STAFF_ERRORS)
def delete_session(request: Request, principal: AnyStaff, db: Db) -> Response:
    """Sign out: the session is revoked on the server, the cookie cleared."""
    found = staff_token(request)
    if found is None:  # current_principal already required one
        raise Unauthorized("sign in as staff first")
    db.run(lambda session: logout(session, found[0], now=settings_of(request).clock()))
    response = Response(status_code=204)
    clear_staff_cookie(request, response)
    return response


@router.post(
    "/password",
    status_code=204,
    response_class=Response,
    responses={**STAFF_ERRORS, **BODY_ERRORS},
    openapi_extra=request_body(PasswordIn),
)
async def post_password(request: Request, principal: AnyStaff, db: Db) -> Response:
    """`{"old", "new", "new_identity"}`: re-seal this account's keys (with `new_identity`, under
    a new identity every envelope of the member is re-addressed to); every other session is
    signed out, this one goes on."""
    body: PasswordIn = await read_model(request, PasswordIn, limit=SMALL_BODY)
    await change_password(
        request, db, principal, old=body.old, new=body.new, new_identity=body.new_identity
    )
    return Response(status_code=204)


@router.get("/me", response_model=Me, responses=STAFF_ERRORS)
def me(principal: AnyStaff) -> dict[str, str]:
    return {
        "id": str(principal.staff_id),
        "username": principal.username,
        "role": principal.role.value,
    }
