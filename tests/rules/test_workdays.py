"""Working days, business hours and deadlines (PROTOCOL.md §4), for the Devon calendar.

Every expected instant below was worked out by hand with a printed calendar and the England &
Wales bank holiday list, and is written as a literal ISO 8601 string carrying its Europe/London
offset (+00:00 in GMT, +01:00 in BST). Nothing expected is computed by the code under test.

Devon business hours: Mon-Thu 09:00-17:00, Fri 09:00-16:00, Europe/London.

Calendar facts used (checked against `calendar.TextCalendar` and `holidays` GB/ENG):
  2026: BST from Sun 29 Mar, GMT from Sun 25 Oct; Good Friday 3 Apr, Easter Monday 6 Apr;
        Christmas Fri 25 Dec, Boxing Day Sat 26 Dec -> substitute Mon 28 Dec.
  2027: New Year's Day Fri 1 Jan; Good Friday 26 Mar, Easter Monday 29 Mar;
        BST from Sun 28 Mar (so Easter 2027 straddles the clock change);
        Christmas Sat 25 Dec, Boxing Day Sun 26 Dec -> substitutes Mon 27 and Tue 28 Dec;
        Fri 31 Dec is a working day.
  2028: New Year's Day Sat 1 Jan -> substitute Mon 3 Jan.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation.errors import CalendarError, DurationError
from escalation.rules.workdays import (
    BusinessHours,
    Calendar,
    Closures,
    Duration,
    Unit,
    parse_instant,
    to_local_iso,
)

LONDON_TZ = ZoneInfo("Europe/London")

DEVON_HOURS = BusinessHours(
    {
        0: (time(9), time(17)),
        1: (time(9), time(17)),
        2: (time(9), time(17)),
        3: (time(9), time(17)),
        4: (time(9), time(16)),
    }
)
DEVON = Calendar(DEVON_HOURS)

# --- Fixed dates -------------------------------------------------------------------------------
NEW_YEARS_DAY_2026 = date(2026, 1, 1)  # Thursday, bank holiday
SCOTTISH_2_JANUARY_2026 = date(2026, 1, 2)  # Friday: a holiday in Scotland only
ST_PATRICKS_DAY_2026 = date(2026, 3, 17)  # Tuesday: a holiday in Northern Ireland only
FRIDAY_BEFORE_SPRING_CLOCK_CHANGE_2026 = date(2026, 3, 27)
SPRING_CLOCK_CHANGE_2026 = date(2026, 3, 29)  # Sunday: GMT -> BST
MONDAY_AFTER_SPRING_CLOCK_CHANGE_2026 = date(2026, 3, 30)
GOOD_FRIDAY_2026 = date(2026, 4, 3)
EASTER_MONDAY_2026 = date(2026, 4, 6)
FRIDAY_5_JUNE_2026 = date(2026, 6, 5)
MONDAY_8_JUNE_2026 = date(2026, 6, 8)
WEDNESDAY_10_JUNE_2026 = date(2026, 6, 10)
SATURDAY_13_JUNE_2026 = date(2026, 6, 13)
SUNDAY_14_JUNE_2026 = date(2026, 6, 14)
FRIDAY_BEFORE_AUTUMN_CLOCK_CHANGE_2026 = date(2026, 10, 23)
AUTUMN_CLOCK_CHANGE_2026 = date(2026, 10, 25)  # Sunday: BST -> GMT
CHRISTMAS_EVE_2026 = date(2026, 12, 24)  # Thursday, working day
CHRISTMAS_DAY_2026 = date(2026, 12, 25)  # Friday
BOXING_DAY_2026 = date(2026, 12, 26)  # Saturday
BOXING_DAY_SUBSTITUTE_2026 = date(2026, 12, 28)  # Monday
NEW_YEARS_DAY_2027 = date(2027, 1, 1)  # Friday
MONDAY_4_JANUARY_2027 = date(2027, 1, 4)
THURSDAY_BEFORE_EASTER_2027 = date(2027, 3, 25)  # still GMT
GOOD_FRIDAY_2027 = date(2027, 3, 26)
EASTER_MONDAY_2027 = date(2027, 3, 29)  # BST since Sun 28 Mar 2027
TUESDAY_AFTER_EASTER_2027 = date(2027, 3, 30)
CHRISTMAS_EVE_2027 = date(2027, 12, 24)  # Friday, working day
CHRISTMAS_DAY_2027 = date(2027, 12, 25)  # Saturday
BOXING_DAY_2027 = date(2027, 12, 26)  # Sunday
CHRISTMAS_SUBSTITUTE_2027 = date(2027, 12, 27)  # Monday
BOXING_DAY_SUBSTITUTE_2027 = date(2027, 12, 28)  # Tuesday
NEW_YEARS_EVE_2027 = date(2027, 12, 31)  # Friday, working day
NEW_YEARS_DAY_SUBSTITUTE_2028 = date(2028, 1, 3)  # Monday
CORONATION_BANK_HOLIDAY_2023 = date(2023, 5, 8)  # proclaimed one-off

# --- Fixed start instants (local wall time, hand-written offset) -------------------------------
FRI_5_JUN_2026_1000 = "2026-06-05T10:00:00+01:00"
FRI_5_JUN_2026_1500 = "2026-06-05T15:00:00+01:00"
FRI_16_JAN_2026_1400 = "2026-01-16T14:00:00+00:00"
WED_23_DEC_2026_1500 = "2026-12-23T15:00:00+00:00"
THU_23_DEC_2027_1100 = "2027-12-23T11:00:00+00:00"
THU_25_MAR_2027_1000 = "2027-03-25T10:00:00+00:00"
THU_26_MAR_2026_1000 = "2026-03-26T10:00:00+00:00"
THU_22_OCT_2026_1000 = "2026-10-22T10:00:00+01:00"

# --- Durations ---------------------------------------------------------------------------------
ONE_DAY = Duration(1, Unit.WORKING_DAYS)
TWO_DAYS = Duration(2, Unit.WORKING_DAYS)


def days(n: int) -> Duration:
    return Duration(n, Unit.WORKING_DAYS)


def hours(n: int) -> Duration:
    return Duration(n, Unit.WORKING_HOURS)


def at(text: str) -> datetime:
    """A hand-written aware instant (the test's own parsing, not the code under test)."""
    instant = datetime.fromisoformat(text)
    assert instant.tzinfo is not None, text
    return instant


def london(instant: datetime) -> str:
    """An engine output, checked to be UTC, shown in London local time with its offset."""
    assert instant.utcoffset() == timedelta(0), f"{instant!r} is not UTC"
    return instant.astimezone(LONDON_TZ).isoformat()


# =============================================================================================
# due_after: working days
# =============================================================================================

DUE_IN_WORKING_DAYS = [
    # Friday starts.
    pytest.param(FRI_5_JUN_2026_1000, 1, "2026-06-08T17:00:00+01:00", id="fri-summer-1-day-mon"),
    pytest.param(FRI_5_JUN_2026_1000, 5, "2026-06-12T16:00:00+01:00", id="fri-summer-5-days-fri"),
    pytest.param(FRI_16_JAN_2026_1400, 1, "2026-01-19T17:00:00+00:00", id="fri-winter-1-day"),
    pytest.param(FRI_16_JAN_2026_1400, 5, "2026-01-23T16:00:00+00:00", id="fri-winter-5-days"),
    # Christmas 2026: Fri 25 Dec, Sat 26 Dec -> Mon 28 Dec, Fri 1 Jan 2027.
    pytest.param(WED_23_DEC_2026_1500, 1, "2026-12-24T17:00:00+00:00", id="xmas26-1-day-eve"),
    pytest.param(WED_23_DEC_2026_1500, 2, "2026-12-29T17:00:00+00:00", id="xmas26-2-days-tue"),
    pytest.param(WED_23_DEC_2026_1500, 4, "2026-12-31T17:00:00+00:00", id="xmas26-4-days"),
    pytest.param(WED_23_DEC_2026_1500, 5, "2027-01-04T17:00:00+00:00", id="xmas26-5-days"),
    pytest.param("2026-12-24T10:00:00+00:00", 1, "2026-12-29T17:00:00+00:00", id="xmas26-eve"),
    pytest.param("2026-12-25T12:00:00+00:00", 1, "2026-12-29T17:00:00+00:00", id="xmas26-on-day"),
    pytest.param("2026-12-28T12:00:00+00:00", 1, "2026-12-29T17:00:00+00:00", id="xmas26-on-sub"),
    pytest.param("2026-12-31T12:00:00+00:00", 1, "2027-01-04T17:00:00+00:00", id="nye26-1-day"),
    # Christmas 2027: Sat 25 / Sun 26 Dec -> Mon 27 / Tue 28 Dec; Sat 1 Jan 2028 -> Mon 3 Jan.
    pytest.param(THU_23_DEC_2027_1100, 1, "2027-12-24T16:00:00+00:00", id="xmas27-1-day-fri"),
    pytest.param(THU_23_DEC_2027_1100, 2, "2027-12-29T17:00:00+00:00", id="xmas27-2-days-wed"),
    pytest.param(THU_23_DEC_2027_1100, 4, "2027-12-31T16:00:00+00:00", id="xmas27-4-days-nye"),
    pytest.param(THU_23_DEC_2027_1100, 5, "2028-01-04T17:00:00+00:00", id="xmas27-5-days-tue"),
    pytest.param("2027-12-24T10:00:00+00:00", 1, "2027-12-29T17:00:00+00:00", id="xmas27-eve"),
    pytest.param("2027-12-31T10:00:00+00:00", 1, "2028-01-04T17:00:00+00:00", id="nye27-1-day"),
    # Easter 2027: Good Friday 26 Mar (GMT), Easter Monday 29 Mar (BST since Sun 28 Mar).
    pytest.param(THU_25_MAR_2027_1000, 1, "2027-03-30T17:00:00+01:00", id="easter27-1-day"),
    pytest.param(THU_25_MAR_2027_1000, 5, "2027-04-05T17:00:00+01:00", id="easter27-5-days"),
    pytest.param("2027-03-26T12:00:00+00:00", 1, "2027-03-30T17:00:00+01:00", id="on-good-fri"),
    pytest.param("2027-03-29T12:00:00+01:00", 1, "2027-03-30T17:00:00+01:00", id="on-easter-mon"),
    # Easter 2026 (Fri 3 / Mon 6 Apr), just after the spring clock change.
    pytest.param("2026-04-02T12:00:00+01:00", 1, "2026-04-07T17:00:00+01:00", id="easter26-1-day"),
    # New Year's Day 2026 is a Thursday; Fri 2 Jan is a Scottish-only holiday and counts.
    pytest.param("2026-01-01T12:00:00+00:00", 1, "2026-01-02T16:00:00+00:00", id="nyd26-scot-2jan"),
    # St Patrick's Day (Northern Ireland only) counts as a working day in Devon.
    pytest.param("2026-03-16T12:00:00+00:00", 1, "2026-03-17T17:00:00+00:00", id="st-patricks"),
    # The start day never counts, whatever the hour.
    pytest.param("2026-06-09T08:00:00+01:00", 1, "2026-06-10T17:00:00+01:00", id="before-opening"),
    pytest.param("2026-06-09T00:00:00+01:00", 1, "2026-06-10T17:00:00+01:00", id="at-midnight"),
    pytest.param("2026-06-08T18:30:00+01:00", 1, "2026-06-09T17:00:00+01:00", id="after-closing"),
    pytest.param("2026-06-08T23:00:00+01:00", 1, "2026-06-09T17:00:00+01:00", id="at-23h"),
    pytest.param("2026-06-08T17:00:00+01:00", 1, "2026-06-09T17:00:00+01:00", id="at-closing"),
    pytest.param("2026-06-08T09:00:00+01:00", 1, "2026-06-09T17:00:00+01:00", id="at-opening"),
    pytest.param("2026-06-05T16:30:00+01:00", 1, "2026-06-08T17:00:00+01:00", id="fri-after-close"),
    # The local date decides: Tue 00:30 BST is Mon 23:30 UTC, and it is a Tuesday start.
    pytest.param("2026-06-09T00:30:00+01:00", 1, "2026-06-10T17:00:00+01:00", id="local-date-bst"),
    pytest.param("2026-06-08T23:30:00+00:00", 1, "2026-06-10T17:00:00+01:00", id="local-date-utc"),
    # Weekend starts.
    pytest.param("2026-06-13T11:00:00+01:00", 1, "2026-06-15T17:00:00+01:00", id="saturday-1-day"),
    pytest.param("2026-06-13T11:00:00+01:00", 5, "2026-06-19T16:00:00+01:00", id="saturday-5-days"),
    pytest.param("2026-06-14T20:00:00+01:00", 1, "2026-06-15T17:00:00+01:00", id="sunday-1-day"),
    pytest.param("2026-06-14T20:00:00+01:00", 5, "2026-06-19T16:00:00+01:00", id="sunday-5-days"),
    # Spring clock change 2026 (Sun 29 Mar, GMT -> BST).
    pytest.param(THU_26_MAR_2026_1000, 1, "2026-03-27T16:00:00+00:00", id="spring26-1-day-gmt"),
    pytest.param(THU_26_MAR_2026_1000, 2, "2026-03-30T17:00:00+01:00", id="spring26-2-days-bst"),
    pytest.param(THU_26_MAR_2026_1000, 5, "2026-04-02T17:00:00+01:00", id="spring26-5-days"),
    pytest.param(THU_26_MAR_2026_1000, 6, "2026-04-07T17:00:00+01:00", id="spring26-6-easter"),
    pytest.param("2026-03-29T12:00:00+01:00", 1, "2026-03-30T17:00:00+01:00", id="on-spring-sun"),
    # Autumn clock change 2026 (Sun 25 Oct, BST -> GMT).
    pytest.param(THU_22_OCT_2026_1000, 1, "2026-10-23T16:00:00+01:00", id="autumn26-1-day-bst"),
    pytest.param(THU_22_OCT_2026_1000, 2, "2026-10-26T17:00:00+00:00", id="autumn26-2-days-gmt"),
    pytest.param("2026-10-21T10:00:00+01:00", 5, "2026-10-28T17:00:00+00:00", id="autumn26-5-days"),
    pytest.param("2026-10-25T01:30:00+00:00", 1, "2026-10-26T17:00:00+00:00", id="in-repeat-hour"),
    # Longer timescales (raiser decision / outcome check).
    pytest.param("2026-06-08T10:00:00+01:00", 10, "2026-06-22T17:00:00+01:00", id="10-days"),
    pytest.param("2026-06-08T10:00:00+01:00", 20, "2026-07-06T17:00:00+01:00", id="20-days"),
]


@pytest.mark.parametrize(("start", "n", "expected"), DUE_IN_WORKING_DAYS)
def test_it_puts_a_working_days_deadline_at_close_on_the_nth_working_day_after(
    start: str, n: int, expected: str
) -> None:
    assert london(DEVON.due_after(at(start), days(n))) == expected


# =============================================================================================
# due_after / add_business_time: working hours
# =============================================================================================

DUE_IN_WORKING_HOURS = [
    # Across the Friday 16:00 close.
    pytest.param(FRI_5_JUN_2026_1500, 4, "2026-06-08T12:00:00+01:00", id="fri-1500-plus-4"),
    pytest.param(FRI_5_JUN_2026_1500, 1, "2026-06-05T16:00:00+01:00", id="fri-1500-plus-1"),
    pytest.param("2026-06-05T15:30:00+01:00", 1, "2026-06-08T09:30:00+01:00", id="fri-1530-plus-1"),
    pytest.param("2026-06-05T12:00:00+01:00", 4, "2026-06-05T16:00:00+01:00", id="fri-to-close"),
    # Exactly at opening.
    pytest.param("2026-06-08T09:00:00+01:00", 4, "2026-06-08T13:00:00+01:00", id="at-opening"),
    pytest.param("2026-06-08T09:00:00+01:00", 8, "2026-06-08T17:00:00+01:00", id="full-day"),
    pytest.param("2026-06-08T09:00:00+01:00", 9, "2026-06-09T10:00:00+01:00", id="day-and-1"),
    pytest.param("2026-06-08T09:00:00+01:00", 24, "2026-06-10T17:00:00+01:00", id="three-days"),
    pytest.param("2026-06-08T09:00:00+01:00", 36, "2026-06-12T13:00:00+01:00", id="into-friday"),
    pytest.param("2026-06-08T09:00:00+01:00", 40, "2026-06-15T10:00:00+01:00", id="whole-week"),
    # Exactly at closing.
    pytest.param("2026-06-08T17:00:00+01:00", 1, "2026-06-09T10:00:00+01:00", id="at-closing"),
    pytest.param("2026-06-05T16:00:00+01:00", 4, "2026-06-08T13:00:00+01:00", id="at-fri-close"),
    # Outside business hours: counted from the next opening.
    pytest.param("2026-06-08T07:30:00+01:00", 4, "2026-06-08T13:00:00+01:00", id="before-opening"),
    pytest.param("2026-06-08T20:00:00+01:00", 4, "2026-06-09T13:00:00+01:00", id="evening"),
    pytest.param("2026-06-06T10:00:00+01:00", 4, "2026-06-08T13:00:00+01:00", id="saturday"),
    pytest.param("2026-06-07T23:59:00+01:00", 4, "2026-06-08T13:00:00+01:00", id="sunday-night"),
    pytest.param("2026-06-07T23:30:00+00:00", 1, "2026-06-08T10:00:00+01:00", id="utc-sun-bst-mon"),
    # Across bank holidays.
    pytest.param("2026-12-24T16:00:00+00:00", 4, "2026-12-29T12:00:00+00:00", id="xmas26"),
    pytest.param("2027-12-24T14:00:00+00:00", 4, "2027-12-29T11:00:00+00:00", id="xmas27"),
    pytest.param("2027-03-25T15:00:00+00:00", 4, "2027-03-30T11:00:00+01:00", id="easter27"),
    # Across the weekends of both 2026 clock changes.
    pytest.param("2026-03-27T14:00:00+00:00", 4, "2026-03-30T11:00:00+01:00", id="spring26"),
    pytest.param("2026-10-23T15:00:00+01:00", 4, "2026-10-26T12:00:00+00:00", id="autumn26"),
]


@pytest.mark.parametrize(("start", "n", "expected"), DUE_IN_WORKING_HOURS)
def test_it_counts_working_hours_as_business_time_from_the_start(
    start: str, n: int, expected: str
) -> None:
    assert london(DEVON.due_after(at(start), hours(n))) == expected
    assert london(DEVON.add_business_time(at(start), timedelta(hours=n))) == expected


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        pytest.param(
            "2026-06-08T16:30:00+01:00",
            timedelta(minutes=45),
            "2026-06-09T09:15:00+01:00",
            id="45-min-over-close",
        ),
        pytest.param(
            "2026-06-05T15:59:00+01:00",
            timedelta(minutes=2),
            "2026-06-08T09:01:00+01:00",
            id="2-min-over-fri-close",
        ),
    ],
)
def test_it_adds_business_time_in_minutes(start: str, amount: timedelta, expected: str) -> None:
    assert london(DEVON.add_business_time(at(start), amount)) == expected


