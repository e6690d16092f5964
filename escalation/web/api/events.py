"""The JSON API's events: POST /api/v1/challenges/{reference}/events/<event>, one endpoint and
typed body per event (acknowledge, respond, accept, escalate…), each recorded through
`casework.service` exactly as from the command line and the pages.

A client records only what its organisation's side may (`permissions.may`: 403 otherwise), on a
challenge it may see (404 otherwise). `who` names the person at the partner, and the chronology
records them with the organisation and the token's label. A refusal about the challenge's state
(or a change made meanwhile) is a 409 with the challenge as it is; one about the input, a 422.
`api.routes` includes this router after its own endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm.exc import StaleDataError

from escalation.casework.intake import Resolution
from escalation.casework.service import Service
from escalation.errors import EscalationError, EventNotAllowed, InvalidInput
from escalation.rules.states import Event
from escalation.web.api import models as m
from escalation.web.api.shared import (
    BODY_RESPONSES,
    NOT_FOUND_RESPONSE,
    Client,
    Reference,
    Responses,
    invalid,
    record,
    view,
    visible,
    web_of,
)
from escalation.web.auth import Principal
from escalation.web.context import Web
from escalation.web.permissions import may

router = APIRouter()  # under `api.routes.router`: its prefix, token and documented refusals
CONFLICT = {"model": m.NotAllowedProblem, "description": "The challenge's state does not allow it"}
EVENT_RESPONSES: Responses = BODY_RESPONSES | NOT_FOUND_RESPONSE | {409: CONFLICT}
# Refusals that are about the challenge's state, not the input: a conflict, as EventNotAllowed.
CONFLICT_FIELDS = frozenset({"acknowledge", "now"})

B = TypeVar("B", bound=m.EventBody)
# (service, reference, who as recorded, body, now): record one event through the service
Apply = Callable[[Service, str, str, B, datetime], None]


def _event(
    request: Request,
    principal: Principal,
    reference: str,
    event: Event,
    body: B,
    apply: Apply[B],
) -> m.ChallengeOut | JSONResponse:
    """Record `event` if this client's side may, and return the challenge as it now is."""
    web = web_of(request)
    with web.sessions() as session:
        challenge = visible(session, principal, reference)
    if not may(principal, challenge, event):
        raise HTTPException(
            status_code=403,
            detail=f"your organisation's side of {reference} does not record '{event.value}'",
        )
    # e.g. "Jo Bloggs (Ashcombe Primary School via API: SIMS link)"; the service takes 200
    recorded_as = f"{body.who} ({principal.organisation_name} via {principal.name})"[:200]
    try:
        apply(web.service, reference, recorded_as, body, web.now())
    except InvalidInput as exc:
        if exc.field not in CONFLICT_FIELDS:
            raise invalid(exc) from None
        return _conflict(web, principal, reference, str(exc))
    except (EventNotAllowed, StaleDataError) as exc:
        return _conflict(web, principal, reference, str(exc) or "changed meanwhile: try again")
    except EscalationError as exc:  # e.g. a date the working-day calendar cannot place
        raise invalid(InvalidInput("body", str(exc))) from None
    with web.sessions() as session:
        return record(web, session, principal, visible(session, principal, reference))


def _conflict(web: Web, principal: Principal, reference: str, detail: str) -> JSONResponse:
    with web.sessions() as session:
        shown = view(web, principal, visible(session, principal, reference))
    problem = m.NotAllowedProblem.model_validate(shown | {"detail": detail})
    return JSONResponse(problem.model_dump(), status_code=409)


def _post(event: Event, body_type: type[B], summary: str) -> Callable[[Apply[B]], Apply[B]]:
    """Route POST /challenges/{reference}/events/<event>, with its own typed body, to the
    decorated function, which records the event through the service."""

    def register(apply: Apply[B]) -> Apply[B]:
        def endpoint(
            reference: Reference, body: Any, request: Request, principal: Client
        ) -> m.ChallengeOut | JSONResponse:
            return _event(request, principal, reference, event, body, apply)

        endpoint.__annotations__["body"] = body_type  # FastAPI reads the body's model here
        endpoint.__name__ = endpoint.__qualname__ = event.value
        router.post(
            f"/challenges/{{reference}}/events/{event.value}",
            operation_id=event.value,
            summary=summary,
            description=apply.__doc__ or "",
            response_model=m.ChallengeOut,
            responses=EVENT_RESPONSES,
        )(endpoint)
        return apply

    return register


