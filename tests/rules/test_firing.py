"""When each kind of deadline fires (issue 13, point 6): the table "When things fire" in
workflows/README.md, one test per row, on the shipped Devon protocol (`rules.planner`).

Every expected instant is worked out by hand and written as a literal with its Europe/London
offset; nothing expected is computed by the code under test. Devon: Mon-Thu 09:00-17:00,
Fri 09:00-16:00. Level 1: acknowledgement 1 working day, response 5, a reminder 1 working day
before; urgent: 1 and 4 working hours, a reminder 1 working hour before. Level 4: overdue
reminders every 2 working days, at most 3. The raiser is reminded 5 working days after a
response; the outcome check is asked 20 working days after resolution, reminded 10 working days
after asking, and closed 5 working days after the reminder.

Calendar facts: Christmas Fri 25 Dec 2026, Boxing Day Sat 26 Dec -> substitute Mon 28 Dec, New
Year's Day Fri 1 Jan 2027; GMT from Sun 25 Oct 2026 (BST, +01:00, before).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from escalation.rules import planner
from escalation.rules.model import Protocol
from escalation.rules.planner import DeadlineKind, Planned
from escalation.rules.registry import ProtocolRegistry


def at(text: str) -> datetime:
    """A literal instant with its offset, e.g. at("2026-12-24T17:00+00:00")."""
    instant = datetime.fromisoformat(text)
    assert instant.tzinfo is not None
    return instant


@pytest.fixture
def devon(registry: ProtocolRegistry) -> Protocol:
    return registry.get("devon", 1)


def instants(planned: list[Planned] | tuple[Planned, ...]) -> list[tuple[str, datetime]]:
    return [(p.kind.value, p.due_at) for p in planned]


# -- a level's own clocks: counted from the moment the level opens -------------------------------


def test_acknowledgement_response_and_reminder_across_christmas(devon: Protocol) -> None:
    # Opened Wednesday 23 December 10:00. Working days after the 23rd: Thu 24 (1), Tue 29 (2,
    # after Christmas and the Boxing Day substitute), Wed 30 (3), Thu 31 (4), Mon 4 Jan (5,
    # after New Year's Day).
    plan = planner.plan_stage(devon, 1, False, at("2026-12-23T10:00+00:00"))
    assert instants(plan.deadlines) == [
        ("acknowledgement_due", at("2026-12-24T17:00+00:00")),  # close of the 1st
        ("reminder", at("2026-12-31T09:00+00:00")),  # opening of the working day before
        ("response_due", at("2027-01-04T17:00+00:00")),  # close of the 5th
    ]
    assert plan.due_at == at("2027-01-04T17:00+00:00")
    assert plan.deadlines[0].expires_at == plan.due_at  # no use once the response is due


def test_the_start_day_never_counts_whatever_the_hour(devon: Protocol) -> None:
    # Opened on Wednesday 23 December at 16:59 or at 08:00 (before opening): the same clocks.
    late = planner.plan_stage(devon, 1, False, at("2026-12-23T16:59+00:00"))
    early = planner.plan_stage(devon, 1, False, at("2026-12-23T08:00+00:00"))
    assert instants(late.deadlines) == instants(early.deadlines)
    assert late.acknowledge_due_at == at("2026-12-24T17:00+00:00")


def test_the_clocks_cross_the_autumn_clock_change(devon: Protocol) -> None:
    # Opened Friday 23 October 10:00 BST; GMT from Sunday 25. Working days after the 23rd:
    # Mon 26 (1) ... Fri 30 (5), which closes at 16:00.
    plan = planner.plan_stage(devon, 1, False, at("2026-10-23T10:00+01:00"))
    assert instants(plan.deadlines) == [
        ("acknowledgement_due", at("2026-10-26T17:00+00:00")),
        ("reminder", at("2026-10-29T09:00+00:00")),
        ("response_due", at("2026-10-30T16:00+00:00")),
    ]


def test_the_clocks_cross_easter_and_the_spring_clock_change(devon: Protocol) -> None:
    # Opened Thursday 25 March 2027 10:00 GMT. Good Friday 26 March and Easter Monday 29 March
    # are bank holidays; BST from Sunday 28 March. Working days after the 25th: Tue 30 (1), Wed
    # 31 (2), Thu 1 Apr (3), Fri 2 (4), Mon 5 (5).
    plan = planner.plan_stage(devon, 1, False, at("2027-03-25T10:00+00:00"))
    assert instants(plan.deadlines) == [
        ("acknowledgement_due", at("2027-03-30T17:00+01:00")),
        ("reminder", at("2027-04-02T09:00+01:00")),
        ("response_due", at("2027-04-05T17:00+01:00")),
    ]
    # Urgent, opened at 15:30: an hour and a half that Thursday, then Tuesday 30 from 09:00 BST.
    urgent = planner.plan_stage(devon, 1, True, at("2027-03-25T15:30+00:00"))
    assert instants(urgent.deadlines) == [
        ("acknowledgement_due", at("2027-03-25T16:30+00:00")),
        ("reminder", at("2027-03-30T10:30+01:00")),
        ("response_due", at("2027-03-30T11:30+01:00")),
    ]


def test_urgent_clocks_count_business_hours_from_the_opening(devon: Protocol) -> None:
    # Opened Thursday 24 December 16:30: half an hour of business that day, then nothing until
    # Tuesday 29 December 09:00. 1 working hour: 16:30-17:00 and 09:00-09:30. 4 working hours:
    # 16:30-17:00 and 09:00-12:30. The reminder, 1 working hour before the response: 11:30.
    plan = planner.plan_stage(devon, 1, True, at("2026-12-24T16:30+00:00"))
    assert instants(plan.deadlines) == [
        ("acknowledgement_due", at("2026-12-29T09:30+00:00")),
        ("reminder", at("2026-12-29T11:30+00:00")),
        ("response_due", at("2026-12-29T12:30+00:00")),
    ]


def test_urgent_clocks_opened_out_of_hours_start_at_the_next_opening(devon: Protocol) -> None:
    # Opened Saturday 19 December 11:00: counted from Monday 21 December 09:00.
    plan = planner.plan_stage(devon, 1, True, at("2026-12-19T11:00+00:00"))
    assert instants(plan.deadlines) == [
        ("acknowledgement_due", at("2026-12-21T10:00+00:00")),
        ("reminder", at("2026-12-21T12:00+00:00")),
        ("response_due", at("2026-12-21T13:00+00:00")),
    ]


def test_a_reminder_that_would_fall_before_the_level_opened_is_not_planned(
    devon: Protocol,
) -> None:
    # Urgent, opened Monday 21 December 12:30 with a response due 16:30: the reminder at 15:30.
    # Replanned at 16:00 (e.g. after an extension), the reminder's moment has gone: none.
    due = at("2026-12-21T16:30+00:00")
    assert instants(
        planner.response_deadlines(devon, 1, True, at("2026-12-21T16:00+00:00"), due)
    ) == [("response_due", due)]
    opened = planner.plan_stage(devon, 1, True, at("2026-12-21T12:30+00:00"))
    assert instants(opened.deadlines)[1:] == [
        ("reminder", at("2026-12-21T15:30+00:00")),
        ("response_due", due),
    ]


def test_a_resumed_response_gets_back_the_business_time_left_at_the_pause(
    devon: Protocol,
) -> None:
    # Due Monday 4 January 17:00, paused Tuesday 22 December 15:00. Business time left: Tue 22
    # 15-17 (2 h), Wed 23 (8), Thu 24 (8), Tue 29, Wed 30, Thu 31 (24), Mon 4 (8): 50 hours.
    left = planner.remaining_business_time(
        devon, at("2026-12-22T15:00+00:00"), at("2027-01-04T17:00+00:00")
    )
    assert left == timedelta(hours=50)
    # Resumed Wednesday 6 January 10:00: Wed 10-17 (7 h, 43 left), Thu 7 (8, 35), Fri 8 09-16
    # (7, 28), Mon 11 (8, 20), Tue 12 (8, 12), Wed 13 (8, 4), Thu 14 09:00 + 4 h.
    assert planner.resumed_due(devon, at("2027-01-06T10:00+00:00"), left) == at(
        "2027-01-14T13:00+00:00"
    )


def test_an_extension_is_due_at_the_close_of_the_agreed_day(devon: Protocol) -> None:
    due = planner.extended_due(
        devon,
        at("2027-01-08T00:00+00:00").date(),
        at("2026-12-22T15:00+00:00"),
        at("2027-01-04T17:00+00:00"),
    )
    assert due == at("2027-01-08T16:00+00:00")  # a Friday: Devon closes at 16:00


# -- after a level lapses: counted from the moment the sweep applies the lapse --------------------


def test_overdue_reminders_every_two_working_days_at_opening(devon: Protocol) -> None:
    # Level 4 lapsed, the sweep applying it on Friday 18 December 16:05. Two working days after
    # the 18th: Tue 22 Dec; after the 22nd: Thu 24 Dec; after the 24th: Tue 29 (1), Wed 30 (2).
    planned = planner.overdue_reminders(devon, 4, at("2026-12-18T16:05+00:00"))
    assert [(p.due_at, p.expires_at) for p in planned] == [
        (at("2026-12-22T09:00+00:00"), at("2026-12-24T09:00+00:00")),
        (at("2026-12-24T09:00+00:00"), at("2026-12-30T09:00+00:00")),
        (at("2026-12-30T09:00+00:00"), None),  # the last: 3 at most
    ]
    assert {p.kind for p in planned} == {DeadlineKind.OVERDUE_REMINDER}
    assert planner.overdue_reminders(devon, 1, at("2026-12-18T16:05+00:00")) == []  # escalates


def test_a_lapse_prompt_is_followed_up_at_the_opening_after_its_window(devon: Protocol) -> None:
    # The raiser asked to escalate when the sweep applied a lapse on Thursday 24 December 17:05.
    # The window of 5 working days after the 24th (Tue 29, Wed 30, Thu 31, Mon 4, Tue 5 Jan)
    # closes on Tuesday 5 January at 17:00; the follow-up goes at the next opening.
    follow_up = planner.raiser_reminder(devon, at("2026-12-24T17:05+00:00"))
    assert (follow_up.kind, follow_up.due_at) == (
        DeadlineKind.RAISER_REMINDER,
        at("2027-01-06T09:00+00:00"),
    )


# -- after a response, a resolution, an outcome check: counted from that moment ----------------


def test_the_raiser_is_reminded_to_decide_at_the_opening_after_the_window(
    devon: Protocol,
) -> None:
    # Response recorded Monday 21 December 14:00. 5 working days after the 21st: Tue 22, Wed 23,
    # Thu 24, Tue 29, Wed 30, which closes at 17:00; the reminder at Thursday 31 December 09:00.
    reminder = planner.raiser_reminder(devon, at("2026-12-21T14:00+00:00"))
    assert reminder.due_at == at("2026-12-31T09:00+00:00")
    assert reminder.expires_at is None  # it goes however late the sweep catches up


def test_the_outcome_check_is_asked_at_the_opening_of_the_twentieth_working_day(
    devon: Protocol,
) -> None:
    # Resolved Monday 7 December 11:00. 20 working days after the 7th: 8-11 Dec (4), 14-18 (9),
    # 21-24 (13), 29-31 (16), 4-7 Jan (20): Thursday 7 January 2027.
    check = planner.outcome_check(devon, at("2026-12-07T11:00+00:00"))
    assert (check.kind, check.due_at) == (DeadlineKind.OUTCOME_CHECK, at("2027-01-07T09:00+00:00"))


def test_the_outcome_reminder_and_close_follow_the_asking(devon: Protocol) -> None:
    # Asked when the sweep applied the check, Thursday 7 January 09:03. 10 working days after
    # the 7th: Fri 8, 11-15, 18-21 Jan: the window closes Thursday 21 January 17:00, the reminder
    # goes at Friday 22 January 09:00. Closed 5 working days after the 22nd: 25-29 January, at
    # Friday's close, 16:00.
    reminder, close = planner.outcome_follow_up(devon, at("2027-01-07T09:03+00:00"))
    assert (reminder.kind, reminder.due_at) == (
        DeadlineKind.OUTCOME_REMINDER,
        at("2027-01-22T09:00+00:00"),
    )
    assert reminder.expires_at == close.due_at
    assert (close.kind, close.due_at) == (DeadlineKind.OUTCOME_CLOSE, at("2027-01-29T16:00+00:00"))