# =============================================================================================
# reminder_before
# =============================================================================================

REMINDERS = [
    # Working days: opening of business on the Kth working day before the due day.
    pytest.param("2027-01-04T17:00:00+00:00", days(1), "2026-12-31T09:00:00+00:00", id="xmas26-1d"),
    pytest.param("2027-01-04T17:00:00+00:00", days(2), "2026-12-30T09:00:00+00:00", id="xmas26-2d"),
    pytest.param("2027-01-04T17:00:00+00:00", days(4), "2026-12-24T09:00:00+00:00", id="xmas26-4d"),
    pytest.param(
        "2026-12-29T17:00:00+00:00", days(1), "2026-12-24T09:00:00+00:00", id="xmas26-tue"
    ),
    pytest.param("2028-01-04T17:00:00+00:00", days(1), "2027-12-31T09:00:00+00:00", id="xmas27-1d"),
    pytest.param("2028-01-04T17:00:00+00:00", days(3), "2027-12-29T09:00:00+00:00", id="xmas27-3d"),
    pytest.param("2028-01-04T17:00:00+00:00", days(4), "2027-12-24T09:00:00+00:00", id="xmas27-4d"),
    pytest.param("2027-03-30T17:00:00+01:00", days(1), "2027-03-25T09:00:00+00:00", id="easter27"),
    pytest.param(
        "2026-06-12T16:00:00+01:00", days(1), "2026-06-11T09:00:00+01:00", id="fri-due-1d"
    ),
    pytest.param(
        "2026-06-12T16:00:00+01:00", days(2), "2026-06-10T09:00:00+01:00", id="fri-due-2d"
    ),
    pytest.param(
        "2026-06-12T16:00:00+01:00", days(5), "2026-06-05T09:00:00+01:00", id="fri-due-5d"
    ),
    pytest.param(
        "2026-06-08T17:00:00+01:00", days(1), "2026-06-05T09:00:00+01:00", id="mon-due-1d"
    ),
    # Working-day reminders across the 2026 clock changes: 09:00 local either side.
    pytest.param("2026-03-30T17:00:00+01:00", days(1), "2026-03-27T09:00:00+00:00", id="spring26"),
    pytest.param(
        "2026-04-02T17:00:00+01:00", days(1), "2026-04-01T09:00:00+01:00", id="spring26-b"
    ),
    pytest.param(
        "2026-04-02T17:00:00+01:00", days(4), "2026-03-27T09:00:00+00:00", id="spring26-4d"
    ),
    pytest.param("2026-10-26T17:00:00+00:00", days(1), "2026-10-23T09:00:00+01:00", id="autumn26"),
    pytest.param(
        "2026-10-28T17:00:00+00:00", days(1), "2026-10-27T09:00:00+00:00", id="autumn26-b"
    ),
    # Working hours: K hours of business time before the due instant.
    pytest.param(
        "2026-06-08T12:00:00+01:00", hours(4), "2026-06-05T15:00:00+01:00", id="over-wkend"
    ),
    pytest.param("2026-06-08T17:00:00+01:00", hours(4), "2026-06-08T13:00:00+01:00", id="same-day"),
    pytest.param(
        "2026-06-08T13:00:00+01:00", hours(4), "2026-06-08T09:00:00+01:00", id="to-opening"
    ),
    pytest.param(
        "2026-06-08T09:00:00+01:00", hours(1), "2026-06-05T15:00:00+01:00", id="at-opening"
    ),
    pytest.param(
        "2026-06-12T16:00:00+01:00", hours(1), "2026-06-12T15:00:00+01:00", id="fri-close"
    ),
    pytest.param(
        "2026-06-08T20:00:00+01:00", hours(1), "2026-06-08T16:00:00+01:00", id="after-hrs"
    ),
    pytest.param("2026-12-29T12:00:00+00:00", hours(4), "2026-12-24T16:00:00+00:00", id="xmas26-h"),
    pytest.param(
        "2027-03-30T11:00:00+01:00", hours(4), "2027-03-25T15:00:00+00:00", id="easter27-h"
    ),
    pytest.param(
        "2026-03-30T11:00:00+01:00", hours(4), "2026-03-27T14:00:00+00:00", id="spring26-h"
    ),
    pytest.param(
        "2026-10-26T12:00:00+00:00", hours(4), "2026-10-23T15:00:00+01:00", id="autumn26-h"
    ),
]


