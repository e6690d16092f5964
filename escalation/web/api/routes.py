"""The JSON API for partners' case-management systems: the pages' use cases, under /api/v1.

A client authenticates with its organisation's API token and acts for that organisation: it sees
the challenges its organisation raised or answers (a partnership business unit's token: its
partnership's), and records the events its side may record. A challenge it may not see is 404
on every endpoint, never 403, so a reference reveals nothing. Each event has its own endpoint and
typed body; `who` names the person at the partner, and the chronology records them with the
organisation and the token's label. Every change goes through `escalation.service`, exactly as
from the command line and the pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from escalation.casework import store
from escalation.casework.intake import RaiseRequest, Resolution
from escalation.casework.models import Challenge, Deadline, Organisation
from escalation.casework.service import Service
from escalation.casework.views import challenge_dict, chronology_rows, current_due
from escalation.errors import EscalationError, EventNotAllowed, InvalidInput, NotFound
from escalation.rules.machine import FINISHED, Event, Status, split_state
from escalation.web import store as store_web
from escalation.web.api import models as m
from escalation.web.auth import Principal, require_api_client
from escalation.web.context import Web
from escalation.web.permissions import Side, actions, may, sides

# Declared for the OpenAPI document (clients and fuzzers learn how to authenticate);
# `require_api_client` does the checking, with the JSON 403 every endpoint documents.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="Your organisation's API token: `Authorization: Bearer esc_…`",
)
router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(bearer)],
    responses={
        403: {"model": m.Problem, "description": "No valid API token, or not your side's event"},
        422: {"model": m.InvalidProblem, "description": "A field is missing or wrong"},
    },
)
Client = Annotated[Principal, Depends(require_api_client)]
Reference = Annotated[
    str,
    Path(pattern=r"^[A-Za-z0-9-]{1,32}$", description="e.g. DSCP-2026-00042"),
]
NOT_FOUND = "no challenge with that reference that your organisation can see"
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND_RESPONSE: Responses = {404: {"model": m.Problem, "description": "None you may see"}}
BODY_RESPONSES: Responses = {400: {"model": m.Problem, "description": "The body is not JSON"}}
RAISED_RESPONSES: Responses = {201: {"headers": {"Location": {"schema": {"type": "string"}}}}}
CONFLICT = {"model": m.NotAllowedProblem, "description": "The challenge's state does not allow it"}
EVENT_RESPONSES: Responses = BODY_RESPONSES | NOT_FOUND_RESPONSE | {409: CONFLICT}
# Service field names (the CLI's options) that the API spells differently.
FIELD_NAMES = {"by": "who", "requested-by": "who", "responding-org": "responding_org"}
# Refusals that are about the challenge's state, not the input: a conflict, as EventNotAllowed.
CONFLICT_FIELDS = frozenset({"acknowledge", "now"})
# Who owes the next move in each status (PROTOCOL.md §3); paused and resolved wait on nobody.
WAITING_ON = {
    Status.AWAITING_RESPONSE: Side.RESPONDER,
    Status.OVERDUE: Side.RESPONDER,
    Status.RESPONDED: Side.RAISER,
    Status.LAPSE_PROMPT: Side.RAISER,
    Status.OUTCOME_CHECK: Side.RAISER,
    Status.OUTCOME_NOT_IMPROVED: Side.RAISER,
}
FINISHED_STATES = sorted(status.value for status in FINISHED)


def _web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


# -- reading ---------------------------------------------------------------------------------------


def _visible(session: Session, principal: Principal, reference: str) -> Challenge:
    challenge = store_web.visible_challenge(session, principal.visible(), reference)
    if challenge is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return challenge


def _view(
    web: Web, principal: Principal, challenge: Challenge, pending: Sequence[Deadline] = ()
) -> dict[str, Any]:
    """`challenge_dict`, and what the API adds: the level's name, whether it is overdue now,
    and the events this client may record now."""
    protocol = web.service.protocol_of(challenge)
    data = challenge_dict(challenge, protocol, pending)
    due = current_due(challenge)  # None unless the responder owes a response with the clock on
    return data | {
        "level_name": protocol.level(challenge.level).name if challenge.level else None,
        "overdue": due is not None and due < web.now(),
        "actions": [e.value for e in actions(principal, challenge, data["allowed_events"])],
        "child_reference": challenge.child_ref,
    }


def _record(
    web: Web, session: Session, principal: Principal, challenge: Challenge
) -> m.ChallengeOut:
    pending = store.pending_deadlines(session, challenge.id)
    return m.ChallengeOut.model_validate(_view(web, principal, challenge, pending))


def _awaiting(principal: Principal, challenge: Challenge) -> bool:
    _, status = split_state(challenge.state)
    return WAITING_ON.get(status) in sides(principal, challenge)


def _listing(principal: Principal, status: str, overdue: bool) -> Select[Challenge]:
    query = select(Challenge).where(principal.visible())
    if status == "open":
        query = query.where(Challenge.state.not_in(FINISHED_STATES))
    elif status == "closed":
        query = query.where(Challenge.state.in_(FINISHED_STATES))
    if overdue:
        query = query.where(Challenge.state.like("level\\_%", escape="\\"))
    return query


@router.get(
    "/challenges",
    operation_id="list_challenges",
    response_model=m.ChallengePage,
    summary="Your challenges",
)
def list_challenges(
    request: Request,
    principal: Client,
    status: Annotated[
        Literal["open", "closed", "all"],
        Query(description="open: not withdrawn or closed; closed: withdrawn or closed"),
    ] = "open",
    awaiting_me: Annotated[
        bool, Query(description="Only those waiting on your side's next move")
    ] = False,
    overdue: Annotated[bool, Query(description="Only those past their response due date")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> m.ChallengePage:
    """Oldest first, so paging is stable while new challenges arrive."""
    web = _web(request)
    query = _listing(principal, status, overdue)
    ordered = query.order_by(Challenge.raised_at, Challenge.id).options(
        selectinload(Challenge.stages),
        selectinload(Challenge.raising_org),
        selectinload(Challenge.responding_org),
    )
    with web.sessions() as session:
        if not (awaiting_me or overdue):
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            page = list(session.scalars(ordered.limit(limit).offset(offset)))
        else:
            # Whose move it is and whether it is late are read from the stages, in Python.
            found = [
                c
                for c in session.scalars(ordered)
                if (not awaiting_me or _awaiting(principal, c))
                and (not overdue or _view(web, principal, c)["overdue"])
            ]
            total, page = len(found), found[offset : offset + limit]
        items = [m.ChallengeSummary.model_validate(_view(web, principal, c)) for c in page]
    return m.ChallengePage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/challenges/{reference}",
    operation_id="get_challenge",
    response_model=m.ChallengeOut,
    responses=NOT_FOUND_RESPONSE,
    summary="One challenge",
)
def get_challenge(reference: Reference, request: Request, principal: Client) -> m.ChallengeOut:
    """The record, its current level and due date, and the events you may record now."""
    web = _web(request)
    with web.sessions() as session:
        return _record(web, session, principal, _visible(session, principal, reference))


@router.get(
    "/challenges/{reference}/chronology",
    operation_id="get_chronology",
    response_model=list[m.ChronologyEntryOut],
    responses=NOT_FOUND_RESPONSE,
    summary="A challenge's chronology",
)
def get_chronology(
    reference: Reference, request: Request, principal: Client
) -> list[m.ChronologyEntryOut]:
    """Every entry, oldest first: when, who, factual concern, action, impact."""
    web = _web(request)
    with web.sessions() as session:
        challenge = _visible(session, principal, reference)
        rows = chronology_rows(store.chronology(session, challenge.id))
    return [m.ChronologyEntryOut.model_validate(row) for row in rows]


@router.get(
    "/organisations",
    operation_id="list_organisations",
    response_model=list[m.OrganisationOut],
    summary="A partnership's organisations",
)
def list_organisations(
    request: Request,
    principal: Client,
    partnership: Annotated[
        str | None, Query(pattern=r"^[a-z][a-z0-9_-]{0,63}$", description="Default: yours")
    ] = None,
) -> list[m.OrganisationOut]:
    """The directory's organisations of a partnership (the child's): the choices for
    `responding_org`."""
    web = _web(request)
    with web.sessions() as session:
        try:
            found = store.organisations(
                session, partnership or principal.partnership, web.registry.partnerships()
            )
        except InvalidInput as exc:
            raise _invalid(exc, "query") from None
        return [m.OrganisationOut.model_validate(org, from_attributes=True) for org in found]


# -- raising ---------------------------------------------------------------------------------------


@router.post(
    "/challenges",
    status_code=201,
    operation_id="raise_challenge",
    response_model=m.ChallengeOut,
    responses=RAISED_RESPONSES | BODY_RESPONSES,
    summary="Raise a challenge",
)
def raise_challenge(
    body: m.RaiseBody, request: Request, response: Response, principal: Client
) -> m.ChallengeOut:
    """Raised by your organisation. Immediate risk of significant harm is never a challenge:
    phone the front door (MASH) or 999."""
    web = _web(request)
    partnership = body.partnership or principal.partnership
    fields = body.model_dump(exclude={"partnership", "decision_date", "responding_org"})
    raise_request = RaiseRequest(
        partnership=partnership,
        raising_org=principal.organisation_name,
        raising_org_id=principal.organisation_id,
        responding_org=body.responding_org or "",
        decision_date=body.decision_date.isoformat() if body.decision_date else None,
        **fields,
    )
    if body.responding_org_id is None and body.responding_org is not None:
        # Names are unique only within a partnership: the child's partnership's first.
        raise_request.responding_org_id = _organisation_id(web, body.responding_org, partnership)
    by_id = body.responding_org_id is not None
    try:
        # The service applies the pages' rule for whom a challenge may be addressed to.
        reference = web.service.raise_challenge(raise_request, web.now())
    except InvalidInput as exc:
        raise _invalid(_responding(exc, by_id)) from None
    except NotFound as exc:
        # The service names the option: "responding-org: no organisation named …".
        field, _, problem = str(exc).partition(": ")
        raise _invalid(_responding(InvalidInput(field, problem), by_id)) from None
    except EscalationError as exc:
        raise _invalid(InvalidInput("body", str(exc))) from None
    response.headers["Location"] = f"{router.prefix}/challenges/{reference}"
    with web.sessions() as session:
        return _record(web, session, principal, _visible(session, principal, reference))


def _responding(exc: InvalidInput, by_id: bool) -> InvalidInput:
    """A refused responding organisation, named as the body named it (by id or by name)."""
    if exc.field == "responding-org" and by_id:
        return InvalidInput("responding_org_id", exc.problem)
    return exc


def _organisation_id(web: Web, name: str, partnership: str) -> int | None:
    with web.sessions() as session:
        return session.scalar(
            select(Organisation.id).where(
                func.lower(Organisation.name) == name.lower(),
                Organisation.partnership == partnership.lower(),
            )
        )


def _invalid(exc: InvalidInput, where: str = "body") -> RequestValidationError:
    """The service's refusal, in the same 422 shape as a body that fails its model."""
    field = FIELD_NAMES.get(exc.field, exc.field.replace("-", "_"))
    if field.startswith("action["):  # action[2] (from 1) is the body's actions.1
        field = f"actions.{int(field[7:-1]) - 1}"
    return RequestValidationError(
        [{"loc": (where, *field.split(".")), "msg": exc.problem, "type": "value_error"}]
    )


# -- events ----------------------------------------------------------------------------------------

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
    web = _web(request)
    with web.sessions() as session:
        challenge = _visible(session, principal, reference)
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
            raise _invalid(exc) from None
        return _conflict(web, principal, reference, str(exc))
    except (EventNotAllowed, StaleDataError) as exc:
        return _conflict(web, principal, reference, str(exc) or "changed meanwhile: try again")
    except EscalationError as exc:  # e.g. a date the working-day calendar cannot place
        raise _invalid(InvalidInput("body", str(exc))) from None
    with web.sessions() as session:
        return _record(web, session, principal, _visible(session, principal, reference))


def _conflict(web: Web, principal: Principal, reference: str, detail: str) -> JSONResponse:
    with web.sessions() as session:
        view = _view(web, principal, _visible(session, principal, reference))
    problem = m.NotAllowedProblem.model_validate(view | {"detail": detail})
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
