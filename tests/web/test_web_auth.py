"""Signing in: the one-time link by email, the per-reader challenge link, sessions and CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from escalation.casework.models_service import OutboxMessage, UsedLink, WebSession
from escalation.mail import store as store_mail
from escalation.mail.links import Links, Purpose
from escalation.web import store as store_web
from escalation.web.auth import SESSION_COOKIE, load_from_cookie
from tests.conftest import raise_request
from tests.web_support import (
    OTHER_SCHOOL_EMAIL,
    SCHOOL_DSL_EMAIL,
    SOCIAL_WORKER_EMAIL,
    browser,
    csrf,
    outbox_links,
    sign_in_as,
    web_app,
)

MONDAY_MORNING = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


class Clock:
    """A clock the test moves on."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _ask_for_link(client, email: str) -> None:  # type: ignore[no-untyped-def]
    token = csrf(client)
    page = client.post("/sign-in", data={"csrf_token": token, "email": email})
    assert page.status_code == 200
    assert "Check your email" in page.text


def _path(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def test_it_signs_in_with_the_emailed_link_once(engine: Engine) -> None:
    web, app = web_app(engine)
    client = browser(app)
    _ask_for_link(client, "DSL@Ashcombe.example.org")  # any case: addresses are matched without
    [link] = [x for x in outbox_links(web, SCHOOL_DSL_EMAIL) if "/sign-in/" in x]
    path = _path(link)

    confirm = client.get(path)  # a mail scanner's GET uses nothing
    assert confirm.status_code == 200 and "Continue" in confirm.text
    used = client.post(path, data={"csrf_token": csrf(client)})
    assert used.status_code == 303 and used.headers["location"] == "/challenges"
    cookie = used.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    principal = load_from_cookie(web, client.cookies.get(SESSION_COOKIE))
    assert principal is not None
    assert principal.organisation_name == "Ashcombe Primary School"
    assert principal.roles == {"dsl", "line_manager"} and principal.scope_reference is None

    again = client.post(path, data={"csrf_token": csrf(client)})
    assert again.status_code == 403 and "already been used" in again.text


def test_it_sends_nothing_to_an_unknown_address_and_says_the_same(engine: Engine) -> None:
    web, app = web_app(engine)
    client = browser(app)
    _ask_for_link(client, "stranger@example.org")
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_it_names_the_field_when_the_address_is_not_one(engine: Engine) -> None:
    _, app = web_app(engine)
    client = browser(app)
    page = client.post("/sign-in", data={"csrf_token": csrf(client), "email": "not-an-address"})
    assert page.status_code == 400
    assert "govuk-error-summary" in page.text and 'href="#email"' in page.text
    assert "Error: Sign in" in page.text  # the title says so too, for screen readers


def test_it_refuses_a_forged_link(engine: Engine) -> None:
    web, app = web_app(engine)
    client = browser(app)
    _ask_for_link(client, SCHOOL_DSL_EMAIL)
    [link] = outbox_links(web, SCHOOL_DSL_EMAIL)
    token = link.rsplit("/", 1)[1]
    payload, signature = token.rsplit(".", 1)
    forged_signature = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    # Signed with another key: a well-formed link the service never made.
    other = Links("x" * 64, "http://localhost").sign_in_url(SCHOOL_DSL_EMAIL, 1, MONDAY_MORNING)
    for bad in (forged_signature, other.rsplit("/", 1)[1], "garbage"):
        page = client.post(f"/sign-in/{bad}", data={"csrf_token": csrf(client)})
        assert page.status_code == 403, bad
        assert "not valid" in page.text
        assert SESSION_COOKIE not in page.headers.get("set-cookie", "")


def test_it_refuses_an_expired_link(engine: Engine) -> None:
    clock = Clock(MONDAY_MORNING)
    web, app = web_app(engine, clock=clock)
    client = browser(app)
    _ask_for_link(client, SCHOOL_DSL_EMAIL)
    [link] = outbox_links(web, SCHOOL_DSL_EMAIL)
    clock.now = MONDAY_MORNING + timedelta(minutes=30)  # the link lives 30 minutes
    page = client.post(_path(link), data={"csrf_token": csrf(client)})
    assert page.status_code == 403 and "expired" in page.text
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0


def test_it_refuses_a_sign_in_link_used_as_a_challenge_link(engine: Engine) -> None:
    web, app = web_app(engine)
    client = browser(app)
    _ask_for_link(client, SCHOOL_DSL_EMAIL)
    [link] = outbox_links(web, SCHOOL_DSL_EMAIL)
    page = client.post("/l/" + link.rsplit("/", 1)[1], data={"csrf_token": csrf(client)})
    assert page.status_code == 403


def test_it_refuses_a_link_posted_without_the_csrf_token(engine: Engine) -> None:
    web, app = web_app(engine)
    client = browser(app)
    _ask_for_link(client, SCHOOL_DSL_EMAIL)
    [link] = outbox_links(web, SCHOOL_DSL_EMAIL)
    assert client.post(_path(link), data={}).status_code == 403
    assert client.post(_path(link), data={"csrf_token": "0" * 64}).status_code == 403
    with web.sessions() as session:  # the refused posts did not use up the link
        assert session.scalar(select(func.count()).select_from(UsedLink)) == 0


def test_it_gives_each_reader_of_an_email_their_own_link_to_that_challenge(engine: Engine) -> None:
    web, app = web_app(engine)
    first = web.service.raise_challenge(raise_request(), MONDAY_MORNING)
    second = web.service.raise_challenge(raise_request(child_ref="OTHER-1"), MONDAY_MORNING)
    responder_links = [x for x in outbox_links(web, SOCIAL_WORKER_EMAIL) if "/l/" in x]
    raiser_links = [x for x in outbox_links(web, SCHOOL_DSL_EMAIL) if "/l/" in x]
    assert len(responder_links) == 2 and len(raiser_links) == 2
    assert not set(responder_links) & set(raiser_links)

    client = browser(app)
    path = _path(responder_links[0])
    assert first in client.get(path).text
    used = client.post(path, data={"csrf_token": csrf(client)})
    assert used.status_code == 303 and used.headers["location"] == f"/challenges/{first}"
    principal = load_from_cookie(web, client.cookies.get(SESSION_COOKIE))
    assert principal is not None
    assert principal.organisation_name == "Devon Front Door"
    assert principal.scope_reference == first  # that one challenge, not the second
    assert client.get(f"/challenges/{second}").status_code == 404
    assert client.post(path, data={"csrf_token": csrf(client)}).status_code in (303, 403)


def test_it_refuses_a_challenge_link_to_someone_no_longer_a_party(engine: Engine) -> None:
    web, app = web_app(engine)
    reference = web.service.raise_challenge(raise_request(), MONDAY_MORNING)
    # A well-signed link for this challenge, made for someone at another school.
    with web.sessions.begin() as session:
        link = web.links(session).challenge_url(reference, OTHER_SCHOOL_EMAIL, web.now(), "k")
    client = browser(app)
    page = client.post(_path(link), data={"csrf_token": csrf(client)})
    assert page.status_code == 403 and "is not in the partnership" in page.text


def test_it_signs_out_for_good(engine: Engine) -> None:
    web, app = web_app(engine)
    client = browser(app)
    sign_in_as(web, client, SCHOOL_DSL_EMAIL)
    token = client.cookies.get(SESSION_COOKIE)
    assert load_from_cookie(web, token) is not None
    page = client.post("/sign-out", data={"csrf_token": csrf(client)})
    assert page.status_code == 200 and "signed out" in page.text
    assert load_from_cookie(web, token) is None  # a copied cookie is dead too


def test_it_marks_the_cookie_secure_away_from_localhost(engine: Engine) -> None:
    web, app = web_app(engine, base_url="https://escalation.example.org")
    client = browser(app)
    client.base_url = "https://escalation.example.org"  # type: ignore[assignment]
    _ask_for_link(client, SCHOOL_DSL_EMAIL)
    [link] = outbox_links(web, SCHOOL_DSL_EMAIL)
    assert link.startswith("https://escalation.example.org/sign-in/")
    used = client.post(_path(link), data={"csrf_token": csrf(client)})
    assert used.status_code == 303
    assert "Secure" in used.headers["set-cookie"] and "HttpOnly" in used.headers["set-cookie"]


def test_it_never_redirects_off_the_site_after_sign_in(engine: Engine) -> None:
    _, app = web_app(engine)
    client = browser(app)
    for target in ("//evil.example.org", "https://evil.example.org", "/\\evil.example.org"):
        page = client.get("/sign-in", params={"next": target})
        assert re.search(r'name="next" value=""', page.text), target


def test_it_keeps_only_the_hash_of_session_and_link_tokens(engine: Engine) -> None:
    web, app = web_app(engine)
    client = browser(app)
    _ask_for_link(client, SCHOOL_DSL_EMAIL)
    [link] = outbox_links(web, SCHOOL_DSL_EMAIL)
    client.post(_path(link), data={"csrf_token": csrf(client)})
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie
    with web.sessions() as session:
        stored = session.scalars(select(WebSession.token_hash)).all()
        used = session.scalars(select(UsedLink)).all()
    assert stored == [store_web.digest(cookie)]
    assert [u.purpose for u in used] == [Purpose.SIGN_IN.value]
    assert used[0].token_hash == store_web.digest(link.rsplit("/", 1)[1])


def test_it_returns_to_the_page_that_asked_for_sign_in(engine: Engine) -> None:
    web, app = web_app(engine)
    reference = web.service.raise_challenge(raise_request(), MONDAY_MORNING)
    client = browser(app)
    asked = client.get(f"/challenges/{reference}")
    assert asked.status_code == 403 and f"/sign-in?next=/challenges/{reference}" in asked.text
    token = csrf(client)
    page = client.post(
        "/sign-in",
        data={"csrf_token": token, "email": SCHOOL_DSL_EMAIL, "next": f"/challenges/{reference}"},
    )
    assert page.status_code == 200
    [link] = [x for x in outbox_links(web, SCHOOL_DSL_EMAIL) if "/sign-in/" in x]
    used = client.post(_path(link), data={"csrf_token": token})
    assert used.headers["location"] == f"/challenges/{reference}"
    assert client.get(used.headers["location"]).status_code == 200


def test_it_forgets_ended_sessions_their_drafts_and_expired_links_daily(engine: Engine) -> None:
    from escalation import jobs
    from escalation.casework.models import Organisation
    from escalation.casework.models_service import RaiseDraft

    web, _ = web_app(engine)
    now = MONDAY_MORNING
    with web.sessions.begin() as session:
        org = session.scalars(
            select(Organisation).where(Organisation.name == "Bramble Academy")
        ).one()
        live = store_web.start_session(
            session, org, OTHER_SCHOOL_EMAIL, "Bea", None, now, now + timedelta(hours=1)
        )
        gone = store_web.start_session(
            session,
            org,
            OTHER_SCHOOL_EMAIL,
            "Bea",
            None,
            now - timedelta(hours=9),
            now - timedelta(hours=1),
        )
        session.flush()
        for token in (live, gone):
            web_session = store_web.session_id(session, token)
            assert web_session is not None
            store_web.save_draft(session, web_session, {"child_ref": "X"}, now)
        store_mail.use_link(session, "a" * 64, "sign-in", now - timedelta(minutes=1), now)
        store_mail.use_link(session, "b" * 64, "challenge", now + timedelta(days=3), now)
    outcome = jobs.run_digest(web.service, now)
    assert outcome.summary["pruned"] == {"drafts": 1, "sessions": 1, "used_links": 1}
    with web.sessions() as session:
        assert [s.token_hash for s in session.scalars(select(WebSession))] == [
            store_web.digest(live)
        ]
        assert session.scalar(select(func.count()).select_from(RaiseDraft)) == 1
        assert session.scalars(select(UsedLink.token_hash)).all() == ["b" * 64]


def test_it_refuses_the_link_of_a_named_responder_not_in_the_directory(engine: Engine) -> None:
    """The raiser types the responder's address: it is emailed, but its link opens nothing
    until the address is in the directory (a mistyped or chosen address would otherwise read
    the child's details and answer for the other side)."""
    web, app = web_app(engine)
    stranger = "someone@elsewhere.example.org"
    reference = web.service.raise_challenge(
        raise_request(responder_name="Someone", responder_email=stranger), MONDAY_MORNING
    )
    [link] = [x for x in outbox_links(web, stranger) if "/l/" in x]
    client = browser(app)
    page = client.post(_path(link), data={"csrf_token": csrf(client)})
    assert page.status_code == 403 and "is not in the partnership" in page.text
    assert SESSION_COOKIE not in page.headers.get("set-cookie", "")
    assert client.get(f"/challenges/{reference}").status_code == 403


def test_it_opens_the_challenge_for_the_partnership_from_its_email_link(engine: Engine) -> None:
    web, app = web_app(engine)
    reference = web.service.raise_challenge(
        raise_request(start_level=4, start_reason="Two years of failed referrals"),
        MONDAY_MORNING,
    )
    [link] = [x for x in outbox_links(web, "business.unit@dscp.example.org") if "/l/" in x]
    client = browser(app)
    used = client.post(_path(link), data={"csrf_token": csrf(client)})
    assert used.status_code == 303
    assert client.get(f"/challenges/{reference}").status_code == 200
    assert client.get("/dashboard").status_code == 403  # that one challenge, not the dashboard


def test_it_ends_the_session_of_someone_removed_from_the_directory(engine: Engine) -> None:
    from escalation.casework.models import Contact

    web, app = web_app(engine)
    reference = web.service.raise_challenge(raise_request(), MONDAY_MORNING)
    client = browser(app)
    sign_in_as(web, client, SCHOOL_DSL_EMAIL)
    assert client.get(f"/challenges/{reference}").status_code == 200
    with web.sessions.begin() as session:
        for contact in session.scalars(select(Contact).where(Contact.email == SCHOOL_DSL_EMAIL)):
            session.delete(contact)
    assert client.get(f"/challenges/{reference}").status_code == 403
    with web.sessions() as session:
        assert session.scalars(select(WebSession.ended_at)).one() is not None


def test_it_sends_one_address_at_most_five_sign_in_links_in_15_minutes(engine: Engine) -> None:
    clock = Clock(MONDAY_MORNING)
    web, app = web_app(engine, clock=clock)
    client = browser(app)
    for _ in range(7):
        _ask_for_link(client, SCHOOL_DSL_EMAIL)  # the page says the same every time
    assert len(outbox_links(web, SCHOOL_DSL_EMAIL)) == 5
    clock.now = MONDAY_MORNING + timedelta(minutes=15)
    _ask_for_link(client, SCHOOL_DSL_EMAIL)
    assert len(outbox_links(web, SCHOOL_DSL_EMAIL)) == 6