@pytest.mark.parametrize(("due", "before", "expected"), REMINDERS)
def test_it_sends_reminders_at_opening_or_business_time_before_the_due(
    due: str, before: Duration, expected: str
) -> None:
    assert london(DEVON.reminder_before(at(due), before)) == expected


def test_it_sends_the_christmas_2026_reminder_on_new_years_eve() -> None:
    due = DEVON.due_after(at(WED_23_DEC_2026_1500), days(5))
    assert london(due) == "2027-01-04T17:00:00+00:00"
    assert london(DEVON.reminder_before(due, days(1))) == "2026-12-31T09:00:00+00:00"


# =============================================================================================
# opening_after (overdue and raiser reminders)
# =============================================================================================


@pytest.mark.parametrize(
    ("instant", "after", "expected"),
    [
        pytest.param(WED_23_DEC_2026_1500, days(1), "2026-12-24T09:00:00+00:00", id="xmas-eve"),
        pytest.param(WED_23_DEC_2026_1500, days(2), "2026-12-29T09:00:00+00:00", id="xmas26"),
        pytest.param(
            "2027-01-04T17:00:00+00:00", days(1), "2027-01-05T09:00:00+00:00", id="overdue"
        ),
        pytest.param(
            "2026-03-27T16:00:00+00:00", days(1), "2026-03-30T09:00:00+01:00", id="spring"
        ),
        pytest.param(
            "2026-10-23T16:00:00+01:00", days(1), "2026-10-26T09:00:00+00:00", id="autumn"
        ),
        pytest.param(
            "2027-12-24T16:00:00+00:00", days(1), "2027-12-29T09:00:00+00:00", id="xmas27"
        ),
        pytest.param(FRI_5_JUN_2026_1500, hours(4), "2026-06-08T12:00:00+01:00", id="hours"),
    ],
)
def test_it_schedules_follow_ups_at_the_opening_of_a_later_working_day(
    instant: str, after: Duration, expected: str
) -> None:
    assert london(DEVON.opening_after(at(instant), after)) == expected


