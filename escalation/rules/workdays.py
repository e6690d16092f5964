"""England & Wales working days, business hours and deadline arithmetic (PROTOCOL.md §4).

Pure functions over values: nothing here reads the clock, a file or a database. Every instant
that goes in may carry any offset; every instant that comes out is timezone-aware UTC. Local
dates and opening/closing times are worked out in the protocol's zone (Europe/London), so the
GMT/BST changes are handled by zoneinfo, and all arithmetic on instants is done in UTC: adding a
timedelta to an aware local datetime is wall-clock arithmetic in Python and would be an hour out
across a clock change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from escalation.errors import CalendarError, DurationError

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# No deadline in this domain is more than a few months away; a search that runs this long means
# a calendar with no working days at all, which must be an error rather than a hang.
_SEARCH_LIMIT_DAYS = 3660
# The instants a user may give (--now, --start): beyond these it is a typo, and near year 9999
# deadline arithmetic overflows. Timescales: a working year (or its working hours) at most.
FIRST_YEAR, LAST_YEAR = 2000, 2099
MAX_WORKING_DAYS = 250
MAX_WORKING_HOURS = 2000


class Unit(StrEnum):
    """The two kinds of protocol timescale."""

    WORKING_DAYS = "working days"
    WORKING_HOURS = "working hours"


_DURATION_RE = re.compile(r"^\s*([0-9]+)\s+working\s+(day|days|hour|hours)\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Duration:
    """A protocol timescale: a positive whole number of working days or working hours."""

    amount: int
    unit: Unit

    @classmethod
    def parse(cls, text: object) -> Duration:
        if not isinstance(text, str):
            raise DurationError(
                f'{text!r} is not a duration like "5 working days" or "4 working hours"'
            )
        match = _DURATION_RE.match(text)
        if match is None:
            raise DurationError(
                f'"{text}" is not a duration like "5 working days" or "4 working hours"'
            )
        digits = match.group(1).lstrip("0") or "0"
        amount = int(digits) if len(digits) <= 6 else MAX_WORKING_HOURS + 1  # no 60-digit int()
        if amount <= 0:
            raise DurationError(f'"{text}" must be a positive number of working days or hours')
        unit = Unit.WORKING_DAYS if match.group(2).lower().startswith("day") else Unit.WORKING_HOURS
        limit = MAX_WORKING_DAYS if unit is Unit.WORKING_DAYS else MAX_WORKING_HOURS
        if amount > limit:
            shown = text if len(text) <= 40 else f"{text[:20]}…{text[-20:]}"
            raise DurationError(f'"{shown}" is more than {limit} {unit.value} (about a year)')
        return cls(amount, unit)

    def __str__(self) -> str:
        noun = "day" if self.unit is Unit.WORKING_DAYS else "hour"
        return f"{self.amount} working {noun}{'' if self.amount == 1 else 's'}"


@dataclass(frozen=True)
class BusinessHours:
    """Opening and closing local times per weekday (0 = Monday); a missing weekday is closed."""

    days: Mapping[int, tuple[time, time]]
    tz: ZoneInfo = LONDON

    def __post_init__(self) -> None:
        for weekday, (opens, closes) in self.days.items():
            if not 0 <= weekday <= 6:
                raise CalendarError(f"weekday {weekday} is not 0 (Monday) to 6 (Sunday)")
            if opens >= closes:
                raise CalendarError(
                    f"{WEEKDAYS[weekday]}: opening {opens:%H:%M} is not before "
                    f"closing {closes:%H:%M}"
                )


@dataclass(frozen=True)
class Closures:
    """What the closures file adds to, or takes from, the England & Wales bank holidays."""

    extra: Mapping[date, str] = field(default_factory=dict)
    removed: frozenset[date] = frozenset()
    reviewed_until: date | None = None


def utc(instant: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is refused, never guessed."""
    if instant.tzinfo is None:
        raise CalendarError(f"{instant.isoformat()} has no timezone; instants must be aware")
    return instant.astimezone(UTC)


