"""The page of each event on a challenge: GET /challenges/{reference}/{event} shows its form,
POST records it through the service and returns to the challenge with a success banner.

Every route first loads the challenge through the reader's `visible()` clause, so a challenge
they may not see is 404 whatever else is wrong (we never confirm that a reference exists); then
an event their side or role may not record is 403; only then is the form (and its CSRF token)
read. An event they may record but the challenge's state does not allow now shows the page
again with an error (409). `Reading`, one challenge as its reader sees it, is shared with
`events.challenges`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from escalation.casework import store
from escalation.casework.models import Challenge, ChronologyEntry
from escalation.casework.views import current_due
from escalation.rules.dates import uk_datetime
from escalation.rules.machine import allowed_events
from escalation.rules.model import Protocol
from escalation.rules.states import Event, Status, split_state
from escalation.web import store_challenges
from escalation.web.auth import Principal, require_user
from escalation.web.context import Web
from escalation.web.events import forms as event_forms
from escalation.web.events.forms import FORMS, Form, FormProblems
from escalation.web.pages import errors_by_field, read_form, render, see_other
from escalation.web.permissions import RAISER_EVENTS, RESPONDER_EVENTS, actions, may

router = APIRouter(include_in_schema=False)

# What each state asks someone to do (the other allowed events are there if needed, not owed):
# the responder owes an acknowledgement and a response, the raiser a decision on a response or
# an unanswered level, and an answer to the outcome check.
ASKED: dict[Status, frozenset[Event]] = {
    Status.AWAITING_RESPONSE: frozenset({Event.ACKNOWLEDGE, Event.RESPOND}),
    Status.OVERDUE: frozenset({Event.ACKNOWLEDGE, Event.RESPOND}),
    Status.LAPSE_PROMPT: frozenset({Event.ACKNOWLEDGE, Event.RESPOND, Event.ESCALATE}),
    Status.RESPONDED: frozenset({Event.ACCEPT, Event.ESCALATE}),
    Status.OUTCOME_CHECK: frozenset({Event.OUTCOME}),
    Status.OUTCOME_NOT_IMPROVED: frozenset({Event.REOPEN, Event.ESCALATE, Event.CLOSE}),
}


@dataclass(frozen=True)
class Reading:
    """One challenge as its reader sees it, read in one transaction (pages render after it:
    the challenge's stages and organisations are loaded, nothing else may be touched)."""

    challenge: Challenge
    protocol: Protocol
    allowed: list[str]  # what the state allows now
    actions: list[Event]  # of those, what this reader may record
    entries: Sequence[ChronologyEntry] = ()

    @property
    def status(self) -> Status:
        return split_state(self.challenge.state)[1]

    @property
    def asked(self) -> list[Event]:
        return asked_of(self.challenge, self.actions)

    def level_name(self, number: int | None) -> str:
        return self.protocol.level(number).name if number else ""


def reader_events(
    principal: Principal, challenge: Challenge, protocol: Protocol
) -> tuple[list[str], list[Event]]:
    """What the state allows now, and which of those this reader may record."""
    allowed = allowed_events(protocol, challenge.state, acknowledged=challenge.level_acknowledged)
    return allowed, actions(principal, challenge, allowed)


def asked_of(challenge: Challenge, may_now: Sequence[Event]) -> list[Event]:
    wanted = ASKED.get(split_state(challenge.state)[1], frozenset())
    return [event for event in may_now if event in wanted]


def read_for(
    web: Web, principal: Principal, reference: str, with_chronology: bool = False
) -> Reading:
    """The challenge if this reader may see it; 404 otherwise (never 403: no confirming that a
    reference exists to someone outside it)."""
    with web.sessions.begin() as session:
        challenge = store_challenges.visible_challenge(session, principal.visible(), reference)
        if challenge is None:
            raise HTTPException(status_code=404, detail="not found")
        protocol = web.service.protocol_of(challenge)
        allowed, may_now = reader_events(principal, challenge, protocol)
        entries = store.chronology(session, challenge.id) if with_chronology else ()
        return Reading(challenge, protocol, allowed, may_now, entries)


def form_for(reading: Reading, principal: Principal, name: str) -> Form:
    """The form of event `name`: 404 if there is none, 403 if this reader may not record it."""
    try:
        form = FORMS[Event(name)]
    except (ValueError, KeyError):
        raise HTTPException(status_code=404, detail="not found") from None
    if not may(principal, reading.challenge, form.event):
        raise HTTPException(status_code=403, detail=_who_may(form.event))
    return form


def _who_may(event: Event) -> str:
    if event in RAISER_EVENTS:
        return "Only the organisation that raised this challenge can do that."
    if event in RESPONDER_EVENTS:
        return "Only the organisation whose decision is challenged can do that."
    if event is Event.RESOLVE:
        return (
            "Only a senior manager of either organisation, or the safeguarding partnership's "
            "business unit, can record a resolution."
        )
    if event is Event.CLOSE:
        return "Only the safeguarding partnership's business unit can close a challenge."
    return "Only the two organisations in this challenge, or its partnership, can do that."


@router.get("/challenges/{reference}/{name}", response_class=HTMLResponse)
async def event_page(request: Request, reference: str, name: str) -> Response:
    principal = await require_user(request)
    web: Web = request.app.state.web
    reading = await web.run(read_for, web, principal, reference)
    form = form_for(reading, principal, name)
    if form.event.value not in reading.allowed:
        return await show_form(request, reading, form, {}, [not_now(reading, form)], 409)
    return await show_form(request, reading, form, {}, [], 200)


@router.post("/challenges/{reference}/{name}", response_class=HTMLResponse)
async def event_record(request: Request, reference: str, name: str) -> Response:
    principal = await require_user(request)
    web: Web = request.app.state.web
    reading = await web.run(read_for, web, principal, reference)
    form = form_for(reading, principal, name)
    values = event_forms.answers(await read_form(request))
    if form.event.value not in reading.allowed:  # before its fields: the page has no form
        return await show_form(request, reading, form, values, [not_now(reading, form)], 409)
    try:
        event_forms.check(form, values)
        await web.run(
            event_forms.record,
            web.service,
            form,
            reading.challenge.reference,
            principal.who,
            values,
            web.now(),
        )
    except FormProblems as exc:
        reading = await web.run(read_for, web, principal, reference)  # as it is now
        return await show_form(request, reading, form, values, exc.errors, exc.status)
    return see_other(f"/challenges/{reading.challenge.reference}?done={form.event.value}")


def not_now(reading: Reading, form: Form) -> dict[str, str]:
    """Why the state does not allow the event now, as an error summary item (no field)."""
    stage = reading.challenge.current_stage
    if form.event is Event.ACKNOWLEDGE and stage is not None and stage.acknowledged_at:
        when = uk_datetime(stage.acknowledged_at)
        return {
            "text": f"Level {stage.level} was already acknowledged by "
            f"{stage.acknowledged_by} on {when}."
        }
    return event_forms.not_now(form, reading.challenge.state)


async def show_form(
    request: Request,
    reading: Reading,
    form: Form,
    values: Mapping[str, str],
    errors: list[dict[str, str]],
    status: int,
) -> Response:
    challenge = reading.challenge
    current = challenge.level or challenge.resolved_level or 0
    context: dict[str, Any] = {
        "title": f"{form.title}: {challenge.reference}",
        "nav": "challenges",
        "form": form,
        "event": form.event.value,
        "challenge": challenge,
        "level_name": reading.level_name(challenge.level),
        "resolved_level_name": reading.level_name(challenge.resolved_level),
        "higher_levels": [lvl for lvl in reading.protocol.levels if lvl.number > current],
        "due": current_due(challenge),
        "values": values,
        "errors": errors,
        "field_errors": errors_by_field([e for e in errors if "field" in e]),
        # Not allowed now: the page says so and shows no form.
        "blocked": form.event.value not in reading.allowed,
        "kinds": event_forms.KIND_WORDS,
        "outcomes": event_forms.OUTCOME_WORDS,
    }
    return await render(request, "challenges/event.html", context, status=status)