# =============================================================================================
# business_time_between, working_days_between, in_business_hours
# =============================================================================================


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(
            FRI_5_JUN_2026_1500, "2026-06-08T12:00:00+01:00", timedelta(hours=4), id="over-weekend"
        ),
        pytest.param(
            WED_23_DEC_2026_1500,
            "2026-12-29T12:00:00+00:00",
            timedelta(hours=13),
            id="over-christmas-2026",
        ),
        pytest.param(
            "2026-04-02T09:00:00+01:00",
            "2026-04-07T17:00:00+01:00",
            timedelta(hours=16),
            id="over-easter-2026",
        ),
        pytest.param(
            "2026-03-27T09:00:00+00:00",
            "2026-03-30T17:00:00+01:00",
            timedelta(hours=15),
            id="over-spring-change",
        ),
        pytest.param(
            "2026-10-23T09:00:00+01:00",
            "2026-10-26T17:00:00+00:00",
            timedelta(hours=15),
            id="over-autumn-change",
        ),
        pytest.param(
            "2026-06-08T00:00:00+01:00",
            "2026-06-15T00:00:00+01:00",
            timedelta(hours=39),
            id="whole-week",
        ),
        pytest.param(
            "2026-06-08T10:00:00+01:00",
            "2026-06-08T11:30:00+01:00",
            timedelta(hours=1, minutes=30),
            id="within-a-day",
        ),
        pytest.param(
            "2026-06-08T07:00:00+01:00",
            "2026-06-08T08:30:00+01:00",
            timedelta(0),
            id="before-opening",
        ),
        pytest.param(
            "2026-06-06T09:00:00+01:00", "2026-06-07T17:00:00+01:00", timedelta(0), id="weekend"
        ),
        pytest.param(
            "2026-06-08T12:00:00+01:00",
            "2026-06-08T10:00:00+01:00",
            timedelta(0),
            id="end-before-start",
        ),
        pytest.param(
            "2026-06-08T12:00:00+01:00", "2026-06-08T12:00:00+01:00", timedelta(0), id="empty"
        ),
    ],
)
def test_it_measures_business_time_between_two_instants(
    start: str, end: str, expected: timedelta
) -> None:
    assert DEVON.business_time_between(at(start), at(end)) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(date(2026, 12, 23), MONDAY_4_JANUARY_2027, 5, id="christmas-2026"),
        pytest.param(date(2026, 4, 2), date(2026, 4, 7), 1, id="easter-2026"),
        pytest.param(THURSDAY_BEFORE_EASTER_2027, TUESDAY_AFTER_EASTER_2027, 1, id="easter-2027"),
        pytest.param(date(2027, 12, 23), date(2028, 1, 4), 5, id="christmas-2027"),
        pytest.param(FRIDAY_5_JUNE_2026, MONDAY_8_JUNE_2026, 1, id="weekend"),
        pytest.param(FRIDAY_5_JUNE_2026, date(2026, 6, 12), 5, id="week"),
        pytest.param(MONDAY_8_JUNE_2026, MONDAY_8_JUNE_2026, 0, id="same-day"),
        pytest.param(MONDAY_8_JUNE_2026, FRIDAY_5_JUNE_2026, 0, id="end-before-start"),
        pytest.param(SATURDAY_13_JUNE_2026, SUNDAY_14_JUNE_2026, 0, id="saturday-sunday"),
    ],
)
def test_it_counts_working_days_between_two_dates(start: date, end: date, expected: int) -> None:
    assert DEVON.working_days_between(start, end) == expected


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param("2026-06-08T09:00:00+01:00", True, id="mon-at-opening"),
        pytest.param("2026-06-08T08:59:59+01:00", False, id="mon-just-before-opening"),
        pytest.param("2026-06-08T17:00:00+01:00", True, id="mon-at-closing"),
        pytest.param("2026-06-08T17:00:01+01:00", False, id="mon-just-after-closing"),
        pytest.param("2026-06-08T12:00:00+01:00", True, id="mon-midday"),
        pytest.param("2026-06-05T16:00:00+01:00", True, id="fri-at-closing"),
        pytest.param("2026-06-05T16:30:00+01:00", False, id="fri-after-closing"),
        pytest.param("2026-06-13T12:00:00+01:00", False, id="saturday"),
        pytest.param("2026-06-14T12:00:00+01:00", False, id="sunday"),
        pytest.param("2027-03-26T12:00:00+00:00", False, id="good-friday-2027"),
        pytest.param("2027-03-29T12:00:00+01:00", False, id="easter-monday-2027"),
        pytest.param("2026-12-25T12:00:00+00:00", False, id="christmas-2026"),
        pytest.param("2026-12-28T12:00:00+00:00", False, id="boxing-substitute-2026"),
        pytest.param("2027-12-27T12:00:00+00:00", False, id="christmas-substitute-2027"),
        pytest.param("2027-12-28T12:00:00+00:00", False, id="boxing-substitute-2027"),
        pytest.param("2027-12-31T12:00:00+00:00", True, id="new-years-eve-2027"),
        pytest.param("2028-01-03T12:00:00+00:00", False, id="new-year-substitute-2028"),
        # 08:00 UTC is 09:00 BST (open) in summer but 08:00 GMT (closed) in winter.
        pytest.param("2026-06-08T08:00:00+00:00", True, id="utc-summer-opening"),
        pytest.param("2026-01-05T08:30:00+00:00", False, id="utc-winter-before-opening"),
        pytest.param("2026-06-08T16:00:00+00:00", True, id="utc-summer-closing"),
        pytest.param("2026-06-08T16:30:00+00:00", False, id="utc-summer-after-closing"),
    ],
)
def test_it_knows_when_business_is_open(instant: str, expected: bool) -> None:
    assert DEVON.in_business_hours(at(instant)) is expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(NEW_YEARS_DAY_2026, False, id="new-years-day-2026"),
        pytest.param(SCOTTISH_2_JANUARY_2026, True, id="scotland-only-2-january"),
        pytest.param(ST_PATRICKS_DAY_2026, True, id="northern-ireland-only"),
        pytest.param(GOOD_FRIDAY_2026, False, id="good-friday-2026"),
        pytest.param(EASTER_MONDAY_2026, False, id="easter-monday-2026"),
        pytest.param(CHRISTMAS_EVE_2026, True, id="christmas-eve-2026"),
        pytest.param(CHRISTMAS_DAY_2026, False, id="christmas-day-2026"),
        pytest.param(BOXING_DAY_2026, False, id="boxing-day-2026-saturday"),
        pytest.param(BOXING_DAY_SUBSTITUTE_2026, False, id="boxing-day-substitute-2026"),
        pytest.param(NEW_YEARS_DAY_2027, False, id="new-years-day-2027"),
        pytest.param(MONDAY_4_JANUARY_2027, True, id="monday-4-january-2027"),
        pytest.param(GOOD_FRIDAY_2027, False, id="good-friday-2027"),
        pytest.param(EASTER_MONDAY_2027, False, id="easter-monday-2027"),
        pytest.param(CHRISTMAS_EVE_2027, True, id="christmas-eve-2027"),
        pytest.param(CHRISTMAS_DAY_2027, False, id="christmas-day-2027-saturday"),
        pytest.param(BOXING_DAY_2027, False, id="boxing-day-2027-sunday"),
        pytest.param(CHRISTMAS_SUBSTITUTE_2027, False, id="christmas-substitute-2027"),
        pytest.param(BOXING_DAY_SUBSTITUTE_2027, False, id="boxing-day-substitute-2027"),
        pytest.param(NEW_YEARS_EVE_2027, True, id="new-years-eve-2027"),
        pytest.param(NEW_YEARS_DAY_SUBSTITUTE_2028, False, id="new-year-substitute-2028"),
        pytest.param(CORONATION_BANK_HOLIDAY_2023, False, id="proclaimed-one-off-2023"),
        pytest.param(SPRING_CLOCK_CHANGE_2026, False, id="sunday"),
    ],
)
def test_it_knows_the_england_and_wales_working_days(day: date, expected: bool) -> None:
    assert DEVON.is_working_day(day) is expected


