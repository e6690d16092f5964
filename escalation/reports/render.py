"""Writes a `Report` as a terminal table, a CSV file, a JSON document or an HTML page.

Every format shows the same cells of the same tables (`reports.cells` words each cell); none
adds a figure of its own, and none can show a child's details because a `Report` holds none.

- `table`: plain text, each table's columns aligned; a withheld count is "<5", no figure "—".
- `csv`: long format, one row per figure, so a spreadsheet can filter on any column:
  `partnership,period,section,table_id,table,row,column,value` (`partnership` is "all" for a
  report over every partnership; `row` is the row's label, its first cell; `value` is the
  figure, "<5" when withheld and empty when there is none). A table of labels only (one column)
  gives one row per label, with the label as its value.
- `json`: `{partnership, partnership_name, period: {start, end, label}, as_of, publishable,
  sections: [{title, tables: [{id, title, columns, rows, note}]}]}`; dates ISO 8601, `as_of`
  with its Europe/London offset, a withheld count the string "<5", no figure null.
- `html`: one self-contained page with charts (`reports.html`).
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Callable
from typing import Any, Literal, get_args

from escalation.casework.views import spreadsheet_safe
from escalation.reports.cells import (
    NO_CHILD_DETAIL,
    NO_FIGURE,
    WITHHELD_SHORT,
    data,
    figure_columns,
    period_words,
    publishable_rule,
    words,
)
from escalation.reports.model import Report, Table
from escalation.rules.dates import london
from escalation.rules.workdays import to_local_iso

Format = Literal["table", "csv", "json", "html"]
FORMATS: tuple[str, ...] = get_args(Format)
CSV_HEADER = ("partnership", "period", "section", "table_id", "table", "row", "column", "value")
_WIDTH = 100  # notes wrap here; the tables themselves are as wide as their columns


def render(report: Report, fmt: Format) -> str:
    """The report in `fmt`; text ends with a newline."""
    renderers: dict[str, Callable[[Report], str]] = {
        "table": render_table,
        "csv": render_csv,
        "json": render_json,
        "html": _render_html,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}; formats: {', '.join(FORMATS)}")
    return renderers[fmt](report)


def _render_html(report: Report) -> str:
    from escalation.reports.html import render_html  # matplotlib loads only for the page

    return render_html(report)


# --- table ---------------------------------------------------------------------------------


def render_table(report: Report) -> str:
    lines = _text_header(report)
    for section in report.sections:
        lines += ["", section.title, "=" * len(section.title)]
        for table in section.tables:
            lines += ["", *_text_table(table)]
    return "\n".join(lines) + "\n"


def _text_header(report: Report) -> list[str]:
    lines = [
        f"Case Resolution Protocol report: {report.partnership_name}",
        f"Period:  {period_words(report.period)}",
        f"As of:   {london(report.as_of)} (UK time)",
        NO_CHILD_DETAIL,
    ]
    if report.publishable:
        lines.append(publishable_rule(f'"{WITHHELD_SHORT}"'))
    lines.append(f'"{WITHHELD_SHORT}" means fewer than 5; "{NO_FIGURE}" means no figure.')
    return lines


def _text_table(table: Table) -> list[str]:
    lines = [table.title]
    if not table.rows:
        lines.append("  (none)")
    else:
        right = set(figure_columns(table))
        cells = [list(table.columns)]
        cells += [[words(cell, WITHHELD_SHORT) for cell in row] for row in table.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
        for number, row in enumerate(cells):
            lines.append("  " + _aligned(row, widths, right).rstrip())
            if number == 0:
                lines.append("  " + "  ".join("-" * width for width in widths))
    if table.note:
        lines += textwrap.wrap(
            table.note, _WIDTH, initial_indent="  Note: ", subsequent_indent="        "
        )
    return lines


def _aligned(row: list[str], widths: list[int], right: set[int]) -> str:
    return "  ".join(
        text.rjust(width) if index in right else text.ljust(width)
        for index, (text, width) in enumerate(zip(row, widths, strict=True))
    )


# --- csv -----------------------------------------------------------------------------------


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    where = (report.partnership or "all", report.period.label)
    for section in report.sections:
        for table in section.tables:
            for row in table.rows:
                label = spreadsheet_safe(words(row[0]))  # an organisation's name, as text
                for column, cell in _figures_of(table, row):
                    value = spreadsheet_safe(data(cell))
                    writer.writerow(
                        (*where, section.title, table.id, table.title, label, column, value)
                    )
    return out.getvalue()


def _figures_of(table: Table, row: tuple[Any, ...]) -> list[tuple[str, Any]]:
    if len(table.columns) == 1:
        return [(table.columns[0], row[0])]
    return list(zip(table.columns[1:], row[1:], strict=True))


# --- json ----------------------------------------------------------------------------------


def report_data(report: Report) -> dict[str, Any]:
    """The JSON document as Python values (see the module docstring for its shape)."""
    return {
        "partnership": report.partnership,
        "partnership_name": report.partnership_name,
        "period": {
            "start": report.period.start.isoformat(),
            "end": report.period.end.isoformat(),
            "label": report.period.label,
        },
        "as_of": to_local_iso(report.as_of),
        "publishable": report.publishable,
        "sections": [
            {"title": section.title, "tables": [_table_data(t) for t in section.tables]}
            for section in report.sections
        ],
    }


def _table_data(table: Table) -> dict[str, Any]:
    return {
        "id": table.id,
        "title": table.title,
        "columns": list(table.columns),
        "rows": [[data(cell) for cell in row] for row in table.rows],
        "note": table.note,
    }


def render_json(report: Report) -> str:
    return json.dumps(report_data(report), indent=2, ensure_ascii=False) + "\n"
