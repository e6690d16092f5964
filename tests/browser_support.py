"""Browser tests' tools: the real app under uvicorn, headless Chromium driven by Playwright,
axe-core's accessibility check and saved screenshots.

Chromium is Debian's (`/usr/bin/chromium`, package chromium); Playwright's own browser download
is never used. Without the browser the tests are skipped on a developer's machine and FAIL
under CI. axe-core comes from the npm registry (`npm ci`, node_modules/axe-core).

Screenshots go to ESCALATION_SCREENSHOTS (default `web-screenshots/` in the working directory).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from escalation import resources
from escalation.web.auth import SESSION_COOKIE
from escalation.web.context import Web
from tests.smtp_sink import free_port
from tests.web_support import session_token

AXE = resources.package_root() / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # this machine's network is closed: no phoning home
    "--disable-component-update",
    "--disable-sync",
]


def screenshots_dir() -> Path:
    folder = Path(os.environ.get("ESCALATION_SCREENSHOTS", "web-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "chromium is not installed (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


class LiveServer:
    """The app served by uvicorn in a thread on 127.0.0.1:<port>."""

    def __init__(self, app: FastAPI, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def live_port() -> int:
    """Pick the port first: the app's base URL (its email links) must name it."""
    return free_port()


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    """One headless Chromium for a test module; each test opens its own contexts (browsers
    with their own cookies: one per person in a journey)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


def axe_script() -> Path:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` (axe-core is in package.json)")
    return AXE


def with_axe(context: Any) -> Any:
    """Load axe-core into every page the context opens, as the page starts (quicker than
    adding it to each page afterwards, when many pages are checked)."""
    context.add_init_script(path=str(axe_script()))
    return context


def axe_violations(page: Any, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page as it is now; `options` are
    axe.run's (e.g. `{"rules": {"color-contrast": {"enabled": False}}}`)."""
    if not page.evaluate("typeof window.axe === 'object'"):  # not put there by `with_axe`
        page.add_script_tag(path=str(axe_script()))
    result: dict[str, Any] = page.evaluate(
        "async options => await axe.run(document, {...options, resultTypes: ['violations']})",
        options or {},
    )
    return [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['impact']}: {v['id']} – {v['help']} ({len(v['nodes'])} element(s), e.g. "
        f"{v['nodes'][0]['target'] if v['nodes'] else ''})"
        for v in violations
    )


def check_page(page: Any, name: str) -> None:
    """Save a screenshot of the page and fail on any serious or critical axe violation."""
    page.screenshot(path=str(screenshots_dir() / f"{name}.png"), full_page=True)
    found = axe_violations(page)
    assert not found, f"{name} ({page.url}):\n{describe(found)}"


def check_page_without_javascript(browser: Any, page: Any, name: str) -> None:
    """`check_page` for a page open in a context with JavaScript switched off, where axe-core
    cannot run (its timers never fire): the screenshot is of that page; axe checks a copy of
    its HTML as it stands (its scripts removed, so nothing changes it), served at the same
    address to a fresh context with JavaScript on, so that it loads the same styles."""
    page.screenshot(path=str(screenshots_dir() / f"{name}.png"), full_page=True)
    html = re.sub(r"<script\b[^>]*>.*?</script>", "", page.content(), flags=re.DOTALL)
    address = page.url
    context = browser.new_context()
    try:
        copy = context.new_page()
        copy.route(
            lambda url: url == address,
            lambda route: route.fulfill(
                status=200, content_type="text/html; charset=utf-8", body=html
            ),
        )
        copy.goto(address)
        found = axe_violations(copy)
    finally:
        context.close()
    assert not found, f"{name} ({address}, without JavaScript):\n{describe(found)}"


def signed_in_context(
    browser: Any, web: Web, url: str, email: str, scope_reference: str | None = None
) -> Any:
    """A browser context (its own cookies) signed in as the directory contact with `email`,
    without the email round trip (`web_support.session_token`)."""
    token = session_token(web, email, scope_reference)
    context = browser.new_context()
    context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
    return context