# =============================================================================================
# Closures
# =============================================================================================

STAFF_TRAINING_DAY = "Devon Front Door staff training day"


@pytest.mark.parametrize(
    ("closures", "start", "n", "expected"),
    [
        pytest.param(
            Closures(), FRI_5_JUN_2026_1000, 5, "2026-06-12T16:00:00+01:00", id="no-closure"
        ),
        pytest.param(
            Closures(extra={WEDNESDAY_10_JUNE_2026: STAFF_TRAINING_DAY}),
            FRI_5_JUN_2026_1000,
            5,
            "2026-06-15T17:00:00+01:00",
            id="closure-day-pushes-due",
        ),
        pytest.param(
            Closures(extra={CHRISTMAS_EVE_2026: "Christmas Eve closure"}),
            WED_23_DEC_2026_1500,
            5,
            "2027-01-05T17:00:00+00:00",
            id="christmas-eve-closure",
        ),
        pytest.param(
            Closures(extra={SATURDAY_13_JUNE_2026: "weekend closure"}),
            FRI_5_JUN_2026_1000,
            10,
            "2026-06-19T16:00:00+01:00",
            id="weekend-closure-changes-nothing",
        ),
        pytest.param(
            Closures(removed=frozenset({BOXING_DAY_SUBSTITUTE_2026})),
            WED_23_DEC_2026_1500,
            5,
            "2026-12-31T17:00:00+00:00",
            id="removed-substitute-day-counts",
        ),
        pytest.param(
            Closures(removed=frozenset({EASTER_MONDAY_2027})),
            THU_25_MAR_2027_1000,
            1,
            "2027-03-29T17:00:00+01:00",
            id="removed-easter-monday-counts",
        ),
    ],
)
def test_it_applies_partnership_closures_to_deadlines(
    closures: Closures, start: str, n: int, expected: str
) -> None:
    calendar = Calendar(DEVON_HOURS, closures)
    assert london(calendar.due_after(at(start), days(n))) == expected


