"""A tip's whole life on the staff side, in Chromium with JavaScript off, against a real
`probity serve`, on SQLite and PostgreSQL: a reporter files a tip; the reviewer signs in with
password and TOTP, finds it in the queue, reads it, triages it and writes to the reporter, who reads
the message with the receipt; the reviewer takes it to decision review and asks to close it with
findings, which she may not approve herself; a supervisor approves it in his own browser; the
reporter sees it closed; and a signed-out session cookie opens nothing any more. No page of the
journey shows the receipt and none has a script."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select

from service.approvals.models import Approval
from service.config import Settings
from service.tips.models import Status, Tip
from tests.browser.conftest import NewPage
from tests.browser.staff_pages_util import Seen, file_tip, sign_in
from tests.factories import StaffHandle, seed_border, tip_json
from tests.live import live_server, server_env

NARRATIVE = "Sergeant Ramirez takes cash to let trucks pass at the Ysleta crossing."
QUESTION = "Thank you. Which days of the week does this happen, and at which lane?"
NOTE = "Asked for closing: bribery sustained, leaking not sustained."
BRIBERY = "Bribery"
LEAKING = "Leaking investigations, raids or informants"


def status_of(page: Page) -> str:
    """The tip page's status, as shown first in its summary."""
    return page.locator(".tip-summary dd").first.inner_text().strip()


def the_tip(engine: Engine) -> tuple[uuid.UUID, str]:
    """The id and status of the only tip in the database."""
    with engine.connect() as connection:
        tip_id, status = connection.execute(select(Tip.id, Tip.status)).one()
    return tip_id, status


def open_from_queue(seen: Seen, page: Page, base: str, tip_id: uuid.UUID) -> None:
    rows = page.locator("table.queue tbody tr")
    expect(rows, "the new tip should be the only row of the reviewer's queue").to_have_count(1)
    expect(rows.first.locator("td").first).to_have_text("Received")
    seen.follow(page, rows.first.get_by_role("link").click)
    expect(page).to_have_url(f"{base}/staff/tips/{tip_id}?lang=en")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tip ")
    expect(page.locator(".tip-report .narrative")).to_have_text(NARRATIVE)
    expect(page.locator(".tip-report")).to_contain_text(BRIBERY)
    expect(page.locator(".tip-report")).to_contain_text("Juan Ramírez")


def move(seen: Seen, page: Page, status: str) -> None:
    """Press the tip page's "Move to: <status>" button; the page comes back with the new status."""
    button = page.get_by_role("button", name=f"Move to: {status}", exact=True)
    expect(button, f"the tip page should offer 'Move to: {status}'").to_have_count(1)
    seen.follow(page, button.click)
    assert status_of(page) == status, f"after 'Move to: {status}' the page shows {status_of(page)}"


def write_to_reporter(seen: Seen, page: Page, text: str) -> None:
    page.get_by_label("The reporter reads this when they sign in with their receipt.").fill(text)
    seen.follow(page, page.get_by_role("button", name="Send to the reporter", exact=True).click)
    sent = page.locator(".tip-conversation .messages li")
    expect(sent, "the sent message should be in the tip's conversation").to_have_count(1)
    expect(sent.first.locator(".body")).to_have_text(text)


def reporter_signs_in(seen: Seen, page: Page, base: str, receipt: str) -> None:
    seen.document(page.goto(f"{base}/status?lang=en"))
    page.get_by_label("Your receipt", exact=True).fill(receipt)
    seen.follow(page, page.get_by_role("button", name="Sign in", exact=True).click)
    expect(page).to_have_url(f"{base}/status/tip?lang=en")


def reporter_status(page: Page) -> str:
    return page.locator("p.status").inner_text().strip()


def ask_to_close(seen: Seen, page: Page) -> None:
    """Findings for both allegations of tip_json(): bribery sustained, leaking not sustained."""
    page.get_by_label(BRIBERY, exact=True).select_option(label="Sustained")
    page.get_by_label(LEAKING, exact=True).select_option(label="Not sustained")
    ask = page.get_by_role("button", name="Ask a supervisor to approve closing", exact=True)
    seen.follow(page, ask.click)
    assert status_of(page) == "Decision review", "asking to close must not close the tip yet"
    expect(page.get_by_role("heading", name="Waiting for approval", exact=True)).to_be_visible()
    pending = page.locator(".pending-approvals li")
    expect(pending).to_have_count(1)
    expect(pending.first).to_contain_text("Close with findings")
    expect(pending.first).to_contain_text(f"{BRIBERY}: Sustained; {LEAKING}: Not sustained")
    # One request at a time: the closing form is gone while it waits.
    expect(ask).to_have_count(0)
    expect(pending.first).to_contain_text("requested by ana")
    expect(pending.first).to_contain_text("Another supervisor must decide your request.")


