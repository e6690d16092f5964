"""The whole journey in a real browser: headless Chromium (Playwright) on the real app served by
uvicorn, with every email really delivered over SMTP (the dispatcher and the SMTP mailer, to an
aiosmtpd server on 127.0.0.1) and every link read out of the messages received.

Each person has a browser of their own (a Playwright context: their own cookies):
- the school's DSL asks for a sign-in link, opens it from the email, presses Continue, raises a
  challenge through the question pages and sees its reference;
- the Front Door social worker opens the link in their "raised" email, presses Continue, lands
  on that challenge only, acknowledges it and responds (decision upheld);
- the DSL escalates it to level 2, with a reason;
- the Front Door's service manager (a senior manager) signs in from the sign-in email, in a
  browser with JavaScript switched off, and records the resolution with the child-impact answer;
- the partnership's business unit signs in and its dashboard shows the challenge resolved at
  level 2 and not open.

Every main page is screenshotted into ESCALATION_SCREENSHOTS (`journey-*.png`) and checked by
axe-core (no serious or critical violation).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import Engine, select

from escalation.casework.models import Challenge, ChronologyEntry
from escalation.mail.dispatch import dispatch_once
from escalation.mail.smtp import SmtpMailer, parse_smtp_url
from escalation.web.context import Web
from tests.browser_support import (
    LiveServer,
    check_page,
    check_page_without_javascript,
    chromium_browser,
    live_port,
)
from tests.smtp_sink import SmtpSink
from tests.web_support import (
    DEVON_PARTNERSHIP_EMAIL,
    SCHOOL_DSL_EMAIL,
    SERVICE_MANAGER_EMAIL,
    SOCIAL_WORKER_EMAIL,
    web_app,
)

__all__ = ["chromium_browser"]  # the module's browser fixture

SENDER = "no-reply@example.org"
WAIT_MS = 15_000  # the longest any page may take to appear (they take well under a second)
LIFE_IMPROVEMENT = "A social worker visits weekly; school sees attendance back above 90%"
STATEMENT = "Assessment allocated; the school joins the core group"
ESCALATION_REASON = "The response does not address the disclosures made at school"
RESPONSE = "The referral was below threshold on the information then held"


class Mail:
    """The SMTP server's messages, and the dispatcher that sends the outbox to it."""

    def __init__(self, web: Web, sink: SmtpSink, port: int) -> None:
        self.web = web
        self.sink = sink
        self.mailer = SmtpMailer(parse_smtp_url(f"smtp://127.0.0.1:{port}?timeout=5"), SENDER)
        self.read = 0  # how many of the messages `deliver` has already returned

    def deliver(self) -> list[EmailMessage]:
        """Send everything queued; every message must arrive. Returns the ones that did.

        The dispatcher runs in a thread of its own, as the worker does in a process of its own
        (the SMTP mailer runs an event loop, and Playwright's is running in this thread)."""
        now = self.web.now()
        outcome: list[Any] = []  # its result, or what it raised

        def dispatch() -> None:
            try:
                outcome.append(dispatch_once(self.web.service, self.mailer, now))
            except BaseException as exc:  # raised below, in the test's thread
                outcome.append(exc)

        # A daemon thread, not an executor: a hung dispatch must not hold up the run's exit.
        dispatcher = threading.Thread(target=dispatch, daemon=True)
        dispatcher.start()
        dispatcher.join(timeout=60)
        if dispatcher.is_alive():
            pytest.fail("dispatch_once to the SMTP sink did not finish within 60 s")
        [result] = outcome
        if isinstance(result, BaseException):
            raise result
        assert (result.retrying, result.failed) == (0, 0), result
        received = self.sink.messages
        new, self.read = received[self.read :], len(received)
        assert len(new) == result.sent, (len(new), result)
        return new

    def links(self, messages: list[EmailMessage], to: str, path: str) -> list[str]:
        """The links to `path…` in the plain-text part of the messages addressed to `to`."""
        found = []
        for message in messages:
            if to not in str(message["To"]):
                continue
            part = message.get_body(preferencelist=("plain",))
            assert isinstance(part, EmailMessage), "an email without a text part"
            text = part.get_content()
            found += [url for url in re.findall(r"https?://\S+", text) if path in url]
        return found


