"""Staff sign-in over HTTP: the API, the pages, the cookie, CSRF, lockout and the KDF pool."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from routes.app import create_app
from service.config import Settings
from service.db import utcnow
from service.staff.models import LoginThrottle, Role, StaffUser
from tests.factories import Border, StaffHandle, add_staff
from tests.staff_util import api_login, csrf_of, login_body, page_login


def login(web: TestClient, who: StaffHandle, **override: str) -> tuple[int, str]:
    body = {**login_body(web, who), **override}
    response = web.post("/api/v1/staff/session", json=body)
    web.cookies.delete("probity_staff")
    return response.status_code, response.text


def test_api_login_returns_token_expiry_role_and_a_strict_cookie(
    web: TestClient, border: Border
) -> None:
    before = utcnow()
    response = web.post("/api/v1/staff/session", json=login_body(web, border.supervisor_us))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "expires_at", "role"}
    assert body["role"] == "supervisor"
    assert body["expires_at"] >= (before + timedelta(hours=12)).isoformat()[:16]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"probity_staff={body['token']};")
    for part in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert part.lower() in cookie.lower()
    assert "max-age" not in cookie.lower()
    me = web.get("/api/v1/staff/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json() == {
        "id": str(border.supervisor_us.id),
        "username": "sam",
        "role": "supervisor",
    }


def test_a_token_from_a_logged_out_session_is_refused(web: TestClient, border: Border) -> None:
    headers = api_login(web, border.reviewer_us)
    assert web.delete("/api/v1/staff/session", headers=headers).status_code == 204
    refused = web.get("/api/v1/staff/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert web.delete("/api/v1/staff/session", headers=headers).status_code == 401


def test_wrong_password_wrong_code_and_unknown_user_get_identical_401s(
    web: TestClient, border: Border
) -> None:
    ana = border.reviewer_us
    good = login_body(web, ana)["totp"]
    answers = {
        login(web, ana, password="not the right password"),
        login(web, ana, totp="000000" if good != "000000" else "999999"),
        login(web, ana, username="nobody-here"),
        login(web, ana, username="nobody-here", password="x", totp="1"),
    }
    assert len(answers) == 1
    [(status, text)] = answers
    assert status == 401
    assert "invalid username, password or code" in text


def test_a_used_code_cannot_be_replayed(web: TestClient, border: Border) -> None:
    body = login_body(web, border.reviewer_us)
    assert web.post("/api/v1/staff/session", json=body).status_code == 201
    assert web.post("/api/v1/staff/session", json=body).status_code == 401


def test_a_paused_account_answers_exactly_like_a_name_that_does_not_exist(
    web: TestClient, border: Border, engine: Engine
) -> None:
    ana = border.reviewer_us

    def answers(username: str) -> list[tuple[int, str, str | None]]:
        seen = []
        for attempt in range(7):
            body = {**login_body(web, ana), "username": username}
            if attempt < 6:
                body["password"] = f"wrong password {attempt}"
            response = web.post("/api/v1/staff/session", json=body)  # the 7th: right password
            web.cookies.delete("probity_staff")
            seen.append((response.status_code, response.text, response.headers.get("retry-after")))
        return seen

    known, unknown = answers("ana"), answers("nobody-here")
    assert known == unknown
    assert {status for status, _, _ in known} == {401}
    assert {retry for _, _, retry in known} == {None}
    assert "invalid username, password or code" in known[-1][1]
    with engine.begin() as connection:  # the pause ends
        connection.execute(
            update(StaffUser)
            .where(StaffUser.id == ana.id)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
    assert login(web, ana)[0] == 201


def test_failures_of_a_name_with_no_account_are_counted_under_an_hmac_only(
    web: TestClient, border: Border, engine: Engine
) -> None:
    for attempt in range(6):
        assert login(web, border.reviewer_us, username="ghost", password=f"x{attempt}")[0] == 401
    with engine.connect() as connection:
        rows = connection.execute(select(LoginThrottle)).all()
    [row] = rows
    assert row.failures == 5  # five counted; the sixth came while paused, as for an account
    assert row.locked_until is not None
    assert b"ghost" not in row.name_hmac


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        ("text", {"content-type": "text/plain"}),
        ("form", {"content-type": "application/x-www-form-urlencoded"}),
        ("json", {"content-type": "application/json", "sec-fetch-site": "cross-site"}),
    ],
)
def test_api_sign_in_takes_only_json_from_this_site(
    web: TestClient, border: Border, content: str, headers: dict[str, str]
) -> None:
    body = json.dumps(login_body(web, border.reviewer_us))
    if content == "form":
        body = "username=ana&password=x&totp=123456"
    response = web.post("/api/v1/staff/session", content=body, headers=headers)
    assert response.status_code == (403 if content == "json" else 415)
    assert "set-cookie" not in response.headers
    assert login(web, border.reviewer_us)[0] == 201  # the code above was never used


def test_a_cookie_alone_can_read_but_never_change_state_over_the_api(
    web: TestClient, border: Border
) -> None:
    page_login(web, border.reviewer_us)
    assert web.get("/api/v1/staff/me").status_code == 200
    assert web.delete("/api/v1/staff/session").status_code == 401
    body = {"old": border.reviewer_us.password, "new": "a whole new password"}
    assert web.post("/api/v1/staff/password", json=body).status_code == 401
    assert web.get("/api/v1/staff/me").status_code == 200  # still signed in


def test_a_full_kdf_pool_answers_503_at_once(web: TestClient, border: Border) -> None:
    pool = web.app.state.kdf_pool  # type: ignore[attr-defined]
    with ExitStack() as held:
        for _ in range(pool.size):
            held.enter_context(pool.slot())
        response = web.post("/api/v1/staff/session", json=login_body(web, border.reviewer_us))
        assert response.status_code == 503
        assert response.headers["retry-after"]
        page = web.get("/staff/login")
        form = {**login_body(web, border.reviewer_us), "csrf": csrf_of(page.text)}
        assert web.post("/staff/login", data=form).status_code == 503
    assert login(web, border.reviewer_us)[0] == 201  # slots come back


def test_password_change_over_the_api_reseals_and_signs_out_elsewhere(
    web: TestClient, border: Border
) -> None:
    sam = border.supervisor_us
    here, there = api_login(web, sam), api_login(web, sam)
    new = "a different long password"
    wrong = web.post("/api/v1/staff/password", json={"old": "nope", "new": new}, headers=here)
    assert wrong.status_code == 401
    weak = web.post("/api/v1/staff/password", json={"old": sam.password, "new": "x"}, headers=here)
    assert weak.status_code == 422
    ok = web.post("/api/v1/staff/password", json={"old": sam.password, "new": new}, headers=here)
    assert ok.status_code == 204
    assert web.get("/api/v1/staff/me", headers=here).status_code == 200
    assert web.get("/api/v1/staff/me", headers=there).status_code == 401
    assert login(web, sam)[0] == 401
    assert login(web, sam, password=new)[0] == 201


def test_sign_in_page_sets_the_cookie_and_lands_on_the_role_home(
    web: TestClient, border: Border
) -> None:
    page = web.get("/staff/login?lang=es")
    assert page.status_code == 200
    assert "Contraseña" in page.text
    assert page.headers["cache-control"] == "no-store"
    form = {**login_body(web, border.reviewer_us), "csrf": csrf_of(page.text)}
    signed_in = web.post("/staff/login?lang=es", data=form, follow_redirects=False)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/staff?lang=es"
    home = web.get("/staff?lang=es", follow_redirects=False)
    assert home.headers["location"] == "/staff/queue?lang=es"


def test_sign_in_page_refuses_without_a_token_or_from_another_site(
    web: TestClient, border: Border
) -> None:
    form = login_body(web, border.reviewer_us)
    assert web.post("/staff/login", data=form).status_code == 403
    token = csrf_of(web.get("/staff/login").text)
    cross = web.post(
        "/staff/login", data={**form, "csrf": token}, headers={"sec-fetch-site": "cross-site"}
    )
    assert cross.status_code == 403
    assert not web.cookies.get("probity_staff")


def test_sign_in_page_failures_look_alike_and_echo_no_secret(
    web: TestClient, border: Border
) -> None:
    token = csrf_of(web.get("/staff/login").text)
    secret = "Secret-Typed-Password-77"
    pages = []
    for username in ("ana", "nobody"):
        form = {"username": username, "password": secret, "totp": "123456", "csrf": token}
        response = web.post("/staff/login", data=form)
        assert response.status_code == 401
        assert secret not in response.text
        assert "123456" not in response.text
        pages.append(response.text.replace(f'value="{username}"', ""))
    assert pages[0] == pages[1]


def test_sign_in_page_shows_a_paused_account_like_any_failure(
    web: TestClient, border: Border, engine: Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(StaffUser)
            .where(StaffUser.username == "ana")
            .values(locked_until=utcnow() + timedelta(minutes=5))
        )
    token = csrf_of(web.get("/staff/login").text)
    right = {**login_body(web, border.reviewer_us), "csrf": token}
    paused = web.post("/staff/login", data=right)
    unknown = web.post("/staff/login", data={**right, "username": "nobody"})
    assert paused.status_code == unknown.status_code == 401
    assert "retry-after" not in paused.headers
    assert paused.text.replace('value="ana"', "") == unknown.text.replace('value="nobody"', "")
    assert "paused after too many attempts" in paused.text


def test_pages_send_anonymous_visitors_to_sign_in(web: TestClient, border: Border) -> None:
    response = web.get("/staff/password?lang=es", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/login?lang=es"
    web.cookies.set("probity_staff", "forged.token")
    response = web.get("/staff/password", follow_redirects=False)
    assert response.status_code == 303
    assert "probity_staff=" in response.headers["set-cookie"]


def test_sign_out_form_needs_its_token_and_revokes_the_session(
    web: TestClient, border: Border
) -> None:
    page_login(web, border.reviewer_us)
    cookie = web.cookies.get("probity_staff")
    page = web.get("/staff/password")
    assert page.status_code == 200
    assert 'action="/staff/logout?lang=en"' in page.text
    assert web.post("/staff/logout", data={"csrf": "v1.1.forged"}).status_code == 403
    assert web.get("/staff/password").status_code == 200
    out = web.post("/staff/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/staff/login?notice=signed_out&lang=en"
    web.cookies.set("probity_staff", cookie or "")
    assert web.get("/staff/password", follow_redirects=False).status_code == 303


def test_a_form_token_of_another_session_is_refused(web: TestClient, border: Border) -> None:
    page_login(web, border.reviewer_us)
    stale = csrf_of(web.get("/staff/password").text)
    web.cookies.clear()
    page_login(web, border.reviewer_us)
    assert web.post("/staff/logout", data={"csrf": stale}).status_code == 403


def test_password_page_changes_the_password(web: TestClient, border: Border) -> None:
    ana = border.reviewer_us
    page_login(web, ana)
    token = csrf_of(web.get("/staff/password").text)
    new = "my new long password"

    def send(old: str, new_password: str, repeat: str) -> int:
        form = {"csrf": token, "old": old, "new": new_password, "repeat": repeat}
        return web.post("/staff/password", data=form).status_code

    assert send(ana.password, new, new + "x") == 422
    assert send("wrong old password", new, new) == 401
    assert send(ana.password, "short", "short") == 422
    assert web.post("/staff/password", data={"old": ana.password, "new": new}).status_code == 403
    assert send(ana.password, new, new) == 200
    assert login(web, ana)[0] == 401
    assert login(web, ana, password=new)[0] == 201


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        (Role.REVIEWER, ["/staff/queue", "/staff/approvals"], ["/staff/admin", "/audit"]),
        (Role.ADMIN, ["/staff/admin", "/staff/access"], ["/staff/queue", "/audit?"]),
        (Role.AUDITOR, ["/audit"], ["/staff/queue", "/staff/admin"]),
    ],
)
def test_the_menu_shows_what_the_role_may_use(
    web: TestClient,
    border: Border,
    engine: Engine,
    settings: Settings,
    role: Role,
    shown: list[str],
    hidden: list[str],
) -> None:
    who = add_staff(engine, settings, f"menu-{role.value}", role, [])
    page_login(web, who)
    page = web.get("/staff/password").text
    for link in shown:
        assert f'href="{link}' in page
    for link in hidden:
        assert f'href="{link}' not in page


def test_three_sign_ins_of_one_user_in_a_row_each_use_a_fresh_code(
    web: TestClient, border: Border
) -> None:
    codes = set()
    for _ in range(3):
        body = login_body(web, border.oversight)
        codes.add(body["totp"])
        assert web.post("/api/v1/staff/session", json=body).status_code == 201
    assert len(codes) == 3


def test_no_password_code_token_or_key_reaches_the_logs(
    web: TestClient, border: Border, capfd: pytest.CaptureFixture[str]
) -> None:
    ana = border.reviewer_us
    body = login_body(web, ana)
    token = web.post("/api/v1/staff/session", json=body).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    web.post("/api/v1/staff/session", json={**body, "password": "Wrong-Password-Canary"})
    new = "New-Password-Canary-1234"
    web.post("/api/v1/staff/password", json={"old": ana.password, "new": new}, headers=headers)
    web.get("/api/v1/staff/me", headers=headers)
    web.delete("/api/v1/staff/session", headers=headers)
    out, err = capfd.readouterr()
    captured = out + err
    assert "/api/v1/staff/session" in captured  # the capture saw the request logs
    for secret in (
        ana.password,
        "Wrong-Password-Canary",
        new,
        body["totp"],
        token,
        token.split(".")[1],
        ana.identity,
        ana.totp_secret,
    ):
        assert secret not in captured


def test_the_cookie_is_secure_when_configured(settings: Settings, border: Border) -> None:
    secure = settings.model_copy(update={"secure_cookies": True})
    with TestClient(create_app(secure), base_url="https://testserver") as client:
        response = client.post("/api/v1/staff/session", json=login_body(client, border.oversight))
    assert response.status_code == 201
    assert "secure" in response.headers["set-cookie"].lower()
