"""Signing staff in from tests, through the real API and the real sign-in page.

TOTP codes may be used once: each login uses the smallest step the server still accepts above the
user's last used one (read from the app's database), waiting for the next 30-second period only
when the three acceptable steps are already used.
"""

from __future__ import annotations

import re
import time

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.staff.models import StaffUser
from service.staff.sessions import TOTP_PERIOD
from tests.factories import StaffHandle

__all__ = ["api_login", "login_body", "next_code", "page_login"]

COOKIE = "probity_staff"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _last_step(engine: Engine, username: str) -> int | None:
    with engine.connect() as connection:
        return connection.scalar(
            select(StaffUser.totp_last_step).where(StaffUser.username == username)
        )


def next_code(engine: Engine, who: StaffHandle) -> str:
    """A code the server will accept now and that was not used before."""
    totp = pyotp.TOTP(who.totp_secret)
    while True:
        current = int(time.time()) // TOTP_PERIOD
        last = _last_step(engine, who.username)
        step = current if last is None or last < current else last + 1
        if step <= current + 1:
            return totp.generate_otp(step)
        time.sleep((current + 1) * TOTP_PERIOD - time.time() + 0.05)


def login_body(client: TestClient, who: StaffHandle) -> dict[str, str]:
    code = next_code(client.app.state.engine, who)  # type: ignore[attr-defined]
    return {"username": who.username, "password": who.password, "totp": code}


def api_login(client: TestClient, who: StaffHandle) -> dict[str, str]:
    """Sign in through the API; returns the Authorization header. The cookie the API also sets is
    dropped (a page session the client already had is kept), so API calls without the header
    stay anonymous or act as the page user."""
    saved = [c for c in client.cookies.jar if c.name == COOKIE]
    response = client.post("/api/v1/staff/session", json=login_body(client, who))
    assert response.status_code == 201, (response.status_code, response.text)
    client.cookies.delete(COOKIE)
    for cookie in saved:  # a page session signed in earlier on this client stays
        client.cookies.jar.set_cookie(cookie)
    return {"Authorization": f"Bearer {response.json()['token']}"}


def page_login(client: TestClient, who: StaffHandle) -> None:
    """Sign in through /staff/login; the client keeps the session cookie."""
    page = client.get("/staff/login")
    assert page.status_code == 200, page.status_code
    match = _CSRF.search(page.text)
    assert match is not None, "no CSRF token on the sign-in page"
    form = {**login_body(client, who), "csrf": match.group(1)}
    response = client.post("/staff/login", data=form, follow_redirects=False)
    assert response.status_code == 303, (response.status_code, response.text[:500])
    assert client.cookies.get("probity_staff"), "no session cookie after sign-in"
