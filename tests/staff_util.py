"""Signing staff in from tests, through the real API and the real sign-in page.

TOTP codes may be used once: each login uses the smallest step the server still accepts above the
user's last used one (read from the app's database). When the three acceptable steps are already
used, the app's clock (a `MovableClock` in `Settings.clock`) is moved to the next period: no test
waits for the real clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from routes.app import create_app
from service.config import Clock, Settings
from service.staff.models import StaffUser
from service.staff.sessions import TOTP_PERIOD
from tests.clock import MovableClock
from tests.factories import StaffHandle

__all__ = ["api_login", "csrf_of", "login_body", "next_code", "page_login", "signed_in"]

COOKIE = "probity_staff"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str, index: int = 0) -> str:
    """The page's `index`-th form CSRF token (-1: the last form's)."""
    tokens = _CSRF.findall(html)
    assert tokens, "no CSRF token on the page"
    return str(tokens[index])


def _last_step(engine: Engine, username: str) -> int | None:
    with engine.connect() as connection:
        return connection.scalar(
            select(StaffUser.totp_last_step).where(StaffUser.username == username)
        )


def _real_clock() -> datetime:
    return datetime.now(UTC)


def next_code(engine: Engine, who: StaffHandle, clock: Clock = _real_clock) -> str:
    """A code the server, whose clock is `clock`, accepts now and that was not used before.

    A server in another process runs on the real clock: sign each member in there once."""
    now = clock().timestamp()
    current = int(now) // TOTP_PERIOD
    last = _last_step(engine, who.username)
    step = current if last is None or last < current else last + 1
    if step > current + 1:
        assert isinstance(clock, MovableClock), "only a MovableClock can reach the next step"
        clock.advance(timedelta(seconds=(step - 1) * TOTP_PERIOD - now + 0.05))
    return pyotp.TOTP(who.totp_secret).generate_otp(step)


def login_body(client: TestClient, who: StaffHandle) -> dict[str, str]:
    state = client.app.state  # type: ignore[attr-defined]
    code = next_code(state.engine, who, state.settings.clock)
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
    form = {**login_body(client, who), "csrf": csrf_of(page.text)}
    response = client.post("/staff/login", data=form, follow_redirects=False)
    assert response.status_code == 303, (response.status_code, response.text[:500])
    assert client.cookies.get("probity_staff"), "no session cookie after sign-in"


@contextmanager
def signed_in(settings: Settings, who: StaffHandle) -> Iterator[TestClient]:
    """A client of its own (lifespan running) with `who` signed in on the pages."""
    with TestClient(create_app(settings)) as client:
        page_login(client, who)
        yield client
