"""Browser tests' tools: the real app under uvicorn, headless Chromium driven by Playwright,
axe-core's accessibility check and saved screenshots.

Chromium is Debian's (`/usr/bin/chromium`, package chromium); Playwright's own browser download
is never used. Without the browser the tests are skipped on a developer's machine and FAIL
under CI. axe-core comes from the npm registry (`npm ci`, node_modules/axe-core).

Screenshots go to ESCALATION_SCREENSHOTS (default `web-screenshots/` in the working directory).

Every wait is bounded and names what it waited for: the browser's launch (LAUNCH_MS), every
action, navigation and `expect` in a context the module's browser opens (WAIT_MS; Playwright's
own defaults are 30 s and 5 s), axe-core's run (AXE_MS: `page.evaluate` has no timeout of its
own), uvicorn's start and stop (SERVER_SECONDS).
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
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from escalation import resources
from escalation.web.auth import SESSION_COOKIE
from escalation.web.context import Web
from tests.smtp_sink import free_port
from tests.web_support import session_token

AXE = resources.package_root() / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
WAIT_MS = 15_000  # any action, navigation or expectation (pages take well under a second)
LAUNCH_MS = 60_000
AXE_MS = 60_000  # one axe-core run over a page (about a second; far more on a busy machine)
SERVER_SECONDS = 20
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
        deadline = time.monotonic() + SERVER_SECONDS
        while not self.server.started:
            if not self.thread.is_alive():
                pytest.fail(f"uvicorn stopped while starting on {self.url} (see its log above)")
            if time.monotonic() > deadline:
                self.server.should_exit = True
                pytest.fail(f"uvicorn did not start on {self.url} within {SERVER_SECONDS} s")
            time.sleep(0.05)
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=SERVER_SECONDS)
        if self.thread.is_alive() and exc_type is None:  # else keep the test's own failure
            pytest.fail(f"uvicorn on {self.url} did not stop within {SERVER_SECONDS} s")


def live_port() -> int:
    """Pick the port first: the app's base URL (its email links) must name it."""
    return free_port()


def bounded(context: Any) -> Any:
    """A browser context whose every action and navigation waits at most WAIT_MS."""
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    return context


class BoundedBrowser:
    """Chromium, whose every context (`new_context`, `new_page`) is `bounded`."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser

    def new_context(self, **options: Any) -> Any:
        return bounded(self.browser.new_context(**options))

    def new_page(self, **options: Any) -> Any:
        return self.new_context(**options).new_page()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.browser, name)


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    """One headless Chromium for a test module; each test opens its own contexts (browsers
    with their own cookies: one per person in a journey), all `bounded`."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_FLAGS, timeout=LAUNCH_MS
            )
        except PlaywrightTimeoutError as exc:
            pytest.fail(f"{executable} did not start within {LAUNCH_MS // 1000} s: {exc}")
        yield BoundedBrowser(browser)
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
    # Started here and awaited with wait_for_function, which has a timeout (evaluate has none).
    page.evaluate(AXE_RUN, options or {})
    try:
        done = page.wait_for_function("() => window.__axeResult", polling=100, timeout=AXE_MS)
    except PlaywrightTimeoutError:
        pytest.fail(f"axe-core's check of {page.url} did not finish within {AXE_MS // 1000} s")
    result: dict[str, Any] = done.json_value()
    if "error" in result:
        raise PlaywrightError(f"axe-core failed on {page.url}: {result['error']}")
    return [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]


AXE_RUN = """options => {
  window.__axeResult = undefined;
  axe.run(document, {...options, resultTypes: ['violations']}).then(
    result => { window.__axeResult = {violations: result.violations}; },
    error => { window.__axeResult = {error: String(error)}; },
  );
}"""


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
    context = bounded(browser.new_context())
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
    context = bounded(browser.new_context())
    context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
    return context
