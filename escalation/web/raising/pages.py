"""The "raise a challenge" pages: the start page with the immediate-risk warning, one page per
question (GOV.UK question pages), check-your-answers, and the confirmation.

Owns the routes, the draft's storage (on the server, per browser session: never in a cookie or a
URL, the answers are about a child) and the submission, which claims the draft before raising so
a second press of the button raises nothing. The questions themselves are `raising.questions`,
and what their pages show `raising.display`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from escalation.casework import intake, store
from escalation.casework.models import Organisation
from escalation.casework.views import current_due
from escalation.errors import InvalidInput, NotFound
from escalation.rules.model import Protocol
from escalation.rules.pinning import ProtocolDrifted
from escalation.web import store as store_web
from escalation.web import store_challenges
from escalation.web.auth import SESSION_COOKIE, Principal, require_user
from escalation.web.context import Web
from escalation.web.pages import errors_by_field, read_form, render, see_other
from escalation.web.raising import display, questions
from escalation.web.raising.questions import Answers, Asked, OrgChoice, Page, Problems

log = logging.getLogger("escalation.web")

router = APIRouter(include_in_schema=False)
SCOPED = (
    "You opened this service from the link in an email about one challenge, so you can only see "
    "that challenge. To raise a new challenge, sign out and sign in with your work email address."
)
CHECK_TITLE = "Check your answers before raising the challenge"


@dataclass(frozen=True)
class Raiser:
    """The signed-in person raising a challenge, with their browser session's cookie token."""

    web: Web
    principal: Principal
    token: str


@dataclass(frozen=True)
class Failed:
    """A page's answers that could not be saved or raised, and why."""

    answers: Answers
    asked: Asked | None
    problems: list[InvalidInput]


async def _raiser(request: Request) -> Raiser:
    principal = await require_user(request)
    if principal.scope_reference is not None:
        raise HTTPException(status_code=403, detail=SCOPED)
    token = request.cookies.get(SESSION_COOKIE) or ""
    return Raiser(request.app.state.web, principal, token)


def _page(slug: str) -> Page:
    page = questions.PAGE_BY_SLUG.get(slug)
    if page is None:
        raise HTTPException(status_code=404)
    return page


# -- the start page --------------------------------------------------------------------------


@router.get("/raise", response_class=HTMLResponse)
async def start(request: Request) -> Response:
    raiser = await _raiser(request)
    answers = await raiser.web.run(_draft, raiser)
    registry = raiser.web.registry
    others = [
        registry.for_partnership(p)
        for p in registry.partnerships()
        if p != raiser.principal.partnership
    ]
    context = {
        "title": "Raise a challenge",
        "nav": "raise",
        "resume": questions.next_url(answers) if answers else None,
        "others": others,
    }
    return await render(request, "raise/start.html", context)


# -- check your answers, and raising the challenge -------------------------------------------
# (before /raise/{slug}, which would otherwise take "check" for a question)


@router.get("/raise/check", response_class=HTMLResponse)
async def check(request: Request) -> Response:
    raiser = await _raiser(request)
    answers = await raiser.web.run(_draft, raiser)
    missing = questions.first_unanswered(answers)
    if missing is not None:
        return see_other(f"/raise/{missing.slug}")
    return await _show_check(request, raiser, answers, [])


@router.post("/raise/check", response_class=HTMLResponse)
async def submit(request: Request) -> Response:
    raiser = await _raiser(request)
    await read_form(request)
    outcome = await raiser.web.run(_submit, raiser)
    if isinstance(outcome, str):
        return see_other(outcome)
    return await _show_check(request, raiser, outcome.answers, outcome.problems, 400)


async def _show_check(
    request: Request,
    raiser: Raiser,
    answers: Answers,
    problems: list[InvalidInput],
    status: int = 200,
) -> Response:
    context = {
        "title": CHECK_TITLE,
        "nav": "raise",
        "errors": display.error_items(problems, on_check=True),
        "rows": display.summary_rows(answers, raiser.web.registry),
        "raiser_rows": display.raiser_rows(raiser.principal),
        "back": f"/raise/{questions.PAGES[-1].slug}",
    }
    return await render(request, "raise/check.html", context, status=status)


