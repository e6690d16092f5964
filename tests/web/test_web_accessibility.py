"""axe-core on every page of the web service, in headless Chromium on the real app under uvicorn:
no serious or critical violation, at a desktop width and again at 360 pixels wide (a small
phone, where tables scroll and the navigation folds; colour contrast, the slowest rule, only
at the desktop width: the colours are the same).

Every page is checked as its reader sees it: the public pages and every error page; every
question of "raise a challenge" empty and again with its GOV.UK error summary (answered blank,
or wrongly where blank is a valid answer); check your answers and the confirmation; the list of
challenges (with challenges in several states) for each kind of reader; one challenge's page
for the raiser, the responder (signed in fully, and from an email link) and the partnership;
every event's form, shown and then sent blank so that its errors show, each on a challenge in a
state that allows it; a form whose event is not possible now; the dashboard and signing out.
The chronology's files are downloads, not pages.

Every page's violations are collected before the test fails, so one run names them all; a
page with a problem is screenshotted into ESCALATION_SCREENSHOTS as `a11y-<page>.png` (or
`a11y-<page>-360.png`), as are a few pages at both widths.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import Engine, select

from escalation.casework import store
from escalation.casework.intake import Resolution
from escalation.casework.models import Organisation
from escalation.rules.states import Event
from escalation.web.context import Web
from tests.browser_support import (
    LiveServer,
    axe_violations,
    chromium_browser,
    describe,
    live_port,
    screenshots_dir,
    signed_in_context,
    with_axe,
)
from tests.conftest import raise_request
from tests.web_support import (
    DEVON_PARTNERSHIP_EMAIL,
    SCHOOL_DSL_EMAIL,
    SERVICE_MANAGER_EMAIL,
    SOCIAL_WORKER_EMAIL,
    web_app,
)

__all__ = ["chromium_browser"]  # the module's browser fixture

pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)

WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 360, "height": 740}
WAIT_MS = 15_000
ALL_RULES: dict[str, Any] = {}
# At 360 pixels the colours are the same: contrast, the slowest check, is the wide pass's.
SAME_COLOURS = {"rules": {"color-contrast": {"enabled": False}}}
SCREENSHOTS = frozenset(
    {"challenges-raiser", "challenge-raiser-responded", "raise-need-errors", "event-extend-errors"}
)
DSL = "Dana Lead (Ashcombe Primary School)"
RESOLUTION = Resolution("decision_changed", "Assessment opened", "Seen weekly by a social worker")

# Blank every answer on the page: text boxes emptied, radios unticked, selects at their first
# option (the CSRF field is hidden, so it stays).
BLANK_FORM = """() => {
  for (const box of document.querySelectorAll(
      "main input:not([type=hidden]):not([type=radio]):not([type=checkbox]), main textarea")) {
    box.value = "";
  }
  for (const choice of document.querySelectorAll("main input[type=radio]")) {
    choice.checked = false;
  }
  for (const list of document.querySelectorAll("main select")) { list.selectedIndex = 0; }
}"""


@dataclass
class Audit:
    """Runs axe on pages and keeps every serious or critical violation, by page."""

    problems: dict[str, str] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)

    def check(self, page: Page, name: str) -> None:
        """At a desktop width and at 360 pixels. A page with a problem is screenshotted at that
        width (as are the few in SCREENSHOTS, to see how the pages fold on a phone); the
        journey's test screenshots the main pages."""
        assert name not in self.pages, f"{name} checked twice"
        self.pages.append(name)
        for size, suffix, rules in ((WIDE, "", ALL_RULES), (NARROW, "-360", SAME_COLOURS)):
            page.set_viewport_size(size)
            found = axe_violations(page, rules)
            if found:
                self.problems[f"{name}{suffix} ({page.url})"] = describe(found)
            if found or name in SCREENSHOTS:
                path = screenshots_dir() / f"a11y-{name}{suffix}.png"
                page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size(WIDE)

    def assert_clean(self) -> None:
        report = "\n".join(f"{name}:\n{text}" for name, text in self.problems.items())
        assert not self.problems, f"axe found problems on {len(self.problems)} page(s):\n{report}"


