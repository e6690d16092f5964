"""What the JSON API's endpoints share: the client (`Client`: its API token's principal), the
reference in a path, the responses they document, a challenge as the API shows it (`view`,
`record`), and its two refusals: 404 for a challenge the client may not see (never 403, so a
reference reveals nothing), and the service's `InvalidInput` in the 422 shape of a body that
fails its model (`invalid`).

Used by `api.routes` (reading and raising) and `api.events` (recording events).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from escalation.casework import store
from escalation.casework.models import Challenge, Deadline
from escalation.casework.views import challenge_dict, current_due
from escalation.errors import InvalidInput
from escalation.web import store_challenges
from escalation.web.api import models as m
from escalation.web.auth import Principal, require_api_client
from escalation.web.context import Web
from escalation.web.permissions import actions

Client = Annotated[Principal, Depends(require_api_client)]
Reference = Annotated[
    str,
    Path(pattern=r"^[A-Za-z0-9-]{1,32}$", description="e.g. DSCP-2026-00042"),
]
NOT_FOUND = "no challenge with that reference that your organisation can see"
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND_RESPONSE: Responses = {404: {"model": m.Problem, "description": "None you may see"}}
BODY_RESPONSES: Responses = {400: {"model": m.Problem, "description": "The body is not JSON"}}
# Service field names (the CLI's options) that the API spells differently.
FIELD_NAMES = {"by": "who", "requested-by": "who", "responding-org": "responding_org"}


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def visible(session: Session, principal: Principal, reference: str) -> Challenge:
    challenge = store_challenges.visible_challenge(session, principal.visible(), reference)
    if challenge is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return challenge


def view(
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


def record(
    web: Web, session: Session, principal: Principal, challenge: Challenge
) -> m.ChallengeOut:
    pending = store.pending_deadlines(session, challenge.id)
    return m.ChallengeOut.model_validate(view(web, principal, challenge, pending))


def invalid(exc: InvalidInput, where: str = "body") -> RequestValidationError:
    """The service's refusal, in the same 422 shape as a body that fails its model."""
    field = FIELD_NAMES.get(exc.field, exc.field.replace("-", "_"))
    if field.startswith("action["):  # action[2] (from 1) is the body's actions.1
        field = f"actions.{int(field[7:-1]) - 1}"
    return RequestValidationError(
        [{"loc": (where, *field.split(".")), "msg": exc.problem, "type": "value_error"}]
    )
