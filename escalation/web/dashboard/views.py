"""What the partnership dashboard's pages show, built from a Report and the open challenges
(`dashboard.pages` owns the routes and who may see them; `dashboard.period` the period chosen).

- `build_dashboard`: the report built once (`report_for`, which the downloads use too), in a
  worker thread, and turned into a `DashboardView`: the headline figures, each section's tables
  as `TableView`s (govukTable's parameters and the table's chart as inline SVG), the first
  open challenges, and the period chooser's options.
- `open_challenges`: open challenges as `OpenLine`s, most overdue first, with their status in
  words. A line holds a reference and organisations only: nothing about the child.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from escalation.casework import store_pins
from escalation.reports.cells import figure_columns, financial_year, words
from escalation.reports.model import Cell, Report, Suppressed, Table
from escalation.rules.states import AWAITING, Status, split_state
from escalation.rules.workdays import Calendar, utc
from escalation.web import store_challenges
from escalation.web.context import Web
from escalation.web.dashboard.period import Choice, period_options

if TYPE_CHECKING:
    from escalation.reports.charts import DrawnChart

OPEN_ON_DASHBOARD = 50  # the rest are a link away, so that the figures stay near the top
CHARTS_KEPT = 128  # drawn charts kept for the next visit: a few MB of SVG at most
_STATUS_WORDS = {
    Status.AWAITING_RESPONSE: "Awaiting response",
    Status.OVERDUE: "Awaiting response",
    Status.LAPSE_PROMPT: "Awaiting response",
    Status.RESPONDED: "Responded: with the raiser",
    Status.PAUSED: "Paused",
}


# --- What the templates show -------------------------------------------------------------------


@dataclass(frozen=True)
class TableView:
    dom_id: str
    title: str
    note: str | None
    chart: Markup | None  # the <svg>, already safe
    withheld: tuple[str, ...]  # bars not drawn: fewer than 5
    params: dict[str, Any] | None  # govukTable's parameters; None when the table has no row
    wide: bool  # more columns than a phone shows: the table scrolls sideways


@dataclass(frozen=True)
class SectionView:
    dom_id: str
    title: str
    tables: tuple[TableView, ...]


@dataclass(frozen=True)
class OpenLine:
    """An open challenge as the dashboard lists it: no child, no concern, no free text."""

    reference: str
    level: int | None
    status: str
    urgent: bool
    raising_org: str
    responding_org: str
    due: datetime | None  # when a response is awaited
    overdue_days: int | None  # working days overdue; None when not overdue


@dataclass(frozen=True)
class DashboardView:
    report: Report
    headlines: list[dict[str, Any]]  # govukSummaryList rows
    sections: tuple[SectionView, ...]
    open_lines: list[OpenLine]
    open_total: int
    options: list[dict[str, Any]]
    # Open challenges by the protocol version each runs on (pinned): govukTable rows
    versions: list[list[dict[str, Any]]] = field(default_factory=list)


# --- Building them (in a worker thread: each reads the database) --------------------------------


def build_dashboard(web: Web, partnership: str, choice: Choice, now: datetime) -> DashboardView:
    report = report_for(web, partnership, choice, now)
    calendar = _calendar(web, partnership)
    with web.sessions() as session:
        lines, total = open_challenges(session, partnership, calendar, now, 0, OPEN_ON_DASHBOARD)
        options = _options(session, partnership, calendar, now, choice)
        ids = {p.id for p in web.registry.all() if p.partnership == partnership}
        running = store_pins.open_challenges_by_version(session, ids)
    versions = _version_rows(web, ids, running)
    return DashboardView(
        report, headlines(report), section_views(report), lines, total, options, versions
    )


def _version_rows(
    web: Web, ids: set[str], running: dict[tuple[str, int], int]
) -> list[list[dict[str, Any]]]:
    """One row per version of the partnership's protocols (`ids`) that open challenges run on,
    newest first, saying which file holds it and whether new challenges are raised on it."""
    newest = {pid: web.registry.get(pid).version for pid in ids}
    rows = []
    for (pid, version), count in sorted(running.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        protocol = web.registry.get(pid, version)
        note = "new challenges are raised on it" if version == newest[pid] else "older version"
        rows.append(
            [
                {"text": f"{pid} version {version}"},
                {"text": f"{protocol.source_file} ({note})"},
                {"text": str(count), "format": "numeric"},
            ]
        )
    return rows


def report_for(web: Web, partnership: str, choice: Choice, now: datetime) -> Report:
    from escalation.reports.build import build_report  # the report's SQL loads with its pages only

    return build_report(
        web.sessions, web.registry, partnership, choice.period, now, choice.publishable
    )


def chooser_alone(web: Web, partnership: str, now: datetime) -> list[dict[str, Any]]:
    """The period chooser's items with none chosen: for a period that is not one."""
    calendar = _calendar(web, partnership)
    with web.sessions() as session:
        return _options(session, partnership, calendar, now, None)


def open_page(
    web: Web, partnership: str, now: datetime, offset: int, limit: int
) -> tuple[list[OpenLine], int]:
    calendar = _calendar(web, partnership)
    with web.sessions() as session:
        return open_challenges(session, partnership, calendar, now, offset, limit)


def _calendar(web: Web, partnership: str) -> Calendar:
    return web.registry.for_partnership(partnership).calendar()


