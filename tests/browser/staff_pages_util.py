"""Helpers for the staff journey in Chromium: pages checked and kept (to search them afterwards
for what must never be shown), filing a tip over the API, and signing staff in through the form."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from playwright.sync_api import Page, Response, expect
from sqlalchemy import Engine

from tests.factories import StaffHandle
from tests.live import Client
from tests.staff_util import next_code

__all__ = ["Seen", "file_tip", "sign_in"]

_NOT_RECEIPT = re.compile(r"[\s-]+")


@dataclass
class Seen:
    """Every HTML page of the journey, each checked for its status and for having no script."""

    pages: dict[str, str] = field(default_factory=dict)  # "n url" -> HTML

    def document(self, response: Response | None, status: int = 200) -> str:
        assert response is not None, "no response: the action did not load a page"
        assert response.status == status, f"{response.url}: {response.status}, not {status}"
        html = response.text()
        assert "<script" not in html.lower(), f"{response.url} has a <script>"
        self.pages[f"{len(self.pages)} {response.url}"] = html
        return html

    def follow(self, page: Page, act: Callable[[], None], status: int = 200) -> str:
        """Do what leads to another page (a click on a link or a button) and check that page."""
        with page.expect_navigation() as navigation:
            act()
        return self.document(navigation.value, status)

    def showing(self, receipt: str) -> list[str]:
        """The pages that show the receipt, however it is spaced, hyphenated or cased."""
        wanted = _NOT_RECEIPT.sub("", receipt).upper()
        return [key for key, html in self.pages.items() if wanted in _compact(html)]


def _compact(html: str) -> str:
    return _NOT_RECEIPT.sub("", html).upper()


def file_tip(base: str, body: dict[str, object]) -> str:
    """File a tip through `POST /api/v1/tips` as an anonymous reporter; returns the receipt."""
    answer = Client(base, timeout=60).post("/api/v1/tips", body)
    assert answer.status_code == 201, (answer.status_code, answer.text[:300])
    receipt = answer.json()["receipt"]
    assert isinstance(receipt, str)
    return receipt


def sign_in(seen: Seen, page: Page, base: str, engine: Engine, who: StaffHandle) -> None:
    """Sign `who` in at /staff/login with password and a fresh TOTP code; lands on the queue."""
    seen.document(page.goto(f"{base}/staff/login?lang=en"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff sign-in")
    page.get_by_label("Username", exact=True).fill(who.username)
    page.get_by_label("Password", exact=True).fill(who.password)
    page.get_by_label("Code from your authenticator app").fill(next_code(engine, who))
    seen.follow(page, page.get_by_role("button", name="Sign in", exact=True).click)
    expect(page, "sign-in should lead a reader to the queue").to_have_url(
        f"{base}/staff/queue?lang=en"
    )
    expect(page.locator(".signed-in-as")).to_have_text(who.username)