def _submit(raiser: Raiser) -> str | Failed:
    """Raise the draft's challenge; the URL to go to next, or why it could not be raised."""
    answers = _claim(raiser)
    if not answers:
        return "/raise"  # already raised (a second press, or another tab), or never started
    missing = questions.first_unanswered(answers)
    if missing is not None:
        _restore(raiser, answers)
        return f"/raise/{missing.slug}"
    return _raise(raiser, answers)


def _raise(raiser: Raiser, answers: Answers) -> str | Failed:
    """Raise the claimed draft; on any failure put it back, so nothing typed is lost."""
    principal = raiser.principal
    request = questions.raise_request(
        answers,
        principal.organisation_name,
        principal.organisation_id,
        principal.name,
        principal.email,
    )
    try:
        reference = raiser.web.service.raise_challenge(request, raiser.web.now())
    except (InvalidInput, NotFound) as exc:
        _restore(raiser, answers)
        return Failed(answers, None, [_as_problem(exc)])
    except ProtocolDrifted as exc:
        log.error("raise refused: %s", exc)  # the protocol's key and file, nothing typed
        _restore(raiser, answers)
        paused = InvalidInput(
            "partnership",
            "challenges cannot be raised with this partnership just now: its protocol file "
            "was changed in place and must be corrected by its business manager. Your "
            "answers are kept: try again later, or phone the partnership's business unit if "
            "it cannot wait. If a child is at immediate risk of significant harm, phone your "
            "local children's services front door, or 999 in an emergency",
        )
        return Failed(answers, None, [paused])
    except Exception:
        _restore(raiser, answers)
        raise
    return f"/raise/done/{reference}"


def _claim(raiser: Raiser) -> Answers | None:
    """Take the draft for raising: whoever deletes its row raises it (`claim_draft`), so a
    second press of the button raises nothing."""
    with raiser.web.sessions.begin() as session:
        web_session = store_web.session_id(session, raiser.token)
        if web_session is None:
            return None
        return store_web.claim_draft(session, web_session)


def _restore(raiser: Raiser, answers: Answers) -> None:
    """Put back a draft that could not be raised, so nothing typed is lost."""
    with raiser.web.sessions.begin() as session:
        web_session = store_web.session_id(session, raiser.token)
        if web_session is not None:
            store_web.save_draft(session, web_session, answers, raiser.web.now())


def _as_problem(exc: InvalidInput | NotFound) -> InvalidInput:
    """The service names a missing organisation as `responding-org: no organisation …`."""
    if isinstance(exc, InvalidInput):
        return exc
    field, _, problem = str(exc).partition(": ")
    if field in display.LABELS and problem:
        return InvalidInput(field, problem)
    return InvalidInput("responding-org", str(exc))


# -- the confirmation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Raised:
    reference: str
    level: int
    level_name: str
    responding_org: str
    emailed: list[str]  # who on the responding side was emailed (none: no contact for the level)
    acknowledge_due: datetime | None
    due: datetime | None
    if_unanswered: str


@router.get("/raise/done/{reference}", response_class=HTMLResponse)
async def done(request: Request, reference: str) -> Response:
    raiser = await _raiser(request)
    raised = await raiser.web.run(_raised, raiser, reference)
    if raised is None:
        raise HTTPException(status_code=404)
    context = {"title": "Challenge raised", "nav": "raise", "raised": raised}
    return await render(request, "raise/done.html", context)


def _raised(raiser: Raiser, reference: str) -> Raised | None:
    with raiser.web.sessions.begin() as session:
        challenge = store_challenges.visible_challenge(
            session, raiser.principal.visible(), reference
        )
        if challenge is None or challenge.level is None or challenge.current_stage is None:
            return None
        protocol = raiser.web.service.protocol_of(challenge)
        return Raised(
            reference=challenge.reference,
            level=challenge.level,
            level_name=protocol.level(challenge.level).name,
            responding_org=challenge.responding_org.name,
            # The directory may have no contact for the level's roles: then none.
            emailed=store_challenges.raised_emailed(session, challenge),
            acknowledge_due=challenge.current_stage.acknowledge_due_at,
            due=current_due(challenge),
            if_unanswered=display.lapse_text(protocol, challenge.level),
        )