def _link(links: list[str], server: LiveServer) -> str:
    assert len(links) == 1, links
    [url] = links
    assert url.startswith(f"{server.url}/"), (url, server.url)  # ESCALATION_BASE_URL's
    return url


def _heading(page: Page) -> Locator:
    return page.locator("h1")


def _summary_value(page: Page, key: str) -> Locator:
    """The value of a GOV.UK summary list row, by its key."""
    row = page.locator(".govuk-summary-list__row").filter(
        has=page.locator(
            ".govuk-summary-list__key", has_text=re.compile(f"^\\s*{re.escape(key)}\\s*$")
        )
    )
    return row.first.locator(".govuk-summary-list__value")


def _table_after(page: Page, heading_id: str) -> Locator:
    """The body rows of the first table after the heading with `heading_id`."""
    table = page.locator(f"#{heading_id}").locator("xpath=following::table[1]")
    return table.locator("tbody tr")


def _chronology(page: Page) -> list[str]:
    """The chronology table's rows as text, oldest first."""
    table = page.get_by_role("region", name="Chronology").locator("tbody tr")
    return [" ".join(text.split()) for text in table.all_inner_texts()]


def _sign_in(
    page: Page, mail: Mail, server: LiveServer, email: str, screenshots: bool = False
) -> None:
    """The sign-in round trip: ask on /sign-in, open the emailed link, press Continue."""
    page.goto(f"{server.url}/sign-in")
    expect(_heading(page)).to_have_text("What is your work email address?")
    page.get_by_label("What is your work email address?").fill(email)
    if screenshots:
        check_page(page, "journey-01-sign-in")
    page.get_by_role("button", name="Send me a sign-in link").click()
    expect(_heading(page)).to_have_text("Check your email")
    expect(page.locator("main")).to_contain_text(f"If {email} is in the partnership's directory")
    if screenshots:
        check_page(page, "journey-02-check-your-email")
    url = _link(mail.links(mail.deliver(), email, "/sign-in/"), server)
    page.goto(url)
    expect(_heading(page)).to_have_text("Sign in")
    expect(page.locator("main")).to_contain_text(f"This link signs you in as {email}.")
    if screenshots:
        check_page(page, "journey-03-link-confirmation")
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(f"{server.url}/challenges")
    expect(_heading(page)).to_have_text("Challenges")
    expect(page.get_by_role("button", name=re.compile("^Sign out"))).to_be_visible()


