"""The report's local dates and working days: the Europe/London date of a stored instant as a
SQL expression, and durations in working days worked out from the pairs of local dates the
queries group by.

Local dates are Europe/London dates, which differ from UTC dates in summer (23:30 UTC on 1 July is
00:30 on 2 July in London). PostgreSQL converts with its own time-zone data; SQLite has none, so
there the conversion is a Python function registered on the connection and called by SQLite for
each row it groups. Working days come from the partnership's calendar, once per date involved,
never once per challenge (`WorkingDays`).
"""

from __future__ import annotations

import sqlite3
import typing
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, literal_column, type_coerce
from sqlalchemy.orm import Session

from escalation.reports.figures import Days
from escalation.rules.workdays import LONDON, Calendar

_SQLITE_LOCAL_DATE = "escalation_local_date"


def local_date(session: Session, instant: Any) -> ColumnElement[date]:
    """The Europe/London date of a stored UTC instant, as a SQL expression."""
    if session.get_bind().dialect.name == "postgresql":
        # A literal, not a parameter: the zone is a constant and grouping needs the same text.
        zone: ColumnElement[str] = literal_column(f"'{LONDON.key}'")
        return cast(func.timezone(zone, instant), Date)
    connection = typing.cast(sqlite3.Connection, session.connection().connection.dbapi_connection)
    connection.create_function(_SQLITE_LOCAL_DATE, 1, _london_date, deterministic=True)
    return type_coerce(getattr(func, _SQLITE_LOCAL_DATE)(instant), Date)


def _london_date(stored: str | None) -> str | None:
    """SQLite's stored UTC text (naive, see models.UTCDateTime) to a London ISO date."""
    if stored is None:
        return None
    instant = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    return instant.astimezone(LONDON).date().isoformat()


class WorkingDays:
    """`Calendar.working_days_between` for many date pairs: a running count of working days over
    the dates involved, built once, instead of walking the calendar for every pair."""

    def __init__(self, calendar: Calendar, days: Iterable[date]) -> None:
        days = list(days)
        self.first = min(days, default=date(2000, 1, 1))
        span = (max(days, default=self.first) - self.first).days + 1
        running, self.counts = 0, []
        for offset in range(span):
            running += calendar.is_working_day(self.first + timedelta(days=offset))
            self.counts.append(running)

    def between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`; 0 if `end` is not later."""
        if end <= start:
            return 0
        return self.counts[(end - self.first).days] - self.counts[(start - self.first).days]


def working_days(
    calendars: Mapping[str, Calendar], rows: Sequence[tuple[Any, ...]]
) -> dict[Any, Days]:
    """Rows of (partnership, key, start date, end date, count) -> key -> working-day counts."""
    counters = {
        partnership: WorkingDays(
            calendar, [day for row in rows if row[0] == partnership for day in row[2:4]]
        )
        for partnership, calendar in calendars.items()
    }
    out: dict[Any, Days] = {}
    for partnership, key, start, end, n in rows:
        out.setdefault(key, Counter())[counters[partnership].between(start, end)] += n
    return out
