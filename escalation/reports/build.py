"""The partnership report (PROTOCOL.md §7): its period, the publishable rule, and building it.

`parse_period` turns `--year 2026-27` (1 April 2026 to 31 March 2027), `--quarter 2026-27-Q3`
(October to December 2026; Q4 is January to March 2027) or `--from/--to` (inclusive dates) into
a `report_model.Period`. A period is a span of UK (Europe/London) dates: a challenge is in it
when the UK date of the instant that matters for a table (raised, resolved, escalated…) is.
`build_report` counts the figures in one read-only transaction (`report_queries`) and lays them
out as sections of tables (`report_tables`), each cell passed through the `Rule`.

The publishable rule (`suppress`): a count from 1 to 4 is withheld (0 stays 0). When exactly one
count of a breakdown whose total is shown anywhere is withheld, the smallest other non-zero count
is withheld too, so the first cannot be worked out by subtraction. A breakdown of a figure that
is itself withheld (organisations within a withheld type) keeps at least one non-zero count
withheld, so the figure cannot be worked out by addition. Medians and percentiles of fewer than
5 challenges are withheld, and so is a share of fewer than 5, or one whose count is withheld.
Counts of organisations are never withheld: they say nothing about children, and the
organisations are named anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from escalation.casework.intake import within_years
from escalation.errors import InvalidInput
from escalation.reports.model import SUPPRESSED, Cell, Period, Report, Suppressed
from escalation.reports.queries import Days, Scope, gather
from escalation.reports.tables import sections
from escalation.rules.machine import is_open, states_of
from escalation.rules.model import Protocol
from escalation.rules.registry import ProtocolRegistry
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


# --- The publishable rule --------------------------------------------------------------------

MIN_SHOWN = 5  # the publishable rule withholds counts below this, and figures from fewer


# --- The publishable rule --------------------------------------------------------------------


def suppress(counts: Sequence[int], total_shown: bool = True) -> tuple[int | Suppressed, ...]:
    """The publishable rule for one breakdown: its counts from 1 to 4 are withheld, and when
    its total is shown and exactly one count is withheld, so is the smallest other non-zero one
    (the first of equals)."""
    hidden = [0 < count < MIN_SHOWN for count in counts]
    if total_shown and sum(hidden) == 1:
        others = [i for i, count in enumerate(counts) if count > 0 and not hidden[i]]
        if others:
            hidden[min(others, key=lambda i: counts[i])] = True
    return tuple(
        SUPPRESSED if withheld else count for count, withheld in zip(counts, hidden, strict=True)
    )


def suppress_within(total: Cell, counts: Sequence[int]) -> tuple[int | Suppressed, ...]:
    """The rule for a breakdown of a figure shown as `total`: when that figure is withheld, at
    least one non-zero count of the breakdown is withheld too, or adding them up would give it."""
    if total is not SUPPRESSED:
        return suppress(counts)
    cells = list(suppress(counts, total_shown=False))
    if SUPPRESSED not in cells and any(counts):
        cells[min((i for i, n in enumerate(counts) if n), key=lambda i: counts[i])] = SUPPRESSED
    return tuple(cells)


@dataclass(frozen=True)
class Rule:
    """The rule applied to each kind of figure, or nothing withheld when not publishable."""

    publishable: bool

    def counts(self, counts: Sequence[int], total_shown: bool = True) -> tuple[Cell, ...]:
        return suppress(counts, total_shown) if self.publishable else tuple(counts)

    def within(self, total: Cell, counts: Sequence[int]) -> tuple[Cell, ...]:
        return suppress_within(total, counts) if self.publishable else tuple(counts)

    def each(self, count: int) -> Cell:
        return self.counts([count], total_shown=False)[0]

    def figure(self, value: int | float | None, n: int) -> Cell:
        """A median or percentile of `n` challenges."""
        return SUPPRESSED if self.publishable and value is not None and n < MIN_SHOWN else value

    def median_of(self, days: Days) -> Cell:
        return self.figure(median(days), sum(days.values()))

    def spread_of(self, days: Days) -> tuple[Cell, Cell]:
        """The median and the 90th percentile."""
        return self.median_of(days), self.figure(percentile(days, 90), sum(days.values()))

    def share(self, part: Cell, count: int, whole: int) -> Cell:
        """`count` out of `whole` as a percentage; `part` is how `count` itself is shown."""
        if whole == 0:
            return None
        hidden = part is SUPPRESSED or whole < MIN_SHOWN
        return SUPPRESSED if self.publishable and hidden else round(100 * count / whole, 1)


# --- Statistics over a distribution ----------------------------------------------------------


def median(days: Days) -> int | float | None:
    """The middle value; for an even count, the mean of the two middle values."""
    n = sum(days.values())
    if n == 0:
        return None
    middle = (_ranked(days, (n + 1) // 2) + _ranked(days, n // 2 + 1)) / 2
    return int(middle) if middle.is_integer() else middle


def percentile(days: Days, p: int) -> int | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    n = sum(days.values())
    return None if n == 0 else _ranked(days, max(1, -(-p * n // 100)))


def _ranked(days: Days, rank: int) -> int:
    seen = 0
    for value in sorted(days):
        seen += days[value]
        if seen >= rank:
            return value
    raise ValueError(f"rank {rank} is beyond {seen} values")


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
        _prepare(session)
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


def _prepare(session: Session) -> None:
    """PostgreSQL: every query of the report reads one snapshot, so its tables agree with each
    other (SQLite's transaction is one already). Grouping a year of a million challenges spills
    to disk within the default 4 MB of working memory, and compiling each query (JIT) costs more
    than it saves on queries of a second or less: both are set for this transaction only."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    session.execute(text("SET LOCAL jit = off"))