def _raise(page: Page, server: LiveServer) -> str:
    """Raise a challenge through the question pages; returns its reference."""
    page.get_by_role("link", name="Raise a challenge").click()
    expect(_heading(page)).to_have_text("Raise a challenge")
    check_page(page, "journey-05-raise-start")
    page.get_by_role("button", name="Start now").click()

    expect(_heading(page)).to_have_text("Where does the child live?")
    page.get_by_label("Devon", exact=False).first.check()
    _continue(page)
    expect(_heading(page)).to_have_text("Which organisation made the decision you are challenging?")
    page.get_by_label("Which organisation made the decision").select_option(
        label="Devon Front Door (Devon)"
    )
    check_page(page, "journey-06-raise-question")
    _continue(page)
    expect(_heading(page)).to_have_text("Who made the decision?")
    page.get_by_label("Team (optional)").fill("Front Door (MASH)")
    page.get_by_label("Name of the person who made the decision").fill("Alex Social Worker")
    page.get_by_label("Their work email address").fill(SOCIAL_WORKER_EMAIL)
    _continue(page)
    expect(_heading(page)).to_have_text("About the child")
    page.get_by_label("The child's reference").fill("CHILD-JOURNEY-42")
    page.get_by_label("The child's initials").fill("JB")
    page.get_by_label("The child's year of birth").fill("2016")
    page.get_by_label("How many of the child's brothers or sisters").fill("1")
    _continue(page)
    expect(_heading(page)).to_have_text("What is the disagreement about?")
    page.get_by_label("Risk, threshold or level of need").check()
    _continue(page)
    expect(_heading(page)).to_have_text("The decision you are challenging")
    page.get_by_label("What was decided?").fill("Referral judged below threshold")
    page.get_by_label("Day").fill("20")
    page.get_by_label("Month").fill("11")
    page.get_by_label("Year").fill("2026")
    page.get_by_label("The decision's reference").fill("CONTACT-5521")
    _continue(page)
    expect(_heading(page)).to_have_text("Levels of need")
    page.get_by_role("group", name="In your view").get_by_label("4 Specialist").check()
    page.get_by_role("group", name="What level of need did").get_by_label("2 Early Help").check()
    _continue(page)
    expect(_heading(page)).to_have_text("Your concern")
    page.get_by_label("Summary of your concern").fill("Attendance falling; disclosures at school")
    _continue(page)
    expect(_heading(page)).to_have_text("What do you want to happen?")
    page.get_by_label("What do you want to happen?").fill("A social work assessment")
    _continue(page)
    expect(_heading(page)).to_have_text(
        "How do the child's views and experience inform this challenge?"
    )
    page.get_by_label("How do the child's views").fill("The child says home is frightening")
    _continue(page)
    expect(_heading(page)).to_have_text("Is this challenge urgent?")
    page.get_by_label("No").check()
    _continue(page)
    expect(_heading(page)).to_have_text("Which level should the challenge start at?")
    expect(page.get_by_label("Level 1: Practitioner to practitioner")).to_be_checked()
    _continue(page)

    expect(_heading(page)).to_have_text("Check your answers before raising the challenge")
    expect(_summary_value(page, "Organisation that made the decision")).to_have_text(
        "Devon Front Door"
    )
    expect(_summary_value(page, "The child's reference")).to_have_text("CHILD-JOURNEY-42")
    expect(_summary_value(page, "Level to start at")).to_have_text(
        "Level 1: Practitioner to practitioner"
    )
    check_page(page, "journey-07-check-answers")
    page.get_by_role("button", name="Raise the challenge").click()

    expect(page.locator(".govuk-panel__title")).to_have_text("Challenge raised")
    panel = page.locator(".govuk-panel__body").inner_text()
    found = re.fullmatch(r"Your reference\s+(DSCP-\d{4}-\d{5})", panel.strip())
    assert found is not None, panel
    reference = found.group(1)
    expect(page).to_have_url(f"{server.url}/raise/done/{reference}")
    expect(page.locator("main")).to_contain_text(
        "The challenge is at level 1, practitioner to practitioner."
    )
    expect(page.locator("main")).to_contain_text("We have emailed Alex Social Worker")
    check_page(page, "journey-08-confirmation")
    return reference


def _continue(page: Page) -> None:
    page.get_by_role("button", name="Continue").click()


def _open_challenge(page: Page, server: LiveServer, reference: str) -> None:
    page.goto(f"{server.url}/challenges/{reference}")
    expect(_heading(page)).to_have_text(f"Challenge {reference}")


def _press(page: Page, action: str, title: str, reference: str) -> None:
    """From the challenge page, open the form of `action`."""
    page.locator(".govuk-button-group").get_by_role("button", name=action, exact=True).click()
    expect(_heading(page)).to_have_text(title)
    expect(page.locator(".govuk-caption-l")).to_contain_text(f"Challenge {reference}")


def _done(page: Page, server: LiveServer, reference: str, event: str, banner: str) -> None:
    expect(page).to_have_url(f"{server.url}/challenges/{reference}?done={event}")
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(banner)


