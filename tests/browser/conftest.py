"""Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright, JavaScript off.

Never a downloaded browser (no `playwright install`): without /usr/bin/chromium, or when
Playwright's driver or Chromium cannot start, every browser test is skipped with SKIP. The driver
is tried in a child process first (see `_driver_problem`).

Playwright's sync API runs its own event loop and, while it is alive, marks that loop as running
in the main thread between calls, so `asyncio.run` and `anyio.run` would fail in any test that
ran after it. Hence one Chromium per run of this package (package scope), stopped before the
rest of the suite runs, rather than one for the whole session.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, Protocol

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = Path("/usr/bin/chromium")
SKIP = (
    "Chromium tests need Debian's chromium (apt-get install chromium chromium-driver); "
    ".ci/run installs it"
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DRIVER_PROBE = "from playwright.sync_api import sync_playwright; sync_playwright().start().stop()"
DESKTOP = ViewportSize(width=1280, height=720)
TIMEOUT_MS = 10_000  # fail fast: every page here is local and small
# Page methods that run JavaScript in the page; the tests drive the pages as a person would.
SCRIPTING = ("evaluate", "evaluate_handle", "add_init_script", "add_script_tag")


class NewPage(Protocol):
    def __call__(self, *, viewport: ViewportSize | None = None) -> Page: ...


def _driver_problem() -> str | None:
    """Why Playwright's driver cannot start, found out in a child process; None when it can.

    A driver that fails to spawn inside this process leaves the greenlet and CPython 3.11
    recursion bookkeeping broken, so a later `compile` (pytest's assertion rewriting) raises
    SystemError and the whole run fails although the browser tests were skipped.
    """
    try:
        probe = subprocess.run(
            [sys.executable, "-c", DRIVER_PROBE], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return "the driver did not answer within 60 s"
    if probe.returncode == 0:
        return None
    lines = probe.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {probe.returncode}"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.skip(SKIP)
    problem = _driver_problem()
    if problem is not None:
        pytest.skip(f"{SKIP} (Playwright's driver did not start: {problem})")
    playwright = sync_playwright().start()
    try:
        try:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=ARGS
            )
        except PlaywrightError as exc:
            pytest.skip(f"{SKIP} (Chromium did not start: {exc})")
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


def _no_javascript(name: str) -> Callable[..., NoReturn]:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(f"page.{name} runs JavaScript; the reporter pages must work without")

    return refuse


@pytest.fixture
def new_page(browser: Browser, monkeypatch: pytest.MonkeyPatch) -> Iterator[NewPage]:
    """Open a page in a fresh context (own cookies) with JavaScript disabled; all closed after."""
    contexts: list[BrowserContext] = []

    def open_page(*, viewport: ViewportSize | None = None) -> Page:
        context = browser.new_context(
            java_script_enabled=False, locale="en-US", viewport=viewport or DESKTOP
        )
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        for name in SCRIPTING:
            monkeypatch.setattr(page, name, _no_javascript(name))
        return page

    try:
        yield open_page
    finally:
        for context in reversed(contexts):
            for page in context.pages:
                page.close()
            context.close()
