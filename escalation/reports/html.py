"""The HTML report: one self-contained page for a partnership board paper.

`templates/reports/report.html` (Jinja2, autoescaped, `StrictUndefined`) lays out what this
module prepares: the header, then each section, each table under its heading, and for a charted
table the chart (`reports.charts`) followed by the same figures as a real table, so the page can
be understood without seeing the chart. CSS is inline and charts are inline SVG: the page makes
no request of any kind (no font, script, stylesheet or image from elsewhere) and prints on A4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from escalation.reports.cells import (
    NO_CHILD_DETAIL,
    NO_FIGURE,
    WITHHELD_WORDS,
    figure_columns,
    period_words,
    publishable_rule,
    words,
)
from escalation.reports.charts import draw
from escalation.reports.model import Report, Section, Suppressed, Table
from escalation.resources import templates_dir
from escalation.rules.dates import london

TEMPLATE = "reports/report.html"
TITLE = "Case Resolution Protocol report"


@dataclass(frozen=True)
class HtmlCell:
    text: str
    css: str  # "num", "num withheld" or ""


@dataclass(frozen=True)
class HtmlTable:
    dom_id: str
    title: str
    note: str | None
    columns: tuple[HtmlCell, ...]
    rows: tuple[tuple[HtmlCell, ...], ...]
    chart: Markup | None  # the <svg>, already safe
    withheld: tuple[str, ...]  # bars not drawn: fewer than 5


@dataclass(frozen=True)
class HtmlSection:
    dom_id: str
    title: str
    tables: tuple[HtmlTable, ...]


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """Jinja2 over the shipped templates: strict (a misspelt name fails rather than showing
    nothing), escaping by the name's last extension (`report.html` is escaped; a
    `report.html.j2` would not be), blocks trimmed as the emails' templates are. The page uses
    Jinja's built-in filters only: the report needs nothing of the emails'."""
    return Environment(
        loader=FileSystemLoader(str(templates_dir())),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render_html(report: Report) -> str:
    ids = _DomIds()
    values = {
        "title": f"{TITLE}: {report.partnership_name}, {report.period.label}",
        "heading": TITLE,
        "partnership_name": report.partnership_name,
        "period": period_words(report.period),
        "as_of": f"{london(report.as_of)} (UK time)",
        "no_child_detail": NO_CHILD_DETAIL,
        "publishable": publishable_rule() if report.publishable else None,
        "no_figure": NO_FIGURE,
        "withheld_words": WITHHELD_WORDS,
        "sections": [_section(section, ids) for section in report.sections],
    }
    return _environment().get_template(TEMPLATE).render(values)


def _section(section: Section, ids: _DomIds) -> HtmlSection:
    return HtmlSection(
        ids.new("s", section.title), section.title, tuple(_table(t, ids) for t in section.tables)
    )


def _table(table: Table, ids: _DomIds) -> HtmlTable:
    dom_id = ids.new("t", table.id)
    right = set(figure_columns(table))
    drawn = draw(table, f"{dom_id}-chart")
    return HtmlTable(
        dom_id=dom_id,
        title=table.title,
        note=table.note,
        columns=tuple(HtmlCell(name, _css(i in right)) for i, name in enumerate(table.columns)),
        rows=tuple(
            tuple(
                HtmlCell(words(cell), _css(i in right, isinstance(cell, Suppressed)))
                for i, cell in enumerate(row)
            )
            for row in table.rows
        ),
        chart=Markup(drawn.svg) if drawn else None,  # matplotlib's SVG, ids made ours
        withheld=drawn.withheld if drawn else (),
    )


def _css(figure: bool, withheld: bool = False) -> str:
    return " ".join(name for name, on in (("num", figure), ("withheld", withheld)) if on)


class _DomIds:
    """Unique, valid HTML ids from table ids and section titles."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def new(self, prefix: str, name: str) -> str:
        base = f"{prefix}-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x")
        candidate, number = base, 2
        while candidate in self.used:
            candidate, number = f"{base}-{number}", number + 1
        self.used.add(candidate)
        return candidate
