"""The shape of a partnership report: sections of titled tables, ready for any output format.

`reports` fills it from the database (counts, medians, shares — never a child's details);
`reports.render` writes it as a text table, CSV, JSON or a self-contained HTML page with charts.
Every figure is a cell of a `Table`, so every output shows the same numbers, and the HTML page
can follow each chart with the table it was drawn from.

A suppressed cell (`--publishable`: a count from 1 to 4, or a figure that would reveal one) is
`SUPPRESSED`, which every format shows as "fewer than 5" (JSON: the string "<5").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Final


class Suppressed:
    """A figure withheld by the publishable rule; shown as "fewer than 5"."""

    _instance: Suppressed | None = None

    def __new__(cls) -> Suppressed:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "SUPPRESSED"

    def __str__(self) -> str:
        return "fewer than 5"


SUPPRESSED: Final = Suppressed()

Cell = str | int | float | Suppressed | None  # None: not applicable / no data ("—")


class Chart(StrEnum):
    """How the HTML report draws a table (from its first column and its numeric columns)."""

    NONE = "none"
    BAR = "bar"  # one bar per row, first numeric column
    BARH = "barh"  # horizontal bars: long labels (organisations)
    GROUPED = "grouped"  # one group per row, one bar per numeric column


@dataclass(frozen=True)
class Table:
    id: str  # stable machine name, e.g. "open_by_level"; CSV and JSON key
    title: str  # "Open challenges by level"
    columns: tuple[str, ...]  # header labels; the first column labels the rows
    rows: tuple[tuple[Cell, ...], ...]
    chart: Chart = Chart.NONE
    note: str | None = None  # how to read it, in one or two sentences


@dataclass(frozen=True)
class Section:
    title: str  # "Open now", "In the period", …
    tables: tuple[Table, ...]


@dataclass(frozen=True)
class Period:
    start: date  # first day, inclusive (Europe/London)
    end: date  # last day, inclusive
    label: str  # "2026-27", "2026-27 Q3 (October to December 2026)", "1 April to 30 June 2026"


@dataclass(frozen=True)
class Report:
    partnership: str | None  # None: every partnership
    partnership_name: str  # "Devon Safeguarding Children Partnership" or "All partnerships"
    period: Period
    as_of: datetime  # "open now" and ages are as of this instant
    publishable: bool
    sections: tuple[Section, ...] = field(default_factory=tuple)

    def table(self, table_id: str) -> Table:
        for section in self.sections:
            for table in section.tables:
                if table.id == table_id:
                    return table
        raise KeyError(table_id)
