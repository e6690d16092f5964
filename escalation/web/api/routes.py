"""The JSON API for partners' case-management systems: the pages' use cases, under /api/v1.

A client authenticates with its organisation's API token and acts for that organisation: it sees
the challenges its organisation raised or answers (a partnership business unit's token: its
partnership's), and records the events its side may record. A challenge it may not see is 404
on every endpoint, never 403, so a reference reveals nothing. This module holds the router and
its reading and raising endpoints; each event has its own endpoint and typed body in
`api.events`, included at the end. Every change goes through `escalation.casework.service`, exactly
as from the command line and the pages.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.security import HTTPBearer

from escalation.casework import store
from escalation.casework.intake import RaiseRequest
from escalation.casework.models import Challenge
from escalation.casework.views import chronology_rows
from escalation.errors import EscalationError, InvalidInput, NotFound
from escalation.rules.pinning import ProtocolDrifted
from escalation.rules.states import Status, split_state
from escalation.web import store_challenges
from escalation.web.api import events as api_events
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
from escalation.web.permissions import Side, sides
from escalation.web.store_challenges import Listing

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
RAISED_RESPONSES: Responses = {
    201: {"headers": {"Location": {"schema": {"type": "string"}}}},
    503: {
        "model": m.Problem,
        "description": "Raising with this partnership is paused: its protocol file was changed "
        "in place and must be corrected by its business manager (then the service restarted). "
        "Also answered, with `service unavailable`, when the database cannot be reached",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}
# Not the file's name or the server's paths: those are the business manager's to read, in the
# log (below) and in `escalation workflows validate`.
PAUSED = (
    "challenges cannot be raised with this partnership just now: its protocol was changed in "
    "place and must be corrected by its business manager; try again later, or phone the "
    "partnership's business unit if it cannot wait. If a child is at immediate risk of "
    "significant harm, phone your local children's services front door, or 999 in an emergency"
)
log = logging.getLogger("escalation.web")


# Who owes the next move in each status (PROTOCOL.md §3); paused and resolved wait on nobody.
WAITING_ON = {
    Status.AWAITING_RESPONSE: Side.RESPONDER,
    Status.OVERDUE: Side.RESPONDER,
    Status.RESPONDED: Side.RAISER,
    Status.LAPSE_PROMPT: Side.RAISER,
    Status.OUTCOME_CHECK: Side.RAISER,
    Status.OUTCOME_NOT_IMPROVED: Side.RAISER,
}


# -- reading ---------------------------------------------------------------------------------------


def _awaiting(principal: Principal, challenge: Challenge) -> bool:
    _, status = split_state(challenge.state)
    return WAITING_ON.get(status) in sides(principal, challenge)


def _listing(principal: Principal, status: str, overdue: bool) -> Listing:
    """The client's challenges that `status` asks for; only those at a level when `overdue`
    (the rest cannot be)."""
    finished = {"open": False, "closed": True}.get(status)
    return Listing(principal.visible(), finished, at_a_level=overdue)


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
    web = web_of(request)
    listing = _listing(principal, status, overdue)
    with web.sessions() as session:
        if not (awaiting_me or overdue):
            total = store_challenges.listed_count(session, listing)
            page = store_challenges.listed(session, listing, limit, offset)
        else:
            # Whose move it is and whether it is late are read from the stages, in Python.
            found = [
                c
                for c in store_challenges.listed(session, listing)
                if (not awaiting_me or _awaiting(principal, c))
                and (not overdue or view(web, principal, c)["overdue"])
            ]
            total, page = len(found), found[offset : offset + limit]
        items = [m.ChallengeSummary.model_validate(view(web, principal, c)) for c in page]
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
    web = web_of(request)
    with web.sessions() as session:
        return record(web, session, principal, visible(session, principal, reference))


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
    web = web_of(request)
    with web.sessions() as session:
        challenge = visible(session, principal, reference)
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
    web = web_of(request)
    with web.sessions() as session:
        try:
            found = store.organisations(
                session, partnership or principal.partnership, web.registry.partnerships()
            )
        except InvalidInput as exc:
            raise invalid(exc, "query") from None
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
    web = web_of(request)
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
        raise invalid(_responding(exc, by_id)) from None
    except NotFound as exc:
        # The service names the option: "responding-org: no organisation named …".
        field, _, problem = str(exc).partition(": ")
        raise invalid(_responding(InvalidInput(field, problem), by_id)) from None
    except ProtocolDrifted as exc:
        log.error("raise refused: %s", exc)  # the protocol's key and file, nothing typed
        raise HTTPException(
            status_code=503, detail=PAUSED, headers={"Retry-After": "3600"}
        ) from None
    except EscalationError as exc:
        raise invalid(InvalidInput("body", str(exc))) from None
    response.headers["Location"] = f"{router.prefix}/challenges/{reference}"
    with web.sessions() as session:
        return record(web, session, principal, visible(session, principal, reference))


def _responding(exc: InvalidInput, by_id: bool) -> InvalidInput:
    """A refused responding organisation, named as the body named it (by id or by name)."""
    if exc.field == "responding-org" and by_id:
        return InvalidInput("responding_org_id", exc.problem)
    return exc


def _organisation_id(web: Web, name: str, partnership: str) -> int | None:
    with web.sessions() as session:
        return store_challenges.organisation_id_named(session, name, partnership)


# After this router's own endpoints, so that the OpenAPI document lists them first, as before.
router.include_router(api_events.router)