@contextmanager
def _person(browser: Browser, javascript: bool = True) -> Iterator[Page]:
    """A browser of one's own: a context (its own cookies) and a page."""
    context = browser.new_context(java_script_enabled=javascript)
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def _database(web: Web, reference: str) -> tuple[Challenge, list[ChronologyEntry]]:
    with web.sessions() as session:
        challenge = session.scalars(select(Challenge).where(Challenge.reference == reference)).one()
        entries = session.scalars(
            select(ChronologyEntry)
            .where(ChronologyEntry.challenge_id == challenge.id)
            .order_by(ChronologyEntry.id)
        ).all()
        session.expunge_all()
        return challenge, list(entries)


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_it_takes_a_challenge_from_sign_in_to_resolution_in_a_browser_with_real_emails(
    engine: Engine, chromium_browser: Browser, smtp_server: Any
) -> None:
    port = live_port()
    web, app = web_app(engine, base_url=f"http://127.0.0.1:{port}")
    sink = SmtpSink()
    mail = Mail(web, sink, smtp_server(sink))
    with LiveServer(app, port) as server:
        with _person(chromium_browser) as dsl:
            reference = _school_raises(dsl, mail, server)
            _responder_answers(chromium_browser, mail, server, reference)
            _school_escalates(dsl, mail, server, reference)
        _senior_manager_resolves(chromium_browser, mail, server, reference)
        _partnership_sees_it_resolved(chromium_browser, mail, server, reference)

    challenge, entries = _database(web, reference)
    assert challenge.state == "resolved"
    assert (challenge.resolved_level, challenge.level) == (2, 2)
    assert challenge.outcome == "decision_upheld"
    assert challenge.life_improvement == LIFE_IMPROVEMENT
    assert challenge.outcome_statement == STATEMENT
    assert challenge.recorded_on_both_files is True
    assert challenge.resolved_by.startswith("Jo Service Manager (Devon Front Door)")
    assert challenge.raiser_email == SCHOOL_DSL_EMAIL
    assert [(entry.who, entry.action.split(";")[0]) for entry in entries] == [
        ("Dana Lead", "Challenge raised"),
        (
            "Alex Social Worker (Devon Front Door)",
            "Acknowledged by Alex Social Worker (Devon Front Door)",
        ),
        ("Alex Social Worker (Devon Front Door)", "Response recorded: decision upheld"),
        ("Dana Lead (Ashcombe Primary School)", "Level 1 closed: escalated (raiser)"),
        ("Jo Service Manager (Devon Front Door)", "Resolved at level 2: decision upheld"),
    ]
    assert entries[3].concern == ESCALATION_REASON


# -- the steps ----------------------------------------------------------------------------------


def _school_raises(page: Page, mail: Mail, server: LiveServer) -> str:
    """a and b: the DSL signs in by email and raises a challenge."""
    page.goto(server.url)
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    _sign_in(page, mail, server, SCHOOL_DSL_EMAIL, screenshots=True)
    check_page(page, "journey-04-challenges-empty")
    reference = _raise(page, server)
    page.get_by_role("link", name="View the challenge").click()
    expect(_heading(page)).to_have_text(f"Challenge {reference}")
    expect(_summary_value(page, "Level")).to_have_text("1: Practitioner to practitioner")
    expect(_summary_value(page, "Status")).to_have_text("Waiting for a response")
    assert len(_chronology(page)) == 1
    return reference


