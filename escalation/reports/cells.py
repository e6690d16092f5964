"""How one cell of a report table is written, in words for people and as data for machines.

Every output format goes through here, so a figure reads the same in the terminal, the CSV,
the JSON and the HTML page: counts with thousands separators, other figures to one decimal
place, a withheld count ("publishable") as "fewer than 5" or "<5", and no figure as "—".
"""

from __future__ import annotations

from datetime import date, datetime

from escalation.reports.model import SUPPRESSED, Cell, Period, Suppressed, Table
from escalation.rules.workdays import LONDON, utc

WITHHELD_BELOW = 5  # what "fewer than 5" means: a withheld count is at most 4
WITHHELD_WORDS = "fewer than 5"
WITHHELD_SHORT = "<5"  # CSV, JSON and the terminal's narrow columns
NO_FIGURE = "—"  # not applicable, or no data
NO_CHILD_DETAIL = "No child-level detail: references and counts only."

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def words(cell: Cell, withheld: str = WITHHELD_WORDS) -> str:
    """The cell as a person reads it: "1,204", "3.5", `withheld`, "—" or the text itself."""
    if cell is None:
        return NO_FIGURE
    if isinstance(cell, Suppressed):
        return withheld
    if isinstance(cell, int):
        return f"{cell:,}"
    if isinstance(cell, float):
        return f"{cell:,.1f}"
    return cell


def data(cell: Cell) -> str | int | float | None:
    """The cell for a machine (JSON, CSV): numbers as they are, withheld as "<5", None kept."""
    if isinstance(cell, Suppressed):
        return WITHHELD_SHORT
    return cell


def is_figure(cell: Cell) -> bool:
    """A number, or a number withheld: drawn as a bar, right-aligned in a column."""
    return cell is SUPPRESSED or (isinstance(cell, int | float) and not isinstance(cell, bool))


def figure_columns(table: Table) -> list[int]:
    """The columns after the first whose every cell is a figure or empty, with one figure at
    least: the ones a chart draws and a table aligns to the right (all of them when there is
    no row, so that an empty table's headers sit where its figures would)."""
    if not table.rows:
        return list(range(1, len(table.columns)))
    return [
        index
        for index in range(1, len(table.columns))
        if all(is_figure(row[index]) or row[index] is None for row in table.rows)
        and any(is_figure(row[index]) for row in table.rows)
    ]


def publishable_rule(shown_as: str = "“fewer than 5”") -> str:
    """What `--publishable` did, for the header of every human-readable format."""
    return (
        "Publishable: counts of 1 to 4, and any figure that would reveal one, are shown as "
        f"{shown_as}."
    )


def long_date(day: date) -> str:
    """Like "1 April 2026"; month names in English, whatever the machine's locale."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def period_words(period: Period) -> str:
    """ "2026-27 (1 April 2026 to 31 March 2027)": the label and the exact days it covers."""
    return f"{period.label} ({long_date(period.start)} to {long_date(period.end)})"


def financial_year(instant: datetime) -> str:
    """ "2026-27" for any instant from 1 April 2026 to 31 March 2027, Europe/London."""
    day = utc(instant).astimezone(LONDON).date()
    first = day.year if day.month >= 4 else day.year - 1
    return f"{first}-{(first + 1) % 100:02d}"