def _options(
    session: Session, partnership: str, calendar: Calendar, now: datetime, chosen: Choice | None
) -> list[dict[str, Any]]:
    first = first_year(session, partnership, now)
    return period_options(first, calendar.local_date(now), chosen)


# --- Headline figures --------------------------------------------------------------------------


def headlines(report: Report) -> list[dict[str, Any]]:
    """The figures a reader looks for first, taken from the report's own tables (so they are
    the report's numbers, withheld alike when publishable)."""
    open_now, period = report.table("open_summary"), report.table("period_summary")
    figures = (
        ("Open now", words(_row(open_now, "Open challenges"))),
        ("Overdue now", words(_row(open_now, "Overdue now"))),
        ("Raised in the period", words(_row(period, "Challenges raised"))),
        ("Resolved in the period", words(_row(period, "Challenges resolved"))),
        ("Resolved at levels 1–2 (the protocol's aim)", _share(report.table("resolved_share"))),
    )
    return [{"key": {"text": key}, "value": {"text": value}} for key, value in figures]


def _row(table: Table, label: str, column: int = 1) -> Cell:
    for row in table.rows:
        if row[0] == label:
            return row[column]
    raise KeyError(f"{table.id} has no row {label!r}")


def _share(table: Table) -> str:
    """The share resolved at levels 1–2: the first row of `resolved_share` (levels up to the
    aim come first), its third column."""
    cell = table.rows[0][2] if table.rows else None
    if cell is None:
        return "No challenge resolved in the period"
    if isinstance(cell, Suppressed):
        return "Withheld: too few challenges to publish"
    return f"{words(cell)}% of the challenges resolved in the period"


# --- The report's sections as GOV.UK tables ----------------------------------------------------


def section_views(report: Report) -> tuple[SectionView, ...]:
    return tuple(
        SectionView(
            f"section-{number}",
            section.title,
            tuple(table_view(t, _chart(t, f"chart-{t.id}")) for t in section.tables),
        )
        for number, section in enumerate(report.sections, start=1)
    )


@lru_cache(maxsize=CHARTS_KEPT)
def _chart(table: Table, dom_id: str) -> DrawnChart | None:
    """`reports.charts.draw`, kept: drawing the report's charts takes matplotlib a second or
    more, and most of them are unchanged from one visit to the next. A `Table` is frozen and
    holds only its figures, so equal tables draw the same chart."""
    from escalation.reports.charts import draw  # matplotlib loads with the dashboard only

    return draw(table, dom_id)


def table_view(table: Table, drawn: DrawnChart | None) -> TableView:
    return TableView(
        dom_id=f"table-{table.id}",  # table ids are unique within a report
        title=table.title,
        note=table.note,
        chart=Markup(drawn.svg) if drawn else None,  # matplotlib's SVG, its ids made ours
        withheld=drawn.withheld if drawn else (),
        params=govuk_table(table, drawn is not None),
        wide=len(table.columns) > 3,
    )


def govuk_table(table: Table, charted: bool) -> dict[str, Any] | None:
    """govukTable's parameters: figures right-aligned, each row headed by its first cell; a
    charted table's caption says it gives the chart's figures, another's repeats its heading
    for screen readers only."""
    if not table.rows:
        return None
    numeric = set(figure_columns(table))
    return {
        "caption": f"The figures in the chart: {table.title}" if charted else table.title,
        "captionClasses": "govuk-table__caption--s" if charted else "govuk-visually-hidden",
        "firstCellIsHeader": True,
        "head": _cells(table.columns, numeric, header=True),
        "rows": [_cells(row, numeric) for row in table.rows],
    }


def _cells(values: Sequence[Cell], numeric: set[int], header: bool = False) -> list[Any]:
    cells: list[dict[str, Any]] = []
    for index, value in enumerate(values):
        cell: dict[str, Any] = {"text": value if header else words(value)}
        if index in numeric:
            cell["format"] = "numeric"
        cells.append(cell)
    return cells


# --- Open challenges ---------------------------------------------------------------------------


def open_challenges(
    session: Session,
    partnership: str,
    calendar: Calendar,
    now: datetime,
    offset: int,
    limit: int,
) -> tuple[list[OpenLine], int]:
    """A page of the partnership's open challenges, most overdue first, then by due time (those
    not awaiting a response last), and how many are open in all."""
    now = utc(now)
    total = store_challenges.open_count(session, partnership)
    rows = store_challenges.open_lines(session, partnership, now, offset, limit)
    today = calendar.local_date(now)
    lines = [_line(calendar, today, now, *row) for row in rows]
    return lines, total


def _line(
    calendar: Calendar,
    today: date,
    now: datetime,
    reference: str,
    state: str,
    urgent: bool,
    due_at: datetime | None,
    raising_org: str,
    responding_org: str,
) -> OpenLine:
    level, status = split_state(state)
    awaiting = status.value in AWAITING
    due = utc(due_at) if awaiting and due_at is not None else None
    late = None
    if due is not None and due < now:
        late = calendar.working_days_between(calendar.local_date(due), today)
    return OpenLine(
        reference,
        level,
        _STATUS_WORDS.get(status, status.value.replace("_", " ").capitalize()),
        bool(urgent),
        raising_org,
        responding_org,
        due,
        late,
    )


def first_year(session: Session, partnership: str, now: datetime) -> int:
    """The first year of the financial year of the partnership's first challenge (this year's
    when it has none): the period chooser starts there."""
    first = store_challenges.first_raised(session, partnership)
    return int(financial_year(first if first is not None else now)[:4])