def parse_instant(text: str, tz: ZoneInfo = LONDON) -> datetime:
    """An ISO 8601 instant; one without an offset is local time in `tz`. Returns UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise CalendarError(
            f'"{text}" is not an ISO 8601 date-time like 2026-12-23T15:00 or 2026-12-23T15:00+00:00'
        ) from exc
    # Checked before converting (9999-12-31 overflows) and after, in UTC and in local time:
    # 2099-12-31T23:59-05:00 is already 2100 here, and a reference carries the local year.
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise _outside_years(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    converted = value.astimezone(UTC)
    if not FIRST_YEAR <= converted.year <= LAST_YEAR or not (
        FIRST_YEAR <= converted.astimezone(tz).year <= LAST_YEAR
    ):
        raise _outside_years(text)
    return converted


def _outside_years(text: str) -> CalendarError:
    return CalendarError(
        f'"{text}" is not between the years {FIRST_YEAR} and {LAST_YEAR}, which this '
        "service keeps records for"
    )


@dataclass(frozen=True)
class Calendar:
    """Working days and business hours for one protocol (one partnership)."""

    hours: BusinessHours
    closures: Closures = field(default_factory=Closures)

    @cached_property
    def _bank_holidays(self) -> Any:
        # subdiv="ENG": without it Easter Monday and the summer bank holiday are not returned.
        return holidays.country_holidays("GB", subdiv="ENG")

    @property
    def tz(self) -> ZoneInfo:
        return self.hours.tz

    def holiday_name(self, day: date) -> str | None:
        """Why `day` is not a working day although it is a weekday with hours, or None."""
        if day in self.closures.extra:
            return self.closures.extra[day]
        if day in self.closures.removed:
            return None
        name = self._bank_holidays.get(day)
        return str(name) if name else None

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.hours.days and self.holiday_name(day) is None

    def opening(self, day: date) -> datetime:
        """Opening of business on `day`, in UTC (the day need not be a working day)."""
        return self._local(day, self._hours_of(day)[0])

    def closing(self, day: date) -> datetime:
        """Close of business on `day`, in UTC."""
        return self._local(day, self._hours_of(day)[1])

    def local_date(self, instant: datetime) -> date:
        return utc(instant).astimezone(self.tz).date()

    def working_days_after(self, day: date) -> Iterator[date]:
        """The working days after `day`, in order (`day` itself never counts)."""
        for offset in range(1, _SEARCH_LIMIT_DAYS):
            candidate = day + timedelta(days=offset)
            if self.is_working_day(candidate):
                yield candidate
        raise CalendarError(f"no working day within {_SEARCH_LIMIT_DAYS} days after {day}")

    def working_days_before(self, day: date) -> Iterator[date]:
        """The working days before `day`, latest first."""
        for offset in range(1, _SEARCH_LIMIT_DAYS):
            candidate = day - timedelta(days=offset)
            if self.is_working_day(candidate):
                yield candidate
        raise CalendarError(f"no working day within {_SEARCH_LIMIT_DAYS} days before {day}")

    def nth_working_day_after(self, day: date, n: int) -> date:
        return _nth(self.working_days_after(day), n)

    def nth_working_day_before(self, day: date, n: int) -> date:
        return _nth(self.working_days_before(day), n)

    def due_after(self, start: datetime, duration: Duration) -> datetime:
        """When something started at `start` with timescale `duration` is due (UTC).

        Working days: close of business on the Nth working day after the local start date (the
        start day never counts, whatever the hour). Working hours: N hours of business time from
        the start, or from the next opening if the start is outside business hours.
        """
        if duration.unit is Unit.WORKING_DAYS:
            return self.closing(self.nth_working_day_after(self.local_date(start), duration.amount))
        return self.add_business_time(start, timedelta(hours=duration.amount))

    def reminder_before(self, due: datetime, before: Duration) -> datetime:
        """When a reminder `before` ahead of `due` is sent (UTC).

        Working days: opening of business on the Kth working day before the due day.
        Working hours: K hours of business time before the due instant.
        """
        if before.unit is Unit.WORKING_DAYS:
            return self.opening(self.nth_working_day_before(self.local_date(due), before.amount))
        return self.subtract_business_time(due, timedelta(hours=before.amount))

    def opening_after(self, instant: datetime, duration: Duration) -> datetime:
        """Opening of business N working days (or business time N hours) after `instant`.

        Used for overdue reminders and raiser reminders, which go out at opening.
        """
        if duration.unit is Unit.WORKING_DAYS:
            return self.opening(
                self.nth_working_day_after(self.local_date(instant), duration.amount)
            )
        return self.add_business_time(instant, timedelta(hours=duration.amount))

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime:
        """The instant `amount` of business time after `start` (UTC)."""
        remaining = amount
        cursor = utc(start)
        for opens, closes in self._intervals_from(self.local_date(cursor)):
            begin = max(cursor, opens)
            if begin >= closes:
                continue
            if remaining <= closes - begin:
                return begin + remaining
            remaining -= closes - begin
        raise CalendarError("business time search ran past its limit")  # pragma: no cover

    def subtract_business_time(self, end: datetime, amount: timedelta) -> datetime:
        """The instant `amount` of business time before `end` (UTC)."""
        remaining = amount
        cursor = utc(end)
        for opens, closes in self._intervals_back_from(self.local_date(cursor)):
            finish = min(cursor, closes)
            if finish <= opens:
                continue
            if remaining <= finish - opens:
                return finish - remaining
            remaining -= finish - opens
        raise CalendarError("business time search ran past its limit")  # pragma: no cover

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Business time in [start, end]; zero if end is not after start."""
        start, end = utc(start), utc(end)
        total = timedelta(0)
        if end <= start:
            return total
        day = self.local_date(start)
        last = self.local_date(end)
        while day <= last:
            if self.is_working_day(day):
                overlap = min(end, self.closing(day)) - max(start, self.opening(day))
                total += max(overlap, timedelta(0))
            day += timedelta(days=1)
        return total

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (an age in working days)."""
        count = 0
        day = start + timedelta(days=1)
        while day <= end:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count

    def in_business_hours(self, instant: datetime) -> bool:
        """Whether `instant` is within opening..closing (both inclusive) of a working day."""
        day = self.local_date(instant)
        if not self.is_working_day(day):
            return False
        return self.opening(day) <= utc(instant) <= self.closing(day)

    def coverage_warnings(self, today: date) -> list[str]:
        """Warnings when the holiday data is not known to cover the next 12 months.

        The text names the data, not today's date, so a long-running process can say each
        warning once.
        """
        reviewed = self.closures.reviewed_until
        if reviewed is None:
            return [
                "bank holiday data has no reviewed_until date: nobody has confirmed that it "
                "covers the next 12 months; check gov.uk/bank-holidays and set it in closures.yaml"
            ]
        if reviewed < _add_year(today):
            return [
                f"bank holiday data is reviewed only until {reviewed}, less than the 12 months "
                "ahead that deadlines need; check gov.uk/bank-holidays for proclaimed days and "
                "update closures.yaml"
            ]
        return []

    def _hours_of(self, day: date) -> tuple[time, time]:
        hours = self.hours.days.get(day.weekday())
        if hours is None:
            raise CalendarError(f"{day} ({WEEKDAYS[day.weekday()]}) has no business hours")
        return hours

    def _local(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self.tz).astimezone(UTC)

    def _intervals_from(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        if self.is_working_day(day):
            yield self.opening(day), self.closing(day)
        for working_day in self.working_days_after(day):
            yield self.opening(working_day), self.closing(working_day)

    def _intervals_back_from(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        if self.is_working_day(day):
            yield self.opening(day), self.closing(day)
        for working_day in self.working_days_before(day):
            yield self.opening(working_day), self.closing(working_day)


def _nth(days: Iterator[date], n: int) -> date:
    if n <= 0:
        raise CalendarError(f"a count of working days must be positive, not {n}")
    for index, day in enumerate(days, start=1):
        if index == n:
            return day
    raise CalendarError("working day search ran past its limit")  # pragma: no cover


def _add_year(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def to_local_iso(instant: datetime, tz: ZoneInfo = LONDON) -> str:
    """ISO 8601 with the local offset, e.g. 2027-01-04T17:00:00+00:00 or …+01:00 in summer."""
    return utc(instant).astimezone(tz).isoformat()