def test_it_names_a_closure_day_and_treats_it_as_closed() -> None:
    calendar = Calendar(DEVON_HOURS, Closures(extra={WEDNESDAY_10_JUNE_2026: STAFF_TRAINING_DAY}))
    assert calendar.holiday_name(WEDNESDAY_10_JUNE_2026) == STAFF_TRAINING_DAY
    assert calendar.is_working_day(WEDNESDAY_10_JUNE_2026) is False
    assert calendar.in_business_hours(at("2026-06-10T12:00:00+01:00")) is False
    assert london(calendar.due_after(at("2026-06-09T12:00:00+01:00"), hours(8))) == (
        "2026-06-11T12:00:00+01:00"
    )
    assert calendar.working_days_between(MONDAY_8_JUNE_2026, date(2026, 6, 12)) == 3


def test_it_treats_a_removed_bank_holiday_as_an_ordinary_working_day() -> None:
    calendar = Calendar(DEVON_HOURS, Closures(removed=frozenset({BOXING_DAY_SUBSTITUTE_2026})))
    assert calendar.holiday_name(BOXING_DAY_SUBSTITUTE_2026) is None
    assert calendar.is_working_day(BOXING_DAY_SUBSTITUTE_2026) is True
    assert calendar.in_business_hours(at("2026-12-28T12:00:00+00:00")) is True
    # Christmas Day itself is untouched.
    assert calendar.is_working_day(CHRISTMAS_DAY_2026) is False
    assert DEVON.holiday_name(BOXING_DAY_SUBSTITUTE_2026) == "Boxing Day (observed)"


# =============================================================================================
# Duration.parse
# =============================================================================================


