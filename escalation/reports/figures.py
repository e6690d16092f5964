"""What the partnership report's queries count: the figures its tables are laid out from.

Plain values, no SQL: `reports.queries` fills them in one read-only transaction, and
`reports.tables` (with `reports.publishable`'s rule) turns them into tables. Counts are per
group (organisation, level, category…) and durations are distributions of working days: never
a row per challenge, and nothing about a child.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

Days = Counter[int]  # working days -> how many challenges (or levels) took that long


@dataclass(frozen=True)
class Org:
    name: str
    type: str
    partnership: str


@dataclass(frozen=True)
class OpenNow:
    by_level: Counter[int]
    overdue_by_level: Counter[int]
    age: Days  # working days since raised


@dataclass(frozen=True)
class Raised:
    by_org: Counter[int]  # raising organisation id
    by_receiver: Counter[tuple[int, str | None]]  # (responding organisation id, team)
    by_category: Counter[str]
    by_need: Counter[tuple[int | None, int | None]]  # (raiser's view, decision)

    @property
    def total(self) -> int:
        return sum(self.by_category.values())


@dataclass(frozen=True)
class Resolved:
    days_by_level: dict[int, Days]  # resolved level -> working days from raised to resolved
    by_outcome: Counter[str]
    withdrawn: int


@dataclass(frozen=True)
class Timeliness:
    """Levels opened in the period, by receiving organisation: a status each, and how long."""

    status: Counter[tuple[int, str]]  # (organisation id, on_time | late | missed | pending)
    days: dict[int, Days]  # organisation id -> working days to acknowledge / respond


@dataclass(frozen=True)
class Repeats:
    children: int  # child references with a challenge raised in the period
    twice_in_period: int  # … with two or more raised in the period
    twice_ever: int  # … with two or more raised up to the end of the period


@dataclass(frozen=True)
class Checks:
    yes: int
    no: int
    not_confirmed: int


@dataclass(frozen=True)
class Figures:
    organisations: dict[int, Org]
    raisers: set[int]  # organisations that raised a challenge in the period, anywhere
    open_now: OpenNow
    raised: Raised
    repeats: Repeats
    resolved: Resolved
    escalations: Counter[tuple[int, str]]  # (responding organisation id, raiser | unanswered)
    acknowledgement: Timeliness
    response: Timeliness
    checks: Checks
