"""Enrolment in Chromium with JavaScript off, against a real `probity serve`, on SQLite and
PostgreSQL: an admin adds a reviewer and sees only a one-time link; the reviewer, in their own
browser, chooses a password, gets the authenticator secret, confirms a code and signs in. The
admin's pages never show the password or the secret, and the link works once."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import Engine

from service.config import Settings
from service.staff.models import Role
from tests.browser.conftest import NewPage
from tests.browser.staff_pages_util import Seen
from tests.factories import StaffHandle, add_staff, seed_border
from tests.live import live_server, server_env
from tests.staff_util import next_code

PASSWORD = "rosa chooses this herself"


def admin_signs_in(seen: Seen, page: Page, base: str, engine: Engine, who: StaffHandle) -> None:
    seen.document(page.goto(f"{base}/staff/login?lang=en"))
    page.get_by_label("Username", exact=True).fill(who.username)
    page.get_by_label("Password", exact=True).fill(who.password)
    page.get_by_label("Code from your authenticator app").fill(next_code(engine, who))
    seen.follow(page, page.get_by_role("button", name="Sign in", exact=True).click)
    expect(page).to_have_url(f"{base}/staff/admin?lang=en")


def admin_adds_rosa(seen: Seen, page: Page, base: str) -> str:
    seen.document(page.goto(f"{base}/staff/admin/staff?lang=en"))
    page.get_by_label("Username", exact=True).fill("rosa")
    page.get_by_label("Role", exact=True).select_option("reviewer")
    page.get_by_label("Compartment (reviewers and supervisors only)").select_option("mx")
    html = seen.follow(
        page, page.get_by_role("button", name="Add staff member", exact=True).click, 201
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Enrolment link")
    assert "otpauth://" not in html
    match = re.search(r"<code>(https?://[^<]+/staff/enrol\?token=[\w-]+)</code>", html)
    assert match is not None, "the admin page should show the enrolment link"
    return match.group(1)


def rosa_enrols(seen: Seen, page: Page, link: str) -> str:
    seen.document(page.goto(link + "&lang=en"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your staff account")
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password again", exact=True).fill(PASSWORD)
    html = seen.follow(page, page.get_by_role("button", name="Continue", exact=True).click)
    secret = re.search(r"Authenticator secret</dt><dd><code>([A-Z2-7]+)</code>", html)
    assert secret is not None, "the member should see the authenticator secret once"
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret.group(1)).now())
    seen.follow(page, page.get_by_role("button", name="Finish setting up", exact=True).click)
    expect(page.get_by_role("status")).to_contain_text("is ready")
    return secret.group(1)


def test_admin_hands_over_a_link_and_only_the_member_learns_password_and_secret(
    new_page: NewPage, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    seed_border(engine, settings)
    adam = add_staff(engine, settings, "adam", Role.ADMIN, [])
    seen = Seen()
    with live_server(server_env(settings), tmp_path / "server.log") as base:
        admin = new_page()
        admin_signs_in(seen, admin, base, engine, adam)
        link = admin_adds_rosa(seen, admin, base)
        seen.document(admin.goto(f"{base}/staff/admin/staff?lang=en"))
        expect(admin.get_by_role("row", name=re.compile("rosa"))).to_contain_text(
            "waiting for enrolment"
        )

        member = new_page()
        secret = rosa_enrols(seen, member, link)
        seen.document(member.goto(link + "&lang=en"), 404)  # the link works once

        rosa = StaffHandle(adam.id, "rosa", "", secret, PASSWORD)  # id unused by next_code
        seen.document(member.goto(f"{base}/staff/login?lang=en"))
        member.get_by_label("Username", exact=True).fill("rosa")
        member.get_by_label("Password", exact=True).fill(PASSWORD)
        member.get_by_label("Code from your authenticator app").fill(next_code(engine, rosa))
        seen.follow(member, member.get_by_role("button", name="Sign in", exact=True).click)
        expect(member).to_have_url(f"{base}/staff/queue?lang=en")

    admin_pages = [html for key, html in seen.pages.items() if "/staff/admin" in key]
    assert admin_pages
    for html in admin_pages:
        assert secret not in html
        assert PASSWORD not in html