# -- the question pages ----------------------------------------------------------------------


@router.get("/raise/{slug}", response_class=HTMLResponse)
async def question(request: Request, slug: str) -> Response:
    raiser = await _raiser(request)
    page = _page(slug)
    answers, asked = await raiser.web.run(_load, raiser, page)
    values = display.form_values(answers, asked.protocol.partnership)
    return await _show(request, page, Failed(answers, asked, []), values)


@router.post("/raise/{slug}", response_class=HTMLResponse)
async def answer(request: Request, slug: str) -> Response:
    raiser = await _raiser(request)
    page = _page(slug)
    form = await read_form(request)
    posted = {name: value for name, value in form.items() if isinstance(value, str)}
    outcome = await raiser.web.run(_answer, raiser, page, posted)
    if isinstance(outcome, str):
        return see_other(outcome)
    return await _show(request, page, outcome, posted, 400)


async def _show(
    request: Request, page: Page, shown: Failed, values: dict[str, str], status: int = 200
) -> Response:
    assert shown.asked is not None
    errors = display.error_items(shown.problems)
    context = {
        "title": page.title,
        "nav": "raise",
        "values": values,
        "errors": errors,
        "field_errors": errors_by_field(errors),
        "back": questions.back_url(page, shown.answers),
        "action": f"/raise/{page.slug}",
        **display.choices(shown.asked),
    }
    return await render(request, f"raise/{page.slug}.html", context, status=status)


def _answer(raiser: Raiser, page: Page, posted: dict[str, str]) -> str | Failed:
    """Check a page and save its answers into the draft; the next page's URL, or the problems."""
    with raiser.web.sessions.begin() as session:
        web_session = _session_id(session, raiser)
        answers = store_web.draft(session, web_session)
        asked = _asked(raiser, session, answers, page)
        try:
            given = page.parse(posted, asked)
        except Problems as exc:
            return Failed(answers, asked, exc.problems)
        merged = questions.merge(answers, given)
        store_web.save_draft(session, web_session, merged, raiser.web.now())
        return questions.next_url(merged)


def _load(raiser: Raiser, page: Page) -> tuple[Answers, Asked]:
    with raiser.web.sessions.begin() as session:
        answers = store_web.draft(session, _session_id(session, raiser))
        return answers, _asked(raiser, session, answers, page)


def _draft(raiser: Raiser) -> Answers:
    with raiser.web.sessions.begin() as session:
        web_session = store_web.session_id(session, raiser.token)
        return store_web.draft(session, web_session) if web_session is not None else {}


def _session_id(session: Session, raiser: Raiser) -> int:
    found = store_web.session_id(session, raiser.token)
    if found is None:  # signed out in another tab since the page was opened
        raise HTTPException(status_code=403, detail="sign-in")
    return found


def _asked(raiser: Raiser, session: Session, answers: Answers, page: Page) -> Asked:
    web = raiser.web
    protocol = web.registry.for_partnership(answers.get("partnership") or _home(raiser))
    offered = _offered(session, raiser.principal, protocol) if page.slug == "organisation" else ()
    return Asked(web.registry, protocol, web.now(), offered)


def _home(raiser: Raiser) -> str:
    """The raiser's own partnership: the usual answer to "where does the child live?"."""
    known = raiser.web.registry.partnerships()
    own = raiser.principal.partnership
    return own if own in known else known[0]


def _offered(session: Session, principal: Principal, protocol: Protocol) -> tuple[OrgChoice, ...]:
    """The organisations `intake.responding_org` allows (the rule the service applies when the
    challenge is raised, from here, the API or the command line), the child's home
    partnership's first. The level is asked later: the service checks it again with it."""
    found = [org for org in store.organisations(session) if _may_answer(principal, protocol, org)]
    found.sort(key=lambda org: (org.partnership != protocol.partnership, org.partnership, org.name))
    return tuple(OrgChoice(org.id, org.name, org.partnership) for org in found)


def _may_answer(principal: Principal, protocol: Protocol, org: Organisation) -> bool:
    try:
        intake.responding_org(protocol, None, principal.organisation_id, org)
    except InvalidInput:
        return False
    return True
