"""How the report benchmark's copies of a prototype differ from it, as SQL over the copy number.

`bench.fill.clone` numbers the copies of a prototype 0, 1, …; `make_vary` turns that number
(plus the prototype's own offset, so every copy has a unique index) into pseudo-random draws by
multiplicative hashing, a different multiplier per attribute, and from them:

- the raising organisation, skewed (the density falls as 1/√rank: a few organisations raise
  many challenges, most a few), never one of the last 15 % of the partnership's raising
  organisations (organisations that never challenge); the responding team, skewed the same way;
  a `responding_team` label (or none); the category and the levels of need by fixed shares;
  the outcome, if the prototype was resolved, among those its scenario allows;
- the child reference, from a pool of `CHILD_POOL` × the partnership's challenges (about 8 % of
  challenges are for a child with another one), and a year of birth that follows the reference;
- the instants: every instant of the copy, in every table (but the chronology's `recorded_at`,
  the real clock), moves back by the same whole number of weeks, 0 … `max_weeks`, and the same
  number of seconds, 0 … 3599 (so instants are as distinct as real ones, and indexes are not
  shrunk by duplicates that real data would not have); the decision date moves by the weeks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    FromClause,
    Integer,
    String,
    Table,
    case,
    cast,
    func,
    literal,
    literal_column,
)

from bench import fill
from bench.report_directory import Organisations
from escalation.casework.base import UTCDateTime
from escalation.rules.workdays import LONDON

NEVER_RAISE = 0.15  # the last 15 % of each partnership's raising organisations never raise one
CHILD_POOL = 6  # children per challenge: about 8 % of challenges repeat a child
JITTER_SECONDS = 3600  # instants of a copy also move back 0 … 59 min 59 s, all by the same


@dataclass(frozen=True)
class Plan:
    """The copies of one prototype."""

    prototype: int  # its challenge id
    partnership: str
    outcomes: tuple[str, ...]  # its copies' outcomes, if it is resolved
    copies: int  # besides the prototype
    first_index: int  # the global index of copy 0: every copy's index is unique
    max_weeks: int  # copies move back 0 … max_weeks whole weeks


def max_weeks(
    raised: datetime,
    first_pending: datetime | None,
    as_of: datetime,
    window_start: date,
    cap: int | None,
) -> int:
    """How far back copies may move: still raised in the window, and every deadline still
    pending at `as_of` after it (a copy must not hold a deadline an on-time worker would have
    applied). An hour's margin covers the jitter."""
    weeks = (raised.astimezone(LONDON).date() - window_start).days // 7
    if first_pending is not None:
        weeks = min(weeks, (first_pending - as_of - timedelta(seconds=JITTER_SECONDS)).days // 7)
    if cap is not None:
        weeks = min(weeks, cap)
    return max(weeks, 0)


# Odd multipliers (Knuth's multiplicative hashing): each attribute of a copy draws from its own.
_MULTIPLIERS = {
    "weeks": 2654435761,
    "seconds": 2869860233,
    "raising": 2246822519,
    "responding": 3266489917,
    "team": 668265263,
    "category": 374761393,
    "need": 1103515245,
    "outcome": 1597334677,
    "child": 3812015801,
}
CATEGORY_WEIGHTS = (  # share in %
    ("threshold", 40), ("step_change", 15), ("plan_not_progressing", 15),
    ("service_provision", 12), ("information_sharing", 10), ("roles", 8),
)  # fmt: skip
TEAM_WEIGHTS = (("Duty team", 30), ("Assessment team", 30), (None, 40))
NEED_WEIGHTS = (  # (the raiser's view, the decision challenged), share in %
    ((4, 2), 25), ((3, 2), 20), ((4, 3), 15), ((3, 1), 10), ((2, 1), 10),
    ((4, 1), 5), ((3, 3), 5), ((2, 2), 5), ((None, None), 5),
)  # fmt: skip


def _hash(n: ColumnElement[int], plan: Plan, attribute: str) -> ColumnElement[int]:
    """A pseudo-random 0 … 2³² - 1 for copy `n` and `attribute`, the same in every table."""
    index = n + plan.first_index
    return (index * literal(_MULTIPLIERS[attribute], BigInteger)) % 4294967296


def _draw(n: ColumnElement[int], plan: Plan, attribute: str, below: int) -> ColumnElement[int]:
    """0 … below - 1, from the hash's high bits (the well-mixed ones)."""
    return _hash(n, plan, attribute) // 65536 % below


def _weighted(u: ColumnElement[int], choices: Sequence[tuple[Any, int]]) -> ColumnElement[Any]:
    whens: list[tuple[ColumnElement[bool], Any]] = []
    bound = 0
    for value, weight in choices[:-1]:
        bound += weight
        whens.append((u < bound, value))
    return case(*whens, else_=choices[-1][0])


def _skewed(u: ColumnElement[int], first: int, count: int) -> ColumnElement[int]:
    """An id in first … first + count - 1 for u in 0 … 1023, low ones far more often."""
    return first + (u * u * count) // (1024 * 1024)


def _shifted(column: Any, weeks: Any, seconds: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        week: Any = literal_column("interval '1 week'")
        second: Any = literal_column("interval '1 second'")
        return column - week * cast(weeks, Integer) - second * cast(seconds, Integer)
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff': move the date and time, keep the fraction.
    days = literal("-", String) + cast(weeks * 7, String) + literal(" days", String)
    back = literal("-", String) + cast(seconds, String) + literal(" seconds", String)
    moved = func.datetime(column, days, back, type_=String)
    return moved + func.substr(column, 20, type_=String)


def _shifted_date(column: Any, weeks: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(cast(column, Date) - cast(weeks * 7, Integer), "YYYY-MM-DD")
    days = literal("-", String) + cast(weeks * 7, String) + literal(" days", String)
    return func.date(column, days, type_=String)


def _digits(number: ColumnElement[int], dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.lpad(cast(number, String), 7, "0")
    return func.printf("%07d", number, type_=String)


def make_vary(plan: Plan, orgs: Organisations, dialect: str, pool: int) -> fill.Vary:
    """How the copies of one prototype differ: see the module's docstring."""
    child_prefix = f"{plan.partnership[:3].upper()}-C"
    active = int(orgs.raising_count * (1 - NEVER_RAISE))

    def vary(table: Table, p: FromClause, n: ColumnElement[int]) -> dict[str, Any]:
        weeks = _draw(n, plan, "weeks", plan.max_weeks + 1)
        seconds = _draw(n, plan, "seconds", JITTER_SECONDS)
        values: dict[str, Any] = {
            c.name: _shifted(p.c[c.name], weeks, seconds, dialect)
            for c in table.c
            if isinstance(c.type, UTCDateTime) and c.name != "recorded_at"
        }
        if table.name != "challenges":
            return values
        need = _draw(n, plan, "need", 100)
        child = _hash(n, plan, "child") % pool
        values |= {
            "raising_org_id": _skewed(_draw(n, plan, "raising", 1024), orgs.raising_first, active),
            "responding_org_id": _skewed(
                _draw(n, plan, "responding", 1024), orgs.responding_first, orgs.responding_count
            ),
            "responding_team": _weighted(_draw(n, plan, "team", 100), TEAM_WEIGHTS),
            "category": _weighted(_draw(n, plan, "category", 100), CATEGORY_WEIGHTS),
            "need_raiser_view": _weighted(need, [(r, w) for (r, _), w in NEED_WEIGHTS]),
            "need_decision": _weighted(need, [(d, w) for (_, d), w in NEED_WEIGHTS]),
            "child_ref": literal(child_prefix, String) + _digits(child, dialect),
            "child_birth_year": 2009 + child % 17,  # one child, one year of birth
            "decision_date": _shifted_date(p.c.decision_date, weeks, dialect),
        }
        if plan.outcomes:
            pick = _draw(n, plan, "outcome", len(plan.outcomes))
            chosen = case(*((pick == i, o) for i, o in enumerate(plan.outcomes)))
            values["outcome"] = case((p.c.outcome.is_(None), None), else_=chosen)
        return values

    return vary