def _resolution(body: m.ResolutionBody) -> Resolution:
    return Resolution(
        body.outcome.value, body.statement, body.life_improvement, body.recorded_on_both_files
    )


@_post(Event.ACKNOWLEDGE, m.AcknowledgeBody, "Acknowledge receipt (responder)")
def _acknowledge(s: Service, ref: str, who: str, body: m.AcknowledgeBody, now: datetime) -> None:
    """The response clock runs regardless."""
    s.acknowledge(ref, who, now)


@_post(Event.RESPOND, m.RespondBody, "Respond at the current level (responder)")
def _respond(s: Service, ref: str, who: str, body: m.RespondBody, now: datetime) -> None:
    """The raiser then accepts or escalates."""
    actions_agreed = [action.as_text() for action in body.actions]
    s.respond(ref, who, body.kind.value, body.summary, actions_agreed, now)


@_post(Event.ACCEPT, m.ResolutionBody, "Accept the response (raiser)")
def _accept(s: Service, ref: str, who: str, body: m.ResolutionBody, now: datetime) -> None:
    """The challenge is resolved, with how life will improve for the child."""
    s.accept(ref, who, _resolution(body), now)


@_post(Event.ESCALATE, m.EscalateBody, "Escalate to a higher level (raiser)")
def _escalate(s: Service, ref: str, who: str, body: m.EscalateBody, now: datetime) -> None:
    """To the next level, or to `to_level` when the risk to the child justifies a jump."""
    s.escalate(ref, who, body.reason, now, body.to_level)


@_post(Event.PAUSE, m.AgreementBody, "Pause the clock, as agreed (either side)")
def _pause(s: Service, ref: str, who: str, body: m.AgreementBody, now: datetime) -> None:
    """`who` asked; `agreed_by` (the other side, or the partnership at level 4) agreed."""
    s.pause(ref, who, body.agreed_by, body.reason, now)


@_post(Event.RESUME, m.ResumeBody, "Resume a paused clock (either side)")
def _resume(s: Service, ref: str, who: str, body: m.ResumeBody, now: datetime) -> None:
    """The remaining working time runs on."""
    s.resume(ref, who, now, body.note)


@_post(Event.EXTEND, m.ExtendBody, "Agree a later due date (either side)")
def _extend(s: Service, ref: str, who: str, body: m.ExtendBody, now: datetime) -> None:
    """Due at close of business on `until`, a later working day."""
    s.extend(ref, who, body.agreed_by, body.until, body.reason, now)


@_post(Event.WITHDRAW, m.ReasonBody, "Withdraw the challenge (raiser)")
def _withdraw(s: Service, ref: str, who: str, body: m.ReasonBody, now: datetime) -> None:
    s.withdraw(ref, who, body.reason, now)


@_post(Event.RESOLVE, m.ResolutionBody, "Record the resolution, at any level")
def _resolve(s: Service, ref: str, who: str, body: m.ResolutionBody, now: datetime) -> None:
    """With how life will improve for the child (required)."""
    s.resolve(ref, who, _resolution(body), now)


@_post(Event.OUTCOME, m.OutcomeBody, "Answer the outcome check (raiser)")
def _outcome(s: Service, ref: str, who: str, body: m.OutcomeBody, now: datetime) -> None:
    """Has the child's situation improved? Yes closes it; no lets you reopen or escalate."""
    s.answer_outcome(ref, who, body.improved, body.note, now)


@_post(Event.REOPEN, m.ReasonBody, "Reopen where it was resolved (raiser)")
def _reopen(s: Service, ref: str, who: str, body: m.ReasonBody, now: datetime) -> None:
    s.reopen(ref, who, body.reason, now)


@_post(Event.CLOSE, m.ReasonBody, "Close after the outcome check (raiser or partnership)")
def _close(s: Service, ref: str, who: str, body: m.ReasonBody, now: datetime) -> None:
    s.close(ref, who, body.reason, now)
