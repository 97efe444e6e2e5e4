"""The session cookies (the reporter's `probity_reporter`, staff's `probity_staff`), set and
cleared one way: HttpOnly, SameSite=Strict, Secure when `settings.secure_cookies`, and no
Max-Age, so each dies with the browser (the server ends the session anyway).

Imports Starlette and `routes.deps`.
"""

from __future__ import annotations

from fastapi import Request, Response

from routes.deps import settings_of

__all__ = ["clear_session_cookie", "set_session_cookie"]


def set_session_cookie(
    request: Request, response: Response, name: str, token: str, *, path: str
) -> None:
    secure = settings_of(request).secure_cookies
    response.set_cookie(name, token, path=path, httponly=True, samesite="strict", secure=secure)


def clear_session_cookie(request: Request, response: Response, name: str, *, path: str) -> None:
    secure = settings_of(request).secure_cookies
    response.delete_cookie(name, path=path, httponly=True, samesite="strict", secure=secure)
