"""UK date wording: how an instant or a day is written for people, in Europe/London.

One wording everywhere (emails, pages, the report), GOV.UK's: "4 January 2027 at 5pm". Next to
the working-day rules because a deadline is only as clear as its wording. Pure.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from escalation.rules.workdays import LONDON, utc

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


# The filters are pure and a sweep formats the same few due dates thousands of times: cached.
@lru_cache(maxsize=4096)
def london(instant: datetime) -> str:
    """Like "4 January 2027 at 5pm": the Europe/London date and time of `instant`, GOV.UK style
    (no weekday, no leading zero, "9:30am", "midday", "midnight"); names are English, not the
    locale's. Seconds are not shown."""
    local = utc(instant).astimezone(LONDON)
    return f"{day_words(local)} at {clock_time(local)}"


@lru_cache(maxsize=4096)
def london_day(instant: datetime) -> str:
    """Like "4 January 2027": the Europe/London date of `instant`."""
    return day_words(utc(instant).astimezone(LONDON))


def clock_time(local: datetime) -> str:
    """The wall-clock time of `local` as GOV.UK writes it: "5pm", "9:30am", "midday", "midnight"."""
    if local.minute == 0 and local.hour in (0, 12):
        return "midnight" if local.hour == 0 else "midday"
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    return f"{hour}{suffix}" if local.minute == 0 else f"{hour}:{local.minute:02d}{suffix}"


def day_words(day: date) -> str:
    """Like "4 January 2027", for a calendar day (a decision date, an action's "by" date);
    English month names whatever the locale (strftime's %B follows the locale)."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def uk_datetime(instant: datetime | None) -> str:
    """`london`, or nothing for no instant (the pages' filter)."""
    return "" if instant is None else london(instant)


def uk_date(instant: datetime | None) -> str:
    """`london_day`, or nothing for no instant (the pages' filter)."""
    return "" if instant is None else london_day(instant)