@pytest.mark.parametrize(
    ("text", "amount", "unit", "shown"),
    [
        pytest.param("1 working day", 1, Unit.WORKING_DAYS, "1 working day", id="1-day"),
        pytest.param("5 working days", 5, Unit.WORKING_DAYS, "5 working days", id="5-days"),
        pytest.param("4 working hours", 4, Unit.WORKING_HOURS, "4 working hours", id="4-hours"),
        pytest.param("1 working hour", 1, Unit.WORKING_HOURS, "1 working hour", id="1-hour"),
        pytest.param("20 working days", 20, Unit.WORKING_DAYS, "20 working days", id="20-days"),
        pytest.param(
            "  5   working   days  ", 5, Unit.WORKING_DAYS, "5 working days", id="extra-spaces"
        ),
        pytest.param("5\tworking days", 5, Unit.WORKING_DAYS, "5 working days", id="tab"),
        pytest.param("5 Working Days", 5, Unit.WORKING_DAYS, "5 working days", id="title-case"),
        pytest.param("4 WORKING HOURS", 4, Unit.WORKING_HOURS, "4 working hours", id="upper-case"),
    ],
)
def test_it_parses_protocol_durations(text: str, amount: int, unit: Unit, shown: str) -> None:
    duration = Duration.parse(text)
    assert duration == Duration(amount, unit)
    assert str(duration) == shown


NOT_A_DURATION = 'is not a duration like "5 working days" or "4 working hours"'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("5 wrking days", f'"5 wrking days" {NOT_A_DURATION}', id="typo"),
        pytest.param(
            "0 working days",
            '"0 working days" must be a positive number of working days or hours',
            id="zero",
        ),
        pytest.param(
            "0 working hours",
            '"0 working hours" must be a positive number of working days or hours',
            id="zero-hours",
        ),
        pytest.param("-1 working days", f'"-1 working days" {NOT_A_DURATION}', id="negative"),
        pytest.param("five working days", f'"five working days" {NOT_A_DURATION}', id="words"),
        pytest.param("5 days", f'"5 days" {NOT_A_DURATION}', id="not-working-days"),
        pytest.param("2.5 working hours", f'"2.5 working hours" {NOT_A_DURATION}', id="fraction"),
        pytest.param("5 working weeks", f'"5 working weeks" {NOT_A_DURATION}', id="weeks"),
        pytest.param("", f'"" {NOT_A_DURATION}', id="empty"),
        pytest.param(5, f"5 {NOT_A_DURATION}", id="int"),
        pytest.param(None, f"None {NOT_A_DURATION}", id="none"),
    ],
)
def test_it_refuses_a_malformed_duration_with_a_clear_message(value: object, message: str) -> None:
    with pytest.raises(DurationError) as raised:
        Duration.parse(value)
    assert str(raised.value) == message


# =============================================================================================
# coverage_warnings
# =============================================================================================

TODAY = date(2026, 6, 1)


@pytest.mark.parametrize(
    ("today", "reviewed_until"),
    [
        pytest.param(TODAY, date(2027, 6, 1), id="exactly-12-months"),
        pytest.param(TODAY, date(2027, 12, 31), id="more-than-12-months"),
        pytest.param(date(2028, 2, 29), date(2029, 2, 28), id="leap-day-today"),
    ],
)
def test_it_gives_no_coverage_warning_when_reviewed_12_months_ahead(
    today: date, reviewed_until: date
) -> None:
    calendar = Calendar(DEVON_HOURS, Closures(reviewed_until=reviewed_until))
    assert calendar.coverage_warnings(today) == []


@pytest.mark.parametrize(
    ("today", "reviewed_until", "named"),
    [
        pytest.param(TODAY, date(2027, 5, 31), ["2027-05-31", "12 months"], id="one-day-short"),
        pytest.param(TODAY, date(2026, 12, 31), ["2026-12-31", "12 months"], id="months-short"),
        pytest.param(
            date(2028, 2, 29), date(2029, 2, 27), ["2029-02-27", "12 months"], id="leap-day-short"
        ),
    ],
)
def test_it_warns_when_the_holiday_data_is_reviewed_for_less_than_12_months(
    today: date, reviewed_until: date, named: list[str]
) -> None:
    calendar = Calendar(DEVON_HOURS, Closures(reviewed_until=reviewed_until))
    [warning] = calendar.coverage_warnings(today)
    for text in named:
        assert text in warning
    assert "gov.uk/bank-holidays" in warning


def test_it_warns_when_the_holiday_data_has_no_reviewed_until_date() -> None:
    [warning] = Calendar(DEVON_HOURS, Closures()).coverage_warnings(TODAY)
    assert "reviewed_until" in warning
    assert "12 months" in warning


# =============================================================================================
# parse_instant, to_local_iso, naive datetimes
# =============================================================================================


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-07-01T10:00", "2026-07-01T10:00:00+01:00", id="naive-summer-is-bst"),
        pytest.param("2026-01-15T10:00", "2026-01-15T10:00:00+00:00", id="naive-winter-is-gmt"),
        pytest.param("2026-12-23T15:00:00", "2026-12-23T15:00:00+00:00", id="naive-seconds"),
        pytest.param(" 2026-12-23T15:00 ", "2026-12-23T15:00:00+00:00", id="spaces-stripped"),
        pytest.param("2026-07-01T10:00:00+00:00", "2026-07-01T11:00:00+01:00", id="utc-offset"),
        pytest.param("2026-07-01T10:00:00Z", "2026-07-01T11:00:00+01:00", id="zulu"),
        pytest.param("2026-07-01T10:00:00+01:00", "2026-07-01T10:00:00+01:00", id="bst-offset"),
        pytest.param("2026-07-01T10:00:00-05:00", "2026-07-01T16:00:00+01:00", id="foreign-offset"),
        pytest.param("2026-01-15T10:00:00+02:00", "2026-01-15T08:00:00+00:00", id="winter-offset"),
    ],
)
def test_it_parses_instants_with_naive_ones_in_london_time(text: str, expected: str) -> None:
    assert london(parse_instant(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("next Tuesday", id="words"),
        pytest.param("23/12/2026 15:00", id="uk-format"),
        pytest.param("2026-13-01T10:00", id="month-13"),
        pytest.param("2026-02-30T10:00", id="30-february"),
        pytest.param("2026-12-23T25:00", id="hour-25"),
        pytest.param("", id="empty"),
    ],
)
def test_it_refuses_a_garbage_instant_with_a_clear_message(text: str) -> None:
    with pytest.raises(CalendarError) as raised:
        parse_instant(text)
    assert str(raised.value) == (
        f'"{text}" is not an ISO 8601 date-time like 2026-12-23T15:00 or 2026-12-23T15:00+00:00'
    )


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param("2027-01-04T17:00:00+00:00", "2027-01-04T17:00:00+00:00", id="winter"),
        pytest.param("2026-06-12T15:00:00+00:00", "2026-06-12T16:00:00+01:00", id="summer"),
        pytest.param("2026-03-29T01:00:00+00:00", "2026-03-29T02:00:00+01:00", id="spring-change"),
        pytest.param("2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+01:00", id="autumn-first"),
        pytest.param("2026-10-25T01:30:00+00:00", "2026-10-25T01:30:00+00:00", id="autumn-second"),
    ],
)
def test_it_shows_instants_in_london_local_time(instant: str, expected: str) -> None:
    assert to_local_iso(at(instant)) == expected


