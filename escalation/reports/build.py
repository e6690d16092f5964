"""The partnership report (PROTOCOL.md §7): its period, and building it.

`parse_period` turns `--year 2026-27` (1 April 2026 to 31 March 2027), `--quarter 2026-27-Q3`
(October to December 2026; Q4 is January to March 2027) or `--from/--to` (inclusive dates) into
a `reports.model.Period`. A period is a span of UK (Europe/London) dates: a challenge is in it
when the UK date of the instant that matters for a table (raised, resolved, escalated…) is.
`build_report` counts the figures in one read-only transaction (`reports.queries`) and lays them
out as sections of tables (`reports.tables`), each cell passed through the publishable `Rule`
(`reports.publishable`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session, sessionmaker

from escalation.casework.intake import within_years
from escalation.errors import InvalidInput
from escalation.reports.model import Period, Report
from escalation.reports.publishable import Rule
from escalation.reports.queries import Scope, gather, prepare
from escalation.reports.tables import sections
from escalation.rules.machine import states_of
from escalation.rules.model import Protocol
from escalation.rules.registry import ProtocolRegistry
from escalation.rules.states import is_open
from escalation.rules.workdays import FIRST_YEAR, LAST_YEAR, LONDON, utc

# --- The period ------------------------------------------------------------------------------

_FINANCIAL_YEAR = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4}-\d{2})-Q([1-4])", re.IGNORECASE)
_QUARTER_MONTHS = {1: (4, 6), 2: (7, 9), 3: (10, 12), 4: (1, 3)}
_WAYS = "--year (like 2026-27), --quarter (like 2026-27-Q3), or --from and --to"


def parse_period(
    year: str | None, quarter: str | None, start: date | None, end: date | None
) -> Period:
    """The period given exactly one way; InvalidInput names the option and the problem."""
    _require_one_way(year, quarter, start, end)
    if year is not None:
        first = _first_year(year, "year")
        return Period(date(first, 4, 1), date(first + 1, 3, 31), _fy(first))
    if quarter is not None:
        return _quarter(quarter)
    assert start is not None and end is not None
    return _dates(start, end)


def _require_one_way(
    year: str | None, quarter: str | None, start: date | None, end: date | None
) -> None:
    given = [
        ("year", year is not None),
        ("quarter", quarter is not None),
        ("from" if start is not None else "to", start is not None or end is not None),
    ]
    ways = [name for name, present in given if present]
    if not ways:
        raise InvalidInput("period", f"give one period: {_WAYS}")
    if len(ways) > 1:
        both = " and ".join(f"--{way}" for way in ways)
        raise InvalidInput(ways[1], f"give one period only, not {both}: {_WAYS}")
    if start is None or end is None:
        missing, other = ("to", "from") if end is None else ("from", "to")
        if year is None and quarter is None:
            raise InvalidInput(missing, f"is required with --{other}")


def _first_year(text: str, option: str) -> int:
    """2026 from "2026-27"."""
    match = _FINANCIAL_YEAR.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(option, f"{text!r} is not a financial year like 2026-27")
    first = int(match.group(1))
    if not FIRST_YEAR <= first <= LAST_YEAR:  # 2099-00 ends in March 2100
        raise InvalidInput(
            option, f"{text.strip()} is not between the years {FIRST_YEAR} and {LAST_YEAR}"
        )
    if (first + 1) % 100 != int(match.group(2)):
        raise InvalidInput(
            option,
            f"{text.strip()} is not one year: a financial year runs from 1 April to 31 March, "
            f"like {_fy(first)}",
        )
    return first


def _fy(first: int) -> str:
    return f"{first}-{(first + 1) % 100:02d}"


def _quarter(text: str) -> Period:
    match = _QUARTER.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(
            "quarter",
            f"{text!r} is not a quarter like 2026-27-Q3 (Q1 April to June, Q2 July to September, "
            "Q3 October to December, Q4 January to March)",
        )
    first, number = _first_year(match.group(1), "quarter"), int(match.group(2))
    months = _QUARTER_MONTHS[number]
    calendar_year = first + 1 if number == 4 else first
    start = date(calendar_year, months[0], 1)
    end = _month_end(calendar_year, months[1])
    label = f"{_fy(first)} Q{number} ({start:%B} to {end:%B} {calendar_year})"
    return Period(start, end, label)


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def _dates(start: date, end: date) -> Period:
    start, end = within_years("from", _day(start)), within_years("to", _day(end))
    if end < start:
        raise InvalidInput("to", f"--to {end} is before --from {start}")
    if start == end:
        label = _long(start)
    elif start.year == end.year:
        label = f"{start.day} {start:%B} to {_long(end)}"
    else:
        label = f"{_long(start)} to {_long(end)}"
    return Period(start, end, label)


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _long(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


# --- The report ------------------------------------------------------------------------------


def build_report(
    sessions: sessionmaker[Session],
    registry: ProtocolRegistry,
    partnership: str | None,
    period: Period,
    as_of: datetime,
    publishable: bool,
) -> Report:
    """The report for one partnership (None: every partnership) and period, as of `as_of`."""
    protocols = _protocols(registry, partnership)
    as_of = utc(as_of)
    after = period.end + timedelta(days=1)
    names = tuple(protocol.partnership for protocol in protocols)
    scope = Scope(
        names, _open_states(registry, names), _midnight(period.start), _midnight(after), as_of
    )
    with sessions() as session, session.begin():
        prepare(session)
        figures = gather(session, scope, {p.partnership: p.calendar() for p in protocols})
    only = protocols[0].partnership if partnership else None
    return Report(
        only,
        protocols[0].partnership_name if only else "All partnerships",
        period,
        as_of,
        publishable,
        sections(figures, protocols, only, Rule(publishable)),
    )


def _protocols(registry: ProtocolRegistry, partnership: str | None) -> list[Protocol]:
    known = registry.partnerships()
    if partnership is None:
        return [registry.for_partnership(name) for name in known]
    name = partnership.strip().lower()
    if name not in known:
        listed = ", ".join(known)
        raise InvalidInput("partnership", f"{partnership!r} is not a partnership ({listed})")
    return [registry.for_partnership(name)]


def _open_states(registry: ProtocolRegistry, partnerships: tuple[str, ...]) -> tuple[str, ...]:
    """Every open state of the partnerships' protocols, old versions too: listed, so the
    database can use its (partnership, state) index to find the few open challenges."""
    versions = [p for p in registry.all() if p.partnership in partnerships]
    return tuple(sorted({state for p in versions for state in states_of(p) if is_open(state)}))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)
