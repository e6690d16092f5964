"""Signing in and out: the one-time sign-in link, and the per-reader link in every email.

Opening a link (GET) only shows a button; pressing it (POST) uses the link. Mail scanners that
fetch every link in an email would otherwise use up a one-time link before its reader saw it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from escalation.casework import intake
from escalation.casework.models import Challenge, Organisation
from escalation.errors import InvalidInput
from escalation.mail import store as store_mail
from escalation.mail.links import LinkClaim, LinkRefused, Purpose
from escalation.web import store as store_web
from escalation.web import store_challenges
from escalation.web.auth import SESSION_COOKIE, current_user, set_session_cookie
from escalation.web.context import Web
from escalation.web.pages import error_list, field, read_form, render, see_other
from escalation.web.signin.email import queue_sign_in

router = APIRouter(include_in_schema=False)
SESSION_LIFETIME = timedelta(hours=8)  # a working day; then sign in again
SIGN_IN_WINDOW = timedelta(minutes=15)
SIGN_IN_EMAILS_PER_WINDOW = 5
REFUSED = "This link cannot be used"


@router.get("/", response_class=HTMLResponse)
async def start(request: Request) -> Response:
    if await current_user(request) is not None:
        return see_other("/challenges")
    return await render(request, "start.html", {"title": "Start"})


@router.get("/accessibility", response_class=HTMLResponse)
async def accessibility(request: Request) -> Response:
    return await render(request, "accessibility.html", {"title": "Accessibility statement"})


@router.get("/api", response_class=HTMLResponse)
async def api_guide(request: Request) -> Response:
    """The JSON API's operations, from its OpenAPI document, for partners' developers."""
    document = request.app.openapi()
    operations = [
        {"method": method.upper(), "path": path, "summary": details.get("summary", "")}
        for path, methods in document.get("paths", {}).items()
        for method, details in methods.items()
    ]
    context = {
        "title": "API for partner systems",
        "description": document["info"].get("description", ""),
        "operations": operations,
    }
    return await render(request, "api_guide.html", context)


# -- the sign-in page and its emailed link -----------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request) -> Response:
    return await render(
        request,
        "sign_in.html",
        {"title": "Sign in", "next": _safe_next(request.query_params.get("next"))},
    )


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in_send(request: Request) -> Response:
    web: Web = request.app.state.web
    form = await read_form(request)
    raw = field(form, "email")
    try:
        address = intake.email("email", raw)
        if address is None:
            raise InvalidInput("email", "enter your work email address")
    except InvalidInput as exc:
        context = {"title": "Sign in", "errors": error_list(exc), "email": raw or "", "next": ""}
        return await render(request, "sign_in.html", context, status=400)
    await web.run(_send_sign_in_links, web, address, _safe_next(field(form, "next")))
    return await render(
        request,
        "message.html",
        {
            "title": "Check your email",
            "paragraphs": [
                f"If {address} is in the partnership's directory, we have sent it a sign-in link. "
                "It works once, for 30 minutes.",
                "If nothing arrives, ask your designated safeguarding lead or the partnership's "
                "business unit to check the directory has your work email address.",
            ],
        },
    )


def _send_sign_in_links(web: Web, address: str, next_url: str) -> None:
    """One link per organisation the address is a contact of (most people have one).

    At most SIGN_IN_EMAILS_PER_WINDOW in SIGN_IN_WINDOW to one address, counted in the outbox
    (so across every web process): the form cannot be used to flood someone's mailbox. The page
    says the same either way."""
    now = web.now()
    with web.sessions.begin() as session:
        if store_web.sign_in_emails_since(session, address, now - SIGN_IN_WINDOW) >= (
            SIGN_IN_EMAILS_PER_WINDOW
        ):
            return
        seen: set[int] = set()
        for contact in store_web.contacts_by_email(session, address):
            if contact.organisation_id in seen:
                continue
            seen.add(contact.organisation_id)
            link = web.links(session).sign_in_url(
                contact.email, contact.organisation_id, now, next_url
            )
            queue_sign_in(session, contact, contact.organisation, link, now)


@router.get("/sign-in/{token}", response_class=HTMLResponse)
async def sign_in_link(request: Request, token: str) -> Response:
    web: Web = request.app.state.web
    try:
        claim = web_read(web, Purpose.SIGN_IN, token)
    except LinkRefused as exc:
        return await _refused(request, str(exc))
    context = {"title": "Sign in", "claim": claim, "action": f"/sign-in/{token}"}
    return await render(request, "link_confirm.html", context)


@router.post("/sign-in/{token}", response_class=HTMLResponse)
async def sign_in_use(request: Request, token: str) -> Response:
    return await _use(request, Purpose.SIGN_IN, token, _use_sign_in)


async def _use(
    request: Request, purpose: Purpose, token: str, use: Callable[[Web, LinkClaim], Started]
) -> Response:
    """Use a link (once: `use` records it) and start the session it grants."""
    web: Web = request.app.state.web
    await read_form(request)
    try:
        claim = web_read(web, purpose, token)
        started = await web.run(use, web, claim)
    except LinkRefused as exc:
        return await _refused(request, str(exc))
    if claim.reference:
        target = _challenge_target(claim)
    else:  # back to the page that asked them to sign in (checked again: the link is signed)
        target = _safe_next(claim.next_path) or "/challenges"
    response = see_other(target)
    set_session_cookie(request, response, started.token, started.expires_at)
    return response


def _challenge_target(claim: LinkClaim) -> str:
    """The challenge's page, or the event form the link was made to open (a one-click link:
    the form still asks the reader to confirm, and refuses if the event is no longer open)."""
    page = f"/challenges/{claim.reference}"
    return f"{page}/{claim.then}" if claim.then else page


@dataclass(frozen=True)
class Started:
    token: str
    expires_at: datetime


def web_read(web: Web, purpose: Purpose, token: str) -> LinkClaim:
    return web.key_links().read(purpose, token, web.now())


def _use_sign_in(web: Web, claim: LinkClaim) -> Started:
    now = web.now()
    with web.sessions.begin() as session:
        assert claim.organisation_id is not None
        organisation = session.get(Organisation, claim.organisation_id)
        contacts = [
            c
            for c in store_web.contacts_by_email(session, claim.email)
            if c.organisation_id == claim.organisation_id
        ]
        if organisation is None or not contacts:
            raise LinkRefused("This address is no longer in the directory for that organisation.")
        if not store_mail.use_link(session, claim.token_hash, claim.purpose, claim.expires_at, now):
            raise LinkRefused("This link has already been used.")
        expires = now + SESSION_LIFETIME
        token = store_web.start_session(
            session, organisation, claim.email, contacts[0].name, None, now, expires
        )
        return Started(token, expires)


# -- the link in every email about a challenge -----------------------------------------------------


@router.get("/l/{token}", response_class=HTMLResponse)
async def challenge_link(request: Request, token: str) -> Response:
    web: Web = request.app.state.web
    try:
        claim = web_read(web, Purpose.CHALLENGE, token)
    except LinkRefused as exc:
        return await _refused(request, str(exc))
    user = await current_user(request)
    if user is not None and await web.run(_can_see, web, user.visible(), claim.reference):
        return see_other(_challenge_target(claim))  # already signed in: no need to use it
    context = {
        "title": f"Open challenge {claim.reference}",
        "claim": claim,
        "action": f"/l/{token}",
    }
    return await render(request, "link_confirm.html", context)


@router.post("/l/{token}", response_class=HTMLResponse)
async def challenge_link_use(request: Request, token: str) -> Response:
    return await _use(request, Purpose.CHALLENGE, token, _use_challenge_link)


def _can_see(web: Web, clause: ColumnElement[bool], reference: str | None) -> bool:
    with web.sessions.begin() as session:
        return store_challenges.can_see(session, clause, reference)


def _use_challenge_link(web: Web, claim: LinkClaim) -> Started:
    """Sign the reader in to that one challenge, as a member of the side the email was for."""
    now = web.now()
    with web.sessions.begin() as session:
        challenge = store_challenges.challenge_named(session, claim.reference)
        if challenge is None:
            raise LinkRefused("The challenge this link was for no longer exists.")
        found = _reader(session, challenge, claim.email)
        if found is None:
            raise LinkRefused(
                "Your email address is not in the partnership's directory for this challenge's "
                "organisations. Ask your manager or the partnership's business unit to add it."
            )
        organisation, name = found
        if not store_mail.use_link(session, claim.token_hash, claim.purpose, claim.expires_at, now):
            raise LinkRefused("This link has already been used.")
        expires = now + SESSION_LIFETIME
        token = store_web.start_session(
            session, organisation, claim.email, name, challenge.reference, now, expires
        )
        return Started(token, expires)


def _reader(session: Session, challenge: Challenge, email: str) -> tuple[Organisation, str] | None:
    """Which side of the challenge this address reads it for: a directory contact of the
    raising or responding organisation, or of the partnership's business unit.

    Only the directory counts. An address the raiser typed for a named responder is emailed,
    but its link is refused until the address is in the directory: otherwise a mistyped (or
    chosen) address could read the child's details and answer for the other side.
    """
    sides = (challenge.raising_org_id, challenge.responding_org_id)
    for contact in store_web.contacts_by_email(session, email):
        org = contact.organisation
        unit = org.type == "partnership" and org.partnership == challenge.partnership
        if org.id in sides or unit:
            return org, contact.name
    return None


# -- signing out -----------------------------------------------------------------------------------


@router.post("/sign-out", response_class=HTMLResponse)
async def sign_out(request: Request) -> Response:
    web: Web = request.app.state.web
    await read_form(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:

        def end() -> None:
            with web.sessions.begin() as session:
                store_web.end_session(session, token, web.now())

        await web.run(end)
    request.state.principal = None
    response = await render(
        request,
        "message.html",
        {
            "title": "You have signed out",
            "paragraphs": [],
            "action_href": "/sign-in",
            "action_text": "Sign in again",
        },
    )
    response.delete_cookie(SESSION_COOKIE)
    return response


async def _refused(request: Request, why: str) -> Response:
    return await render(
        request,
        "message.html",
        {
            "title": REFUSED,
            "paragraphs": [why, "Links in our emails work once and expire. Ask for a new one."],
            "action_href": "/sign-in",
            "action_text": "Get a new sign-in link",
        },
        status=403,
    )


def _safe_next(raw: str | None) -> str:
    """Only a path on this site (no `//host`, no scheme): never an open redirect."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return ""