def _responder_answers(browser: Browser, mail: Mail, server: LiveServer, reference: str) -> None:
    """c: the Front Door social worker answers from the link in the "raised" email."""
    raised = mail.deliver()
    assert all(reference in str(message["Subject"]) for message in raised)
    # Level 1 addresses the Front Door's practitioners, and the person named as the decider.
    front_door = {
        address
        for message in raised
        for _, address in getaddresses([str(message["To"])])
        if address.endswith("@devon.example.org")
    }
    assert front_door == {SOCIAL_WORKER_EMAIL}, front_door
    url = _link(mail.links(raised, SOCIAL_WORKER_EMAIL, "/l/"), server)
    with _person(browser) as page:
        page.goto(url)
        expect(_heading(page)).to_have_text(f"Open challenge {reference}")
        expect(page.locator("main")).to_contain_text(
            f"This link signs you in to challenge {reference} only, as {SOCIAL_WORKER_EMAIL}."
        )
        page.get_by_role("button", name="Continue").click()
        expect(page).to_have_url(f"{server.url}/challenges/{reference}")
        expect(_heading(page)).to_have_text(f"Challenge {reference}")
        # Signed in for this challenge only: no raising, and no other page.
        expect(page.get_by_role("link", name="Raise a challenge")).to_have_count(0)
        expect(page.locator("main")).to_contain_text("Acknowledge that you have received")
        check_page(page, "journey-09-challenge-responder")

        _press(page, "Acknowledge", "Acknowledge the challenge", reference)
        page.get_by_role("button", name="Acknowledge receipt").click()
        _done(page, server, reference, "acknowledge", "You have acknowledged the challenge.")
        expect(_summary_value(page, "Acknowledged")).to_contain_text("Alex Social Worker")
        assert len(_chronology(page)) == 2

        _press(page, "Respond", "Respond to the challenge", reference)
        page.get_by_role("button", name="Record the response").click()  # blank: the errors
        expect(page.locator(".govuk-error-summary")).to_contain_text(
            "Select whether the decision is changed, upheld or partly changed"
        )
        page.get_by_label("Decision upheld, with rationale").check()
        page.get_by_label("Your response and its rationale").fill(RESPONSE)
        check_page(page, "journey-10-respond-form")
        page.get_by_role("button", name="Record the response").click()
        _done(page, server, reference, "respond", "Your response has been recorded")
        expect(_summary_value(page, "Status")).to_have_text(
            "Response given: the raiser accepts or escalates"
        )
        expect(page.locator("main")).to_contain_text(RESPONSE)
        assert len(_chronology(page)) == 3

        page.goto(f"{server.url}/raise")  # the link gave this one challenge, nothing else
        expect(_heading(page)).to_have_text("You cannot do that")


def _school_escalates(page: Page, mail: Mail, server: LiveServer, reference: str) -> None:
    """d: the DSL, emailed that the response came, escalates to level 2."""
    told = mail.deliver()
    assert mail.links(told, SCHOOL_DSL_EMAIL, "/l/"), "the raiser was not emailed the response"
    page.get_by_role("link", name="Challenges", exact=True).click()
    expect(_heading(page)).to_have_text("Challenges")
    expect(page.locator("main")).to_contain_text(reference)
    check_page(page, "journey-11-challenges-list")
    page.get_by_role("link", name=reference).first.click()
    expect(_heading(page)).to_have_text(f"Challenge {reference}")
    expect(page.locator("main")).to_contain_text("Read the response below")
    expect(page.locator("main")).to_contain_text(RESPONSE)
    check_page(page, "journey-12-challenge-raiser")

    _press(page, "Escalate", "Escalate the challenge", reference)
    page.get_by_label("Level 2: Line managers and designated safeguarding leads").check()
    page.get_by_label("Why should the challenge rise?").fill(ESCALATION_REASON)
    check_page(page, "journey-13-escalate-form")
    page.get_by_role("button", name="Escalate", exact=True).click()
    _done(page, server, reference, "escalate", "The challenge has been escalated.")
    expect(_summary_value(page, "Level")).to_have_text(
        "2: Line managers and designated safeguarding leads"
    )
    expect(_summary_value(page, "Status")).to_have_text("Waiting for a response")
    chronology = _chronology(page)
    assert len(chronology) == 4 and ESCALATION_REASON in chronology[-1], chronology


