"""What a reader may do to a challenge they can see: by their side of it and their role.

The state machine says which events the challenge allows now; this says which of those this
reader may record. The raising side accepts, escalates, withdraws and answers the outcome check;
the responding side acknowledges and responds; either side (or the partnership) records a pause,
a resumption or an agreed extension; a senior manager of either side, or the partnership,
records a resolution; the raiser or the partnership closes one after the outcome check.
"""

from __future__ import annotations

from enum import StrEnum

from escalation.casework.models import Challenge
from escalation.rules.model import Role
from escalation.rules.states import Event
from escalation.web.auth import API_ROLE, Principal


class Side(StrEnum):
    RAISER = "raiser"
    RESPONDER = "responder"
    PARTNERSHIP = "partnership"


RAISER_EVENTS = frozenset(
    {Event.ACCEPT, Event.ESCALATE, Event.WITHDRAW, Event.OUTCOME, Event.REOPEN}
)
RESPONDER_EVENTS = frozenset({Event.ACKNOWLEDGE, Event.RESPOND})
EITHER_SIDE_EVENTS = frozenset({Event.PAUSE, Event.RESUME, Event.EXTEND})
RESOLVE_ROLES = frozenset({Role.SENIOR_MANAGER.value, Role.PARTNERSHIP.value, Role.ADMIN.value})


def sides(principal: Principal, challenge: Challenge) -> set[Side]:
    found = set()
    if principal.organisation_id == challenge.raising_org_id:
        found.add(Side.RAISER)
    if principal.organisation_id == challenge.responding_org_id:
        found.add(Side.RESPONDER)
    if principal.in_partnership_unit and principal.partnership == challenge.partnership:
        found.add(Side.PARTNERSHIP)
    return found


def may(principal: Principal, challenge: Challenge, event: Event) -> bool:
    """Whether this reader may record `event` (whether the state allows it is the machine's)."""
    on = sides(principal, challenge)
    if not on:
        return False
    if event in RAISER_EVENTS:
        return Side.RAISER in on
    if event in RESPONDER_EVENTS:
        return Side.RESPONDER in on
    if event in EITHER_SIDE_EVENTS:
        return True
    if event is Event.RESOLVE:
        # An API token cannot say who is at the keyboard: only the partnership's may resolve
        # (a partner system records the raiser's acceptance, or asks a senior manager to).
        return Side.PARTNERSHIP in on or bool(principal.roles & RESOLVE_ROLES - {API_ROLE})
    if event is Event.CLOSE:  # after the outcome check: the raiser who answered, or the partnership
        return bool(on & {Side.RAISER, Side.PARTNERSHIP})
    return False


def actions(principal: Principal, challenge: Challenge, allowed_now: list[str]) -> list[Event]:
    """The events this reader may record now, in the protocol's order."""
    return [Event(name) for name in allowed_now if may(principal, challenge, Event(name))]