@dataclass
class Site:
    web: Web
    server: LiveServer
    browser: Browser
    audit: Audit
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def person(self, email: str | None, scope_reference: str | None = None) -> Page:
        """A page in a browser of its own: signed in as `email`, or nobody."""
        if email is None:
            context = self.browser.new_context()
        else:
            context = signed_in_context(self.browser, self.web, self.url, email, scope_reference)
        with_axe(context)
        context.set_default_timeout(WAIT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.set_viewport_size(WIDE)
        return page

    def visit(self, page: Page, path: str, name: str, heading: str | None = None) -> None:
        page.goto(f"{self.url}{path}")
        if heading is not None:
            expect(page.locator("h1")).to_contain_text(heading)
        self.audit.check(page, name)


@pytest.fixture
def site(engine: Engine, chromium_browser: Browser) -> Iterator[Site]:
    port = live_port()
    web, app = web_app(engine, base_url=f"http://127.0.0.1:{port}")
    with LiveServer(app, port) as server:
        found = Site(web, server, chromium_browser, Audit())
        try:
            yield found
        finally:
            for context in found.contexts:
                context.close()


def _raise(web: Web, days_ago: int = 0, **overrides: Any) -> str:
    raised = web.now() - timedelta(days=days_ago)
    decided = (raised - timedelta(days=7)).date().isoformat()
    return web.service.raise_challenge(raise_request(decision_date=decided, **overrides), raised)


# -- public pages, signing in, and errors ---------------------------------------------------


def test_it_has_no_serious_accessibility_problems_on_the_public_and_error_pages(
    site: Site,
) -> None:
    web = site.web
    reference = _raise(web)
    with web.sessions.begin() as session:
        links = web.links(session)
        org = session.scalar(
            select(Organisation.id).where(Organisation.name == "Devon SCP Business Unit")
        )
        assert org is not None
        sign_in = links.sign_in_url(DEVON_PARTNERSHIP_EMAIL, org, web.now())
        challenge = links.challenge_url(reference, SOCIAL_WORKER_EMAIL, web.now(), "a11y")

    nobody = site.person(None)
    site.visit(nobody, "/", "start")
    site.visit(nobody, "/accessibility", "accessibility-statement", "Accessibility")
    site.visit(nobody, "/api", "api-guide", "API for partner systems")
    site.visit(nobody, "/sign-in", "sign-in", "What is your work email address?")
    nobody.get_by_role("button", name="Send me a sign-in link").click()
    expect(nobody.locator(".govuk-error-summary")).to_be_visible()
    site.audit.check(nobody, "sign-in-error")
    nobody.get_by_label("What is your work email address?").fill("nobody@example.org")
    nobody.get_by_role("button", name="Send me a sign-in link").click()
    expect(nobody.locator("h1")).to_have_text("Check your email")
    site.audit.check(nobody, "sign-in-check-your-email")
    site.visit(nobody, sign_in.removeprefix(site.url), "sign-in-link-confirmation", "Sign in")
    site.visit(
        nobody, challenge.removeprefix(site.url), "email-link-confirmation", "Open challenge"
    )
    site.visit(nobody, "/sign-in/forged-token", "link-refused", "This link cannot be used")
    site.visit(nobody, "/challenges", "sign-in-needed", "Sign in to see this page")
    # A form sent without its CSRF token (as from another site, or a page open too long).
    site.visit(nobody, "/sign-in", "sign-in-again")
    nobody.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    nobody.get_by_label("What is your work email address?").fill(SCHOOL_DSL_EMAIL)
    nobody.get_by_role("button", name="Send me a sign-in link").click()
    expect(nobody.locator("h1")).to_have_text("Your form could not be sent")
    site.audit.check(nobody, "form-refused")
    signed_in = site.person(SCHOOL_DSL_EMAIL)
    site.visit(signed_in, "/challenges/DSCP-2099-99999", "not-found", "Page not found")
    site.audit.assert_clean()


def test_it_shows_its_own_accessible_page_for_an_address_it_does_not_have(site: Site) -> None:
    nobody = site.person(None)
    for path, name in (("/no-such-page", "not-found-address"), ("/sign-out", "wrong-method")):
        shown = nobody.goto(f"{site.url}{path}")  # /sign-out: a GET of a form's POST
        assert shown is not None and shown.status in (404, 405)
        assert shown.headers["content-type"].startswith("text/html"), shown.headers
        expect(nobody.locator("h1")).to_have_text("Page not found")
        site.audit.check(nobody, name)
    site.audit.assert_clean()


# -- raising a challenge ----------------------------------------------------------------------


def _answers(web: Web) -> dict[str, dict[str, str]]:
    """The question pages in order, each with good answers by field name."""
    with web.sessions() as session:
        front_door = session.scalar(
            select(Organisation.id).where(Organisation.name == "Devon Front Door")
        )
    return {
        "partnership": {"partnership": "devon"},
        "organisation": {"responding-org": str(front_door)},
        "responder": {"responder-name": "Alex Social Worker"},
        "child": {"child-ref": "CHILD-A11Y-1", "child-initials": "AB"},
        "category": {"category": "threshold"},
        "decision": {"decision": "Referral judged below threshold"},
        "need": {"need-raiser-view": "4", "need-decision": "2"},
        "concern": {"concern": "Attendance falling"},
        "outcome": {"desired-outcome": "A social work assessment"},
        "voice": {"voice-of-child": "The child says home is frightening"},
        "urgency": {"urgent": "no"},
        "level": {"start-level": "1"},
    }


# Wrong answers for the pages where blank is a valid answer.
WRONG = {"responder": {"responder-email": "not an email address"}}


def _fill(page: Page, answers: dict[str, str]) -> None:
    for name, value in answers.items():
        inputs = page.locator(f'[name="{name}"]')
        kind = inputs.first.evaluate("input => input.tagName + ':' + (input.type || '')")
        if kind == "INPUT:radio":
            page.locator(f'[name="{name}"][value="{value}"]').check()
        elif kind.startswith("SELECT"):
            inputs.select_option(value)
        else:
            inputs.fill(value)


def test_it_has_no_serious_accessibility_problems_on_the_raise_pages(site: Site) -> None:
    page = site.person(SCHOOL_DSL_EMAIL)
    site.visit(page, "/raise", "raise-start", "Raise a challenge")
    page.get_by_role("button", name="Start now").click()
    for slug, answers in _answers(site.web).items():
        expect(page).to_have_url(f"{site.url}/raise/{slug}")
        site.audit.check(page, f"raise-{slug}")
        page.evaluate(BLANK_FORM)
        _fill(page, WRONG.get(slug, {}))
        page.get_by_role("button", name="Continue").click()
        expect(page.locator(".govuk-error-summary")).to_be_visible()
        assert page.title().startswith("Error: "), page.title()
        site.audit.check(page, f"raise-{slug}-errors")
        page.evaluate(BLANK_FORM)
        _fill(page, answers)
        page.get_by_role("button", name="Continue").click()
        expect(page.locator(".govuk-error-summary")).to_have_count(0)
        if slug == "partnership":  # half raised: the start page offers to carry on
            site.visit(page, "/raise", "raise-start-to-carry-on", "Raise a challenge")
            page.get_by_role("link", name="Continue the challenge you started").click()
    expect(page.locator("h1")).to_have_text("Check your answers before raising the challenge")
    site.audit.check(page, "raise-check-answers")
    page.get_by_role("button", name="Raise the challenge").click()
    expect(page.locator(".govuk-panel__title")).to_have_text("Challenge raised")
    site.audit.check(page, "raise-confirmation")
    site.audit.assert_clean()


# -- challenges and their events -------------------------------------------------------------


@dataclass(frozen=True)
class States:
    """Challenges in the states the event forms need, raised by Ashcombe of Devon Front Door."""

    awaiting: str  # level 1, awaiting a response
    responded: str
    paused: str
    outcome_check: str
    not_improved: str  # the raiser said the child's situation has not improved
    withdrawn: str


def _states(web: Web) -> States:
    service = web.service
    awaiting = _raise(web)
    _raise(web, days_ago=14, child_ref="CHILD-LATE")  # overdue
    _raise(web, urgent=True, child_ref="CHILD-URGENT")
    responded = _raise(web)
    service.respond(responded, "Alex Social Worker", "upheld", "Below threshold", [], web.now())
    paused = _raise(web)
    service.pause(paused, DSL, "Alex Social Worker", "Awaiting a strategy discussion", web.now())
    outcome_check = _raise(web)
    service.resolve(outcome_check, "Jo Service Manager", RESOLUTION, web.now())
    _ask_outcome(web, outcome_check)
    not_improved = _raise(web)
    service.resolve(not_improved, "Jo Service Manager", RESOLUTION, web.now())
    _ask_outcome(web, not_improved)
    service.answer_outcome(not_improved, DSL, False, "No visits yet", web.now())
    withdrawn = _raise(web)
    service.withdraw(withdrawn, DSL, "Resolved by a phone call", web.now())
    return States(awaiting, responded, paused, outcome_check, not_improved, withdrawn)


def _ask_outcome(web: Web, reference: str) -> None:
    """What the sweep does 20 working days after resolution."""
    with web.sessions.begin() as session:
        challenge = store.load_challenge(session, reference)
        web.service.transition(session, challenge, Event.REQUEST_OUTCOME, web.now(), {}, "Due")


# (reader, event, challenge state, whether a blank form is refused with errors)
EVENT_FORMS = (
    ("responder", "acknowledge", "awaiting", False),
    ("responder", "respond", "awaiting", True),
    ("raiser", "accept", "responded", True),
    ("raiser", "escalate", "responded", True),
    ("raiser", "pause", "awaiting", True),
    ("raiser", "resume", "paused", False),
    ("responder", "extend", "awaiting", True),
    ("raiser", "withdraw", "awaiting", True),
    ("senior manager", "resolve", "awaiting", True),
    ("raiser", "outcome", "outcome_check", True),
    ("raiser", "reopen", "not_improved", True),
    ("partnership", "close", "not_improved", True),
)


def test_it_has_no_serious_accessibility_problems_on_the_challenge_pages(site: Site) -> None:
    states = _states(site.web)
    readers = {
        "raiser": site.person(SCHOOL_DSL_EMAIL),
        "responder": site.person(SOCIAL_WORKER_EMAIL),
        "senior manager": site.person(SERVICE_MANAGER_EMAIL),
        "partnership": site.person(DEVON_PARTNERSHIP_EMAIL),
    }
    for reader, page in readers.items():
        slug = reader.replace(" ", "-")
        site.visit(page, "/challenges", f"challenges-{slug}", "Challenges")
    from_link = site.person(SOCIAL_WORKER_EMAIL, scope_reference=states.awaiting)
    site.visit(from_link, "/challenges", "challenges-from-email-link", "Challenges")
    site.visit(from_link, f"/challenges/{states.awaiting}", "challenge-from-email-link")

    for reader, reference, name in (
        ("raiser", states.responded, "challenge-raiser-responded"),
        ("raiser", states.not_improved, "challenge-raiser-not-improved"),
        ("responder", states.awaiting, "challenge-responder"),
        ("partnership", states.withdrawn, "challenge-partnership-withdrawn"),
        ("partnership", states.paused, "challenge-partnership-paused"),
    ):
        site.visit(readers[reader], f"/challenges/{reference}", name, f"Challenge {reference}")

    for reader, event, state, refuses_blank in EVENT_FORMS:
        page = readers[reader]
        reference = getattr(states, state)
        site.visit(page, f"/challenges/{reference}/{event}", f"event-{event}")
        expect(page.locator("form[method=post] .govuk-button")).to_have_count(1)
        if refuses_blank:
            page.evaluate(BLANK_FORM)
            page.locator("main form[method=post] .govuk-button").click()
            expect(page.locator(".govuk-error-summary")).to_be_visible()
            site.audit.check(page, f"event-{event}-errors")

    raiser = readers["raiser"]
    # A form whose event the state no longer allows, and one this reader may never use.
    site.visit(raiser, f"/challenges/{states.withdrawn}/escalate", "event-not-possible-now")
    expect(raiser.locator("main form[method=post]")).to_have_count(0)
    site.visit(
        raiser, f"/challenges/{states.awaiting}/respond", "event-forbidden", "You cannot do that"
    )
    # Recorded: the challenge page with its success banner.
    responder = readers["responder"]
    responder.goto(f"{site.url}/challenges/{states.awaiting}/acknowledge")
    responder.get_by_role("button", name="Acknowledge receipt").click()
    expect(responder.locator(".govuk-notification-banner")).to_be_visible()
    site.audit.check(responder, "challenge-event-recorded")
    site.audit.assert_clean()


# -- the dashboard, and signing out ---------------------------------------------------------


def test_it_has_no_serious_accessibility_problems_on_the_dashboard_and_signing_out(
    site: Site,
) -> None:
    _states(site.web)
    page = site.person(DEVON_PARTNERSHIP_EMAIL)
    site.visit(page, "/dashboard", "dashboard", "Partnership dashboard")
    site.visit(page, "/dashboard?period=not-a-period", "dashboard-period-error")
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    site.visit(page, "/dashboard/open-challenges", "dashboard-open-challenges", "Open challenges")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("h1")).to_have_text("You have signed out")
    site.audit.check(page, "signed-out")
    site.audit.assert_clean()