def _senior_manager_resolves(
    browser: Browser, mail: Mail, server: LiveServer, reference: str
) -> None:
    """e: the Front Door's service manager signs in by email, with JavaScript off, and
    resolves the challenge."""
    mail.deliver()  # the escalation's emails
    with _person(browser, javascript=False) as page:
        _sign_in(page, mail, server, SERVICE_MANAGER_EMAIL)
        assert page.evaluate("document.body.className") == "govuk-template__body", "JavaScript ran"
        page.get_by_role("link", name=reference).first.click()
        expect(_heading(page)).to_have_text(f"Challenge {reference}")
        check_page_without_javascript(browser, page, "journey-14-challenge-senior-manager")
        _press(page, "Resolve", "Record the resolution", reference)
        page.get_by_role("button", name="Record the resolution").click()  # blank: the errors
        expect(page.locator(".govuk-error-summary")).to_contain_text(
            "Enter how life will improve for the child"
        )
        page.get_by_label("How will life improve for the child?").fill(LIFE_IMPROVEMENT)
        page.get_by_label("Decision upheld").check()
        page.get_by_label("Agreed outcome statement").fill(STATEMENT)
        page.get_by_role("group", name="Is the outcome recorded").get_by_label("Yes").check()
        check_page_without_javascript(browser, page, "journey-15-resolve-form")
        page.get_by_role("button", name="Record the resolution").click()
        _done(page, server, reference, "resolve", "The resolution has been recorded.")
        expect(_summary_value(page, "Status")).to_have_text("Resolved")
        expect(_summary_value(page, "How will life improve for the child?")).to_have_text(
            LIFE_IMPROVEMENT
        )
        expect(_summary_value(page, "Resolved")).to_contain_text("at level 2 by Jo Service")
        assert len(_chronology(page)) == 5


def _partnership_sees_it_resolved(
    browser: Browser, mail: Mail, server: LiveServer, reference: str
) -> None:
    """f: the partnership's business unit signs in; the dashboard counts it resolved."""
    resolved = mail.deliver()
    assert mail.links(resolved, DEVON_PARTNERSHIP_EMAIL, "/l/"), "partnership not copied"
    with _person(browser) as page:
        _sign_in(page, mail, server, DEVON_PARTNERSHIP_EMAIL)
        page.get_by_role("link", name="Partnership dashboard").click()
        expect(page).to_have_url(f"{server.url}/dashboard")
        expect(_heading(page)).to_have_text("Partnership dashboard")
        expect(_summary_value(page, "Open now")).to_have_text("0")
        expect(_summary_value(page, "Resolved in the period")).to_have_text("1")
        expect(_summary_value(page, "Raised in the period")).to_have_text("1")
        expect(page.locator("main")).to_contain_text("No challenge is open.")
        expect(_table_after(page, "table-resolved_by_level")).to_have_text(
            [
                "Level 1 (Practitioner to practitioner) 0",
                "Level 2 (Line managers and designated safeguarding leads) 1",
                "Level 3 (Senior managers) 0",
                "Level 4 (Safeguarding partnership) 0",
            ]
        )
        expect(_table_after(page, "table-resolved_share")).to_have_text(
            ["Levels 1–2 1 100.0", "Levels 3–4 0 0.0"]
        )
        check_page(page, "journey-16-dashboard")

        page.get_by_role("link", name="Challenges", exact=True).click()
        expect(page.get_by_role("tab", name="Open (0)")).to_be_visible()
        page.get_by_role("tab", name="Recently finished (1)").click()
        finished = page.locator("#finished")
        expect(finished).to_contain_text("Ashcombe Primary School challenges Devon Front Door")
        finished.get_by_role("link", name=reference).click()
        expect(_heading(page)).to_have_text(f"Challenge {reference}")
        expect(_summary_value(page, "Status")).to_have_text("Resolved")
        expect(_summary_value(page, "Resolved")).to_contain_text("at level 2")
        assert len(_chronology(page)) == 5
        check_page(page, "journey-17-challenge-partnership")