NAIVE = datetime(2026, 6, 5, 10, 0)

NAIVE_CALLS = [
    pytest.param(lambda: DEVON.due_after(NAIVE, days(5)), id="due_after-days"),
    pytest.param(lambda: DEVON.due_after(NAIVE, hours(4)), id="due_after-hours"),
    pytest.param(lambda: DEVON.reminder_before(NAIVE, days(1)), id="reminder_before-days"),
    pytest.param(lambda: DEVON.reminder_before(NAIVE, hours(1)), id="reminder_before-hours"),
    pytest.param(lambda: DEVON.opening_after(NAIVE, days(1)), id="opening_after"),
    pytest.param(lambda: DEVON.add_business_time(NAIVE, timedelta(hours=1)), id="add"),
    pytest.param(lambda: DEVON.subtract_business_time(NAIVE, timedelta(hours=1)), id="subtract"),
    pytest.param(
        lambda: DEVON.business_time_between(NAIVE, at(FRI_5_JUN_2026_1500)), id="between-start"
    ),
    pytest.param(
        lambda: DEVON.business_time_between(at(FRI_5_JUN_2026_1000), NAIVE), id="between-end"
    ),
    pytest.param(lambda: DEVON.in_business_hours(NAIVE), id="in_business_hours"),
    pytest.param(lambda: DEVON.local_date(NAIVE), id="local_date"),
    pytest.param(lambda: to_local_iso(NAIVE), id="to_local_iso"),
]


@pytest.mark.parametrize("call", NAIVE_CALLS)
def test_it_refuses_naive_datetimes(call: object) -> None:
    assert callable(call)
    with pytest.raises(CalendarError, match="has no timezone; instants must be aware"):
        call()


# =============================================================================================
# BusinessHours and calendar edge cases
# =============================================================================================


@pytest.mark.parametrize(
    ("days_", "message"),
    [
        pytest.param(
            {0: (time(17), time(9))},
            "monday: opening 17:00 is not before closing 09:00",
            id="backwards",
        ),
        pytest.param(
            {4: (time(9), time(9))},
            "friday: opening 09:00 is not before closing 09:00",
            id="empty-day",
        ),
        pytest.param(
            {7: (time(9), time(17))}, "weekday 7 is not 0 (Monday) to 6 (Sunday)", id="weekday-7"
        ),
    ],
)
def test_it_refuses_impossible_business_hours(
    days_: dict[int, tuple[time, time]], message: str
) -> None:
    with pytest.raises(CalendarError) as raised:
        BusinessHours(days_)
    assert str(raised.value) == message


def test_it_refuses_opening_hours_for_a_day_without_business_hours() -> None:
    with pytest.raises(CalendarError, match=r"2026-06-13 \(saturday\) has no business hours"):
        DEVON.opening(SATURDAY_13_JUNE_2026)


def test_it_raises_rather_than_hangs_when_no_day_is_a_working_day() -> None:
    never_open = Calendar(BusinessHours({}))
    with pytest.raises(CalendarError, match="no working day within"):
        never_open.due_after(at(FRI_5_JUN_2026_1000), ONE_DAY)


def test_it_refuses_a_non_positive_count_of_working_days() -> None:
    with pytest.raises(CalendarError, match="must be positive, not 0"):
        DEVON.nth_working_day_after(FRIDAY_5_JUNE_2026, 0)


# =============================================================================================
# Properties
# =============================================================================================

# An independent list of England & Wales bank holidays, used only to check the properties.
ENGLAND_BANK_HOLIDAYS = frozenset(
    holidays.country_holidays("GB", subdiv="ENG", years=range(2026, 2030)).keys()
)


def _is_devon_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in ENGLAND_BANK_HOLIDAYS


@settings(max_examples=300, deadline=None, database=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2028, 12, 31, 23, 59, 59),
        timezones=st.just(LONDON_TZ),
    ),
    n=st.integers(min_value=1, max_value=20),
    k=st.integers(min_value=1, max_value=5),
)
def test_it_always_puts_a_due_at_close_of_a_working_day_with_reminders_before_it(
    start: datetime, n: int, k: int
) -> None:
    due = DEVON.due_after(start, days(n))
    assert due.utcoffset() == timedelta(0)
    local_due = due.astimezone(LONDON_TZ)
    assert _is_devon_working_day(local_due.date())
    assert local_due.time() == (time(16) if local_due.weekday() == 4 else time(17))
    assert DEVON.in_business_hours(due)
    assert due > start
    start_day = start.astimezone(LONDON_TZ).date()
    assert local_due.date() > start_day
    assert DEVON.working_days_between(start_day, local_due.date()) == n

    day_reminder = DEVON.reminder_before(due, days(k))
    assert day_reminder < due
    local_reminder = day_reminder.astimezone(LONDON_TZ)
    assert local_reminder.time() == time(9)
    assert _is_devon_working_day(local_reminder.date())
    assert DEVON.working_days_between(local_reminder.date(), local_due.date()) == k

    hour_reminder = DEVON.reminder_before(due, hours(k))
    assert hour_reminder < due
    assert DEVON.in_business_hours(hour_reminder)
    assert DEVON.business_time_between(hour_reminder, due) == timedelta(hours=k)
