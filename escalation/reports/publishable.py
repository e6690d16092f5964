"""The publishable rule and the statistics it is applied to (PROTOCOL.md §7).

The rule (`suppress`): a count from 1 to 4 is withheld (0 stays 0). When exactly one count of a
breakdown whose total is shown anywhere is withheld, the smallest other non-zero count is
withheld too, so the first cannot be worked out by subtraction. A breakdown of a figure that is
itself withheld (organisations within a withheld type) keeps at least one non-zero count
withheld, so the figure cannot be worked out by addition. Medians and percentiles of fewer than
5 challenges are withheld, and so is a share of fewer than 5, or one whose count is withheld.
Counts of organisations are never withheld: they say nothing about children, and the
organisations are named anyway.

`Rule` applies it to each kind of figure, or withholds nothing when the report is not
publishable; every table of `reports.tables` is built with one. `median` and `percentile` are
taken over a distribution of working days (`figures.Days`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from escalation.reports.figures import Days
from escalation.reports.model import SUPPRESSED, Cell, Suppressed

MIN_SHOWN = 5  # the publishable rule withholds counts below this, and figures from fewer


# --- The rule --------------------------------------------------------------------------------


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