def cannot_approve_own(
    seen: Seen, page: Page, base: str, tip_id: uuid.UUID, approval_id: uuid.UUID
) -> None:
    """No approve form for the requester, on the tip page or the approvals page, and a hand-made
    decision (with her valid CSRF token) is refused."""
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    seen.follow(page, page.get_by_role("link", name="Approvals", exact=True).click)
    expect(page).to_have_url(f"{base}/staff/approvals?lang=en")
    expect(page.get_by_role("heading", name="Waiting for your decision")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    mine = page.get_by_role("region", name="Your requests").get_by_role("listitem")
    expect(mine).to_have_count(1)
    expect(mine.first).to_contain_text("Close with findings")
    token = page.locator("form.sign-out input[name=csrf]").get_attribute("value")
    assert token, "no CSRF token in the sign-out form"
    forged = page.context.request.post(
        f"{base}/staff/approvals/{approval_id}/decision?lang=en",
        form={"csrf": token, "approve": "1", "reason": "", "back": "list"},
        max_redirects=0,
    )
    assert forged.status == 403, f"ana deciding her own request: {forged.status}, not 403"
    # The control: the same hand-made kind of post, with the same token, on a form she may use
    # is accepted; so the 403 above is the refusal to decide (a reviewer decides nothing, and
    # nobody decides their own request), not a stale token.
    note = page.context.request.post(
        f"{base}/staff/tips/{tip_id}/note?lang=en",
        form={"csrf": token, "body": NOTE},
        max_redirects=0,
    )
    assert note.status == 303, f"ana's own note, posted the same way: {note.status}, not 303"


def supervisor_approves(seen: Seen, page: Page, base: str, tip_id: uuid.UUID) -> None:
    seen.follow(page, page.get_by_role("link", name="Approvals", exact=True).click)
    waiting = page.locator("table.approvals tbody tr")
    expect(waiting, "sam should have exactly ana's request to decide").to_have_count(1)
    expect(waiting.first).to_contain_text("Close with findings")
    expect(waiting.first).to_contain_text("ana")
    link = waiting.first.get_by_role("link")
    expect(link).to_have_attribute("href", re.compile(rf"/staff/tips/{tip_id}"))
    waiting.first.get_by_label("Reason (optional, kept encrypted)").fill("Findings are supported.")
    seen.follow(page, waiting.first.get_by_role("button", name="Approve", exact=True).click)
    expect(page).to_have_url(f"{base}/staff/approvals?lang=en")
    expect(page.get_by_text("Nothing is waiting for you.")).to_be_visible()
    seen.document(page.goto(f"{base}/staff/tips/{tip_id}?lang=en"))
    assert status_of(page).startswith("Closed"), f"approved, yet the tip is {status_of(page)}"
    expect(page.locator(".pending-approvals")).to_have_count(0)
    expect(page.locator(".tip-notes .body")).to_have_text([NOTE])


def sign_out_ends_the_session(seen: Seen, page: Page, base: str, new_page: NewPage) -> None:
    old = page.context.cookies()
    assert [c["name"] for c in old] == ["probity_staff"], old
    seen.follow(page, page.get_by_role("button", name="Sign out", exact=True).click)
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/staff/login\?"))
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    assert page.context.cookies() == [], "the staff cookie should be cleared on sign-out"
    # The old cookie, replayed from another browser, is a dead session on the server.
    thief = new_page()
    thief.context.add_cookies(old)  # type: ignore[arg-type]
    seen.document(thief.goto(f"{base}/staff/queue?lang=en"))
    expect(thief, "a signed-out session must not open the queue").to_have_url(
        f"{base}/staff/login?lang=en"
    )
    expect(thief.get_by_role("heading", level=1)).to_have_text("Staff sign-in")
    expect(thief.locator("table.queue")).to_have_count(0)


def test_reviewer_works_a_tip_to_closing_that_only_another_supervisor_can_approve(
    new_page: NewPage, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    border = seed_border(engine, settings)
    ana: StaffHandle = border.reviewer_us
    sam: StaffHandle = border.supervisor_us
    seen = Seen()
    with live_server(server_env(settings), tmp_path / "server.log") as base:
        # --- 1. A reporter files a tip over the API and keeps the receipt.
        receipt = file_tip(base, tip_json())
        tip_id, _ = the_tip(engine)

        # --- 2. ana signs in, finds the tip, reads it, triages it and writes to the reporter.
        staff = new_page()
        sign_in(seen, staff, base, engine, ana)
        open_from_queue(seen, staff, base, tip_id)
        assert status_of(staff) == "Received"
        move(seen, staff, "Triage")
        write_to_reporter(seen, staff, QUESTION)

        # --- 3. The reporter, in a fresh browser, reads the message; the tip is acknowledged.
        reporter = new_page()
        reporter_signs_in(seen, reporter, base, receipt)
        assert reporter_status(reporter) == "Acknowledged"
        messages = reporter.get_by_role("region", name="Messages").locator(".message")
        expect(messages).to_have_count(1)
        expect(messages.first).to_contain_text("Integrity unit")
        expect(messages.first.locator(".body")).to_have_text(QUESTION)

        # --- 4. ana takes it to decision review and asks to close it; she cannot approve it.
        move(seen, staff, "Investigating")
        move(seen, staff, "Decision review")
        ask_to_close(seen, staff)
        with engine.connect() as connection:
            approval_id = connection.execute(select(Approval.id)).scalar_one()
        cannot_approve_own(seen, staff, base, tip_id, approval_id)
        assert the_tip(engine)[1] == Status.DECISION_REVIEW

        # --- 5. sam, in his own browser, approves; the tip is closed, for the reporter too.
        supervisor = new_page()
        sign_in(seen, supervisor, base, engine, sam)
        supervisor_approves(seen, supervisor, base, tip_id)
        assert the_tip(engine)[1] == Status.CLOSED
        seen.document(reporter.goto(f"{base}/status/tip?lang=en"))
        assert reporter_status(reporter) == "Closed"

        # --- 6. ana signs out; her old cookie no longer opens the queue.
        seen.document(staff.goto(f"{base}/staff/queue?lang=en"))
        sign_out_ends_the_session(seen, staff, base, new_page)

    assert len(seen.pages) >= 15
    assert seen.showing(receipt) == [], "pages that show the reporter's receipt"
