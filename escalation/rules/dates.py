"""UK date wording: how an instant or a day is written for people, in Europe/London.

Next to the working-day rules because a deadline is only as clear as its wording. Pure.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from escalation.rules.workdays import LONDON, utc

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


# The filters are pure and a sweep formats the same few due dates thousands of times: cached.
@lru_cache(maxsize=4096)
def london(instant: datetime) -> str:
    """Like "Monday 4 January 2027 at 17:00", in Europe/London; names are English, not locale."""
    local = utc(instant).astimezone(LONDON)
    return f"{london_day(local)} at {local:%H:%M}"


@lru_cache(maxsize=4096)
def london_day(instant: datetime) -> str:
    """Like "Monday 4 January 2027": the Europe/London date of `instant`."""
    local = utc(instant).astimezone(LONDON)
    return f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}"


def uk_datetime(instant: datetime | None) -> str:
    if instant is None:
        return ""
    local = utc(instant).astimezone(LONDON)
    return local.strftime("%-d %B %Y at %-I:%M%p").replace("AM", "am").replace("PM", "pm")


def uk_date(instant: datetime | None) -> str:
    if instant is None:
        return ""
    return utc(instant).astimezone(LONDON).strftime("%-d %B %Y")
