"""What happened to the report benchmark's challenges: one scenario per kind, with its share.

A scenario is the life of one challenge as a list of steps, each on a working day counted from
the day it was raised (day 0) at a local time, raised `back` working days before the
benchmark's `AS_OF`. Between steps, and after the last one up to `AS_OF` (less `sweep_lag`),
the challenge's own deadlines are applied at their own moments, as an on-time worker would:
acknowledgement reminders, response reminders, lapses to the next level (level 1 is due 5
working days after it opened, level 2 after 2, level 3 after 5, level 4 after 10), outcome
checks 20 working days after resolution, their reminder 10 working days later and the closing
as "outcome not confirmed" 5 after that. `expect` is the state it must be in at `AS_OF`.

Shares are of all challenges and add up to about 0.86; they are scaled to the row count. About
92 % end closed or withdrawn, the rest are in progress at `AS_OF`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Step:
    day: int  # working days after the day it was raised
    time: str  # local "HH:MM"
    action: str  # raise, ack, respond, accept, resolve, escalate, withdraw, outcome, …
    arg: str = ""  # a response kind, an outcome, "yes"/"no" for an outcome check answer


@dataclass(frozen=True)
class Scenario:
    name: str
    share: float
    back: int  # raised this many working days before AS_OF's date
    steps: tuple[Step, ...]
    expect: str  # its state at AS_OF
    outcomes: tuple[str, ...] = ()  # the outcomes its copies are resolved with, if resolved
    urgent: bool = False
    start_level: int = 1
    max_shift_weeks: int | None = None  # a cap for open challenges with no clock running
    sweep_lag: timedelta = timedelta(0)  # deadlines due this close to AS_OF are not yet applied


def _s(day: int, time: str, action: str, arg: str = "") -> Step:
    return Step(day, time, action, arg)


RAISE = _s(0, "10:00", "raise")
ACK = _s(0, "14:00", "ack")
CHANGED = ("decision_changed", "new_referral_accepted", "stepped_up", "service_provided")
UPHELD = ("decision_upheld", "information_shared")
OTHER = ("service_provided", "information_shared", "stepped_down", "other")


def _to_level_4(then: tuple[Step, ...]) -> tuple[Step, ...]:
    """Raised, upheld and escalated by the raiser at each level: level 4 opens on day 4."""
    return (
        RAISE,
        ACK,
        _s(1, "10:00", "respond", "upheld"),
        _s(1, "14:00", "escalate"),
        _s(2, "10:00", "respond", "upheld"),
        _s(2, "14:00", "escalate"),
        _s(4, "10:00", "respond", "upheld"),
        _s(4, "14:00", "escalate"),
        *then,
    )


_CLOSED = "closed"
FINISHED: tuple[Scenario, ...] = (
    Scenario(
        "resolved at 1, improved",
        0.20,
        30,
        (RAISE, ACK, _s(2, "11:00", "respond", "changed"), _s(3, "10:00", "accept"),
         _s(24, "11:00", "outcome", "yes")),
        _CLOSED,
        CHANGED,
    ),
    Scenario(
        "resolved at 1, outcome not confirmed",
        0.09,
        45,
        (RAISE, _s(1, "09:30", "ack"), _s(3, "11:00", "respond", "partly_changed"),
         _s(4, "10:00", "accept")),
        _CLOSED,
        OTHER,
    ),
    Scenario(
        "upheld at 1, not improved, closed",
        0.05,
        33,
        (RAISE, _s(0, "15:00", "ack"), _s(4, "11:00", "respond", "upheld"),
         _s(5, "10:00", "accept"), _s(26, "11:00", "outcome", "no"),
         _s(28, "11:00", "close")),
        _CLOSED,
        UPHELD,
    ),
    Scenario(
        "escalated by the raiser, resolved at 2",
        0.09,
        32,
        (RAISE, _s(1, "10:00", "ack"), _s(3, "11:00", "respond", "upheld"),
         _s(4, "10:00", "escalate"), _s(5, "09:30", "ack"), _s(5, "14:00", "respond", "changed"),
         _s(6, "10:00", "accept"), _s(27, "11:00", "outcome", "yes")),
        _CLOSED,
        CHANGED[:3],
    ),
    Scenario(
        "unanswered at 1, resolved at 2",
        0.07,
        34,
        (RAISE, _s(1, "10:00", "ack"), _s(6, "10:00", "ack"), _s(7, "11:00", "respond", "changed"),
         _s(8, "10:00", "accept"), _s(29, "11:00", "outcome", "yes")),
        _CLOSED,
        CHANGED,
    ),
    Scenario(
        "unanswered at 1 and 2, resolved at 3",
        0.03,
        37,
        (RAISE, _s(8, "10:00", "ack"), _s(10, "11:00", "respond", "changed"),
         _s(11, "10:00", "accept"), _s(32, "11:00", "outcome", "yes")),
        _CLOSED,
        CHANGED[:2],
    ),
    Scenario(
        "escalated to the partnership, resolved at 4",
        0.02,
        55,
        _to_level_4((_s(5, "10:00", "ack"), _s(12, "11:00", "resolve"))),
        _CLOSED,
        ("decision_upheld", "decision_changed", "other"),
    ),
    Scenario(
        "started at 3, resolved",
        0.02,
        30,
        (RAISE, ACK, _s(3, "11:00", "respond", "changed"), _s(4, "10:00", "accept"),
         _s(25, "11:00", "outcome", "yes")),
        _CLOSED,
        CHANGED[:3],
        start_level=3,
    ),
    Scenario(
        "urgent, resolved at 1 the same day",
        0.03,
        26,
        (RAISE, _s(0, "10:30", "ack"), _s(0, "13:00", "respond", "changed"),
         _s(0, "15:00", "accept"), _s(21, "11:00", "outcome", "yes")),
        _CLOSED,
        CHANGED[:3],
        urgent=True,
    ),
    Scenario(
        "withdrawn at 1",
        0.06,
        5,
        (RAISE, _s(1, "10:00", "ack"), _s(2, "11:00", "withdraw")),
        "withdrawn",
    ),
    Scenario(
        "withdrawn at 2",
        0.02,
        6,
        (RAISE, ACK, _s(2, "11:00", "respond", "upheld"), _s(3, "10:00", "escalate"),
         _s(4, "11:00", "withdraw")),
        "withdrawn",
    ),
    Scenario(
        "resolved at 1 by agreement, improved",
        0.06,
        27,
        (RAISE, ACK, _s(1, "15:00", "resolve"), _s(22, "11:00", "outcome", "yes")),
        _CLOSED,
        ("information_shared", "service_provided", "decision_changed"),
    ),
    Scenario(
        "not improved, reopened, resolved at 1 again",
        0.02,
        54,
        (RAISE, ACK, _s(2, "11:00", "respond", "changed"), _s(3, "10:00", "accept"),
         _s(24, "11:00", "outcome", "no"), _s(25, "10:00", "reopen"), _s(26, "10:00", "ack"),
         _s(27, "11:00", "respond", "changed"), _s(28, "10:00", "accept"),
         _s(49, "11:00", "outcome", "yes")),
        _CLOSED,
        CHANGED,
    ),
    Scenario(
        "paused at 2, resolved at 2",
        0.02,
        36,
        (RAISE, ACK, _s(1, "10:00", "respond", "upheld"), _s(1, "14:00", "escalate"),
         _s(2, "11:00", "pause"), _s(8, "10:00", "resume"), _s(9, "11:00", "respond", "changed"),
         _s(10, "10:00", "accept"), _s(31, "11:00", "outcome", "yes")),
        _CLOSED,
        CHANGED,
    ),
    Scenario(
        "not improved, escalated, resolved at 2",
        0.01,
        53,
        (RAISE, ACK, _s(2, "11:00", "respond", "changed"), _s(3, "10:00", "accept"),
         _s(24, "11:00", "outcome", "no"), _s(25, "10:00", "escalate"),
         _s(26, "11:00", "respond", "changed"), _s(27, "10:00", "accept"),
         _s(48, "11:00", "outcome", "yes")),
        _CLOSED,
        CHANGED,
    ),
)  # fmt: skip

IN_PROGRESS: tuple[Scenario, ...] = (
    Scenario("new today, not acknowledged", 0.006, 0, (_s(0, "09:30", "raise"),),
             "level_1.awaiting_response"),
    Scenario("level 1, acknowledged", 0.010, 2, (RAISE, ACK), "level_1.awaiting_response"),
    Scenario("level 1, acknowledgement reminded", 0.004, 3, (RAISE,),
             "level_1.awaiting_response"),
    Scenario("level 2 after a lapse", 0.006, 6, (RAISE, _s(1, "10:00", "ack")),
             "level_2.awaiting_response"),
    Scenario(
        "level 3 after escalations",
        0.004,
        6,
        (RAISE, _s(0, "11:00", "ack"), _s(1, "10:00", "respond", "upheld"),
         _s(1, "14:00", "escalate"), _s(2, "10:00", "respond", "upheld"),
         _s(2, "14:00", "escalate"), _s(3, "10:00", "ack")),
        "level_3.awaiting_response",
    ),
    Scenario("level 4", 0.002, 10, _to_level_4((_s(5, "10:00", "ack"),)),
             "level_4.awaiting_response"),
    Scenario("level 4 overdue", 0.006, 25, _to_level_4((_s(5, "10:00", "ack"),)),
             "level_4.overdue", max_shift_weeks=12),
    Scenario("level 1 responded, raiser reminded", 0.006, 10,
             (RAISE, ACK, _s(2, "11:00", "respond", "upheld")), "level_1.responded",
             max_shift_weeks=4),
    Scenario(
        "level 2 paused",
        0.002,
        8,
        (RAISE, ACK, _s(1, "10:00", "respond", "upheld"), _s(1, "14:00", "escalate"),
         _s(2, "11:00", "pause")),
        "level_2.paused",
        max_shift_weeks=6,
    ),
    Scenario("resolved, outcome check to come", 0.012, 10,
             (RAISE, ACK, _s(2, "11:00", "respond", "changed"), _s(3, "10:00", "accept")),
             "resolved", CHANGED),
    Scenario("outcome check asked", 0.006, 26,
             (RAISE, ACK, _s(2, "11:00", "respond", "changed"), _s(3, "10:00", "accept")),
             "outcome_check", CHANGED),
    Scenario(
        "not improved, raiser reminded",
        0.002,
        33,
        (RAISE, ACK, _s(2, "11:00", "respond", "changed"), _s(3, "10:00", "accept"),
         _s(24, "11:00", "outcome", "no")),
        "outcome_not_improved",
        CHANGED,
        max_shift_weeks=6,
    ),
    Scenario(
        "level 2 overdue, the sweep behind since Friday",
        0.001,
        3,
        (RAISE, _s(0, "10:30", "ack"), _s(0, "11:00", "respond", "upheld"),
         _s(0, "14:00", "escalate")),
        "level_2.awaiting_response",
        sweep_lag=timedelta(days=3),
    ),
)  # fmt: skip

SCENARIOS = FINISHED + IN_PROGRESS
