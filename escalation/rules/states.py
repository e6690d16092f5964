"""The vocabulary of the challenge state machine: its events, statuses and flat state names, the
effects a transition asks for, and the sets of states other parts ask about.

State names are flat strings: `new`, `level_<n>.awaiting_response`, `level_<n>.responded`,
`level_<n>.paused`, `level_<n>.lapse_prompt` (on_lapse = prompt), `level_<n>.overdue`
(on_lapse = stay), `resolved`, `outcome_check`, `outcome_not_improved`, `closed`, `withdrawn`.
The machine built from them is in `machine`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Event(StrEnum):
    """Every event of PROTOCOL.md §3. `lapse` and `request_outcome` are the sweep's alone."""

    RAISE = "raise"
    ACKNOWLEDGE = "acknowledge"
    RESPOND = "respond"
    ACCEPT = "accept"
    ESCALATE = "escalate"
    LAPSE = "lapse"
    PAUSE = "pause"
    RESUME = "resume"
    EXTEND = "extend"
    WITHDRAW = "withdraw"
    RESOLVE = "resolve"
    REQUEST_OUTCOME = "request_outcome"
    OUTCOME = "outcome"
    REOPEN = "reopen"
    CLOSE = "close"


SWEEP_ONLY = frozenset({Event.LAPSE, Event.REQUEST_OUTCOME})


class Status(StrEnum):
    """The level-independent part of a state."""

    NEW = "new"
    AWAITING_RESPONSE = "awaiting_response"
    RESPONDED = "responded"
    PAUSED = "paused"
    LAPSE_PROMPT = "lapse_prompt"
    OVERDUE = "overdue"
    RESOLVED = "resolved"
    OUTCOME_CHECK = "outcome_check"
    OUTCOME_NOT_IMPROVED = "outcome_not_improved"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


FINISHED = frozenset({Status.CLOSED, Status.WITHDRAWN})
AFTER_RESOLUTION = frozenset({Status.RESOLVED, Status.OUTCOME_CHECK, Status.OUTCOME_NOT_IMPROVED})
# The states in which a response is awaited (the digest's, the dashboard's and the report's
# "awaiting" figures; `casework.store` counts the same ones as overdue).
AWAITING = (Status.AWAITING_RESPONSE.value, Status.OVERDUE.value, Status.LAPSE_PROMPT.value)

# Who the chronology names when the sweep acts, and the reasons a challenge is closed.
SYSTEM = "system (sweep)"
NOT_CONFIRMED = "outcome not confirmed"  # closed by the sweep: the outcome check went unanswered


class EffectKind(StrEnum):
    """What the service must do to the record when a transition happens."""

    OPEN_STAGE = "open_stage"  # a new stage at the destination level, clock from now
    CLOSE_STAGE = "close_stage"  # the current stage ends (escalated / resolved / withdrawn)
    RECORD_ACK = "record_ack"
    RECORD_RESPONSE = "record_response"
    PAUSE_CLOCK = "pause_clock"
    RESUME_CLOCK = "resume_clock"
    EXTEND_DUE = "extend_due"
    MARK_OVERDUE = "mark_overdue"
    PROMPT_RAISER = "prompt_raiser"
    RECORD_RESOLUTION = "record_resolution"
    RECORD_WITHDRAWAL = "record_withdrawal"
    ASK_OUTCOME = "ask_outcome"
    RECORD_OUTCOME_ANSWER = "record_outcome_answer"
    CLOSE_CASE = "close_case"
    REOPEN_CASE = "reopen_case"


@dataclass(frozen=True)
class Effect:
    kind: EffectKind
    level: int | None  # the destination level where it matters


_STATE_RE = re.compile(r"^level_(\d+)\.(\w+)$")


def split_state(state: str) -> tuple[int | None, Status]:
    """`level_3.paused` → (3, PAUSED); `closed` → (None, CLOSED)."""
    match = _STATE_RE.match(state)
    if match:
        return int(match.group(1)), Status(match.group(2))
    return None, Status(state)


def state_name(level: int, status: Status) -> str:
    return f"level_{level}.{status.value}"


def is_open(state: str) -> bool:
    """Open: a level is in play (not new, not resolved or after, not finished)."""
    level, _ = split_state(state)
    return level is not None
