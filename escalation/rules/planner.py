"""Which deadlines a stage or a resolved challenge has, and when (pure: no SQL, no clock).

Rules (PROTOCOL.md §3–4):
- a level's response is due N working days (or, urgent, N working hours) after it opened;
- acknowledgement has its own, faster clock; a reminder goes if it has not come by then;
- reminders "K before" go at the opening of business on the Kth working day before the due day;
- a level that stays overdue (the last) reminds every N working days, at most M times;
- prompts that follow a window ("within 5 working days of a response", "no answer in 10 working
  days") go at the opening of business after that window closes;
- every reminder expires when what it announces has passed: the sweep records an expired one as
  skipped instead of sending it late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from escalation.errors import InvalidInput
from escalation.rules.model import Protocol
from escalation.rules.workdays import Calendar, Duration, Unit


class DeadlineKind(StrEnum):
    """What a scheduled deadline does when the sweep reaches it."""

    ACKNOWLEDGEMENT_DUE = "acknowledgement_due"  # remind the responder to acknowledge
    REMINDER = "reminder"  # a response is due soon
    RESPONSE_DUE = "response_due"  # the level lapses
    OVERDUE_REMINDER = "overdue_reminder"  # at a level that stays overdue
    RAISER_REMINDER = "raiser_reminder"  # the raiser has neither accepted nor escalated
    OUTCOME_CHECK = "outcome_check"  # ask "has the child's situation improved?"
    OUTCOME_REMINDER = "outcome_reminder"
    OUTCOME_CLOSE = "outcome_close"  # closed as "outcome not confirmed"
    # `on_lapse: prompt, then …`: escalate, or alert the partnership, if the raiser has not
    LAPSE_FOLLOW_UP = "lapse_follow_up"


class DeadlineStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"  # its moment had passed when the sweep caught up
    CANCELLED = "cancelled"  # the challenge moved on before it was due
    FAILED = "failed"  # applying it raised an error; logged and left for a person


@dataclass(frozen=True)
class Planned:
    kind: DeadlineKind
    due_at: datetime
    expires_at: datetime | None = None
    detail: str = ""


@dataclass(frozen=True)
class StagePlan:
    due_at: datetime
    acknowledge_due_at: datetime
    deadlines: tuple[Planned, ...]


def plan_stage(protocol: Protocol, level: int, urgent: bool, start: datetime) -> StagePlan:
    """Deadlines for a stage that opens at `start`."""
    calendar = protocol.calendar()
    timescales = protocol.level(level).timescales(urgent)
    due = calendar.due_after(start, timescales.response_due)
    ack = calendar.due_after(start, timescales.acknowledge_due)
    deadlines = [
        Planned(
            DeadlineKind.ACKNOWLEDGEMENT_DUE,
            ack,
            due,
            f"not acknowledged within {timescales.acknowledge_due}",
        )
    ]
    deadlines += response_deadlines(protocol, level, urgent, start, due)
    return StagePlan(due, ack, tuple(deadlines))


def response_deadlines(
    protocol: Protocol, level: int, urgent: bool, after: datetime, due: datetime
) -> list[Planned]:
    """Reminders before `due` that fall after `after`, then the response deadline itself."""
    calendar = protocol.calendar()
    planned = []
    for before in protocol.level(level).timescales(urgent).reminders:
        at = calendar.reminder_before(due, before)
        if after < at < due:
            planned.append(Planned(DeadlineKind.REMINDER, at, due, f"{before} before due"))
    planned.append(Planned(DeadlineKind.RESPONSE_DUE, due))
    return planned


def overdue_reminders(protocol: Protocol, level: int, since: datetime) -> list[Planned]:
    """Reminders every N working days after `since`, at most M; each expires at the next."""
    rule = protocol.level(level).overdue_reminders
    if rule is None:
        return []
    calendar = protocol.calendar()
    instants = []
    at = since
    for _ in range(rule.max):
        at = calendar.opening_after(at, rule.every)
        instants.append(at)
    expiries: list[datetime | None] = [*instants[1:], None]
    return [
        Planned(DeadlineKind.OVERDUE_REMINDER, at, expiry, f"overdue reminder {i} of {rule.max}")
        for i, (at, expiry) in enumerate(zip(instants, expiries, strict=True), start=1)
    ]


def after_window(calendar: Calendar, start: datetime, window: Duration) -> datetime:
    """Opening of business after a window of N working days from `start` has closed.

    A window in working hours ends N business hours after `start`, and the prompt goes then.
    """
    if window.unit is Unit.WORKING_HOURS:
        return calendar.add_business_time(start, timedelta(hours=window.amount))
    return calendar.opening_after(start, Duration(window.amount + 1, window.unit))


def raiser_reminder(protocol: Protocol, since: datetime) -> Planned:
    at = after_window(protocol.calendar(), since, protocol.raiser_decision_reminder)
    return Planned(
        DeadlineKind.RAISER_REMINDER,
        at,
        None,
        f"no decision within {protocol.raiser_decision_reminder}",
    )


def lapse_follow_up(protocol: Protocol, level: int, prompted_at: datetime) -> list[Planned]:
    """What `prompt, then escalate | alert the partnership after N` does once the raiser has had
    N working days (at the opening after the window, as a raiser reminder)."""
    follow_up = protocol.level(level).lapse_follow_up
    if follow_up is None:
        return []
    at = after_window(protocol.calendar(), prompted_at, follow_up.after)
    detail = f"not escalated within {follow_up.after} of the prompt: {follow_up.action.value}"
    return [Planned(DeadlineKind.LAPSE_FOLLOW_UP, at, None, detail)]


def outcome_check(protocol: Protocol, resolved_at: datetime) -> Planned:
    at = protocol.calendar().opening_after(resolved_at, protocol.outcome_check.ask_after)
    return Planned(
        DeadlineKind.OUTCOME_CHECK, at, None, f"{protocol.outcome_check.ask_after} after resolution"
    )


def outcome_follow_up(protocol: Protocol, asked_at: datetime) -> list[Planned]:
    """One reminder after the answer window, then closing as "outcome not confirmed"."""
    calendar = protocol.calendar()
    rules = protocol.outcome_check
    reminder = after_window(calendar, asked_at, rules.answer_due)
    close = calendar.due_after(reminder, rules.close_after_reminder)
    return [
        Planned(
            DeadlineKind.OUTCOME_REMINDER, reminder, close, f"no answer within {rules.answer_due}"
        ),
        Planned(
            DeadlineKind.OUTCOME_CLOSE,
            close,
            None,
            f"no answer {rules.close_after_reminder} after the reminder",
        ),
    ]


def remaining_business_time(protocol: Protocol, paused_at: datetime, due: datetime) -> timedelta:
    return protocol.calendar().business_time_between(paused_at, due)


def resumed_due(protocol: Protocol, resumed_at: datetime, remaining: timedelta) -> datetime:
    return protocol.calendar().add_business_time(resumed_at, remaining)


def extended_due(
    protocol: Protocol, until: date, now: datetime, current_due: datetime | None
) -> datetime:
    """Close of business on the agreed date, which must be a later working day."""
    calendar = protocol.calendar()
    if not calendar.is_working_day(until):
        why = calendar.holiday_name(until) or until.strftime("%A")
        raise InvalidInput("until", f"{until} is not a working day ({why})")
    due = calendar.closing(until)
    if due <= now:
        raise InvalidInput(
            "until", f"{until} has already closed; an extension must be in the future"
        )
    if current_due is not None and due <= current_due:
        raise InvalidInput(
            "until", f"{until} is not after the current due date; an extension must give more time"
        )
    return due
