"""Charts for the HTML report: one table drawn by matplotlib as an inline, accessible SVG.

Drawn on a bare `Figure` with the SVG backend (never pyplot, whose global figures would leak
between reports), glyphs as paths so the page needs no font, and with a fixed hash salt and no
date so that the same report always gives the same bytes. A withheld count (`SUPPRESSED`) is
drawn as no bar with "fewer than 5" where it would stand, never as a number.

The SVG is then made fit to sit inside an HTML page several times over: no XML prolog (its
DOCTYPE names a URL), no namespace URLs or comments, every id prefixed with the chart's own,
and a `<title>`, a `<desc>`, `role="img"` and `aria-labelledby` on the root.
"""

from __future__ import annotations

import io
import re
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
from markupsafe import escape
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

from escalation.reports.cells import WITHHELD_BELOW, WITHHELD_WORDS, figure_columns, words
from escalation.reports.model import Cell, Chart, Suppressed, Table

# GOV.UK colours: blue, orange, dark blue, green, purple, pink; and hatches, so the series of a
# grouped chart can still be told apart printed in black and white or by a colour-blind reader.
COLOURS = ("#1d70b8", "#f47738", "#003078", "#00703c", "#4c2c92", "#d53880")
HATCHES = ("", "//", "..", "xx", "\\\\", "--")
TEXT = "#0b0c0c"
MUTED = "#505a5f"
_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "escalation-report",  # ids from content, not random: the same bytes
    "svg.fonttype": "path",  # glyphs drawn, so no font is fetched or needed
    "text.parse_math": False,  # an organisation named "$…$" is text, not mathtext
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs on any machine
    "font.size": 9,
    "text.color": TEXT,
    "axes.labelcolor": TEXT,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "axes.edgecolor": MUTED,
}
_NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


@dataclass(frozen=True)
class DrawnChart:
    svg: str  # an <svg> element, safe to place in HTML as it is
    withheld: tuple[str, ...]  # the bars not drawn because the count is fewer than 5


_DRAWING = threading.Lock()


def draw(table: Table, dom_id: str) -> DrawnChart | None:
    """The table as a chart (its `chart` kind), or None: not charted, or nothing to draw."""
    columns = figure_columns(table)
    if table.chart is Chart.NONE or not table.rows or not columns:
        return None
    if table.chart is not Chart.GROUPED:
        columns = columns[:1]
    # matplotlib's settings are global while a chart is drawn, and the web service draws in a
    # thread pool: two charts drawn at once would undo each other's settings.
    with _DRAWING, matplotlib.rc_context(_RC):
        figure = _figure(table)
        axes = figure.subplots()
        _plot(axes, table, columns)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata=_NO_METADATA)
    return DrawnChart(_for_html(out.getvalue(), dom_id, table, columns), _withheld(table, columns))


def _figure(table: Table) -> Figure:
    height = 1.2 + 0.34 * len(table.rows) if table.chart is Chart.BARH else 3.4
    return Figure(figsize=(7.5, max(height, 2.0)), layout="constrained", facecolor="white")


def _plot(axes: Axes, table: Table, columns: Sequence[int]) -> None:
    horizontal = table.chart is Chart.BARH
    # Tick labels wrapped to the room each row has, so that long level names stay short.
    room = 40 if horizontal else max(10, 95 // len(table.rows))
    labels = [_wrap(words(row[0]), room) for row in table.rows]
    width = 0.8 / len(columns)
    for series, column in enumerate(columns):
        offset = (series - (len(columns) - 1) / 2) * width
        cells = [row[column] for row in table.rows]
        _series(axes, cells, offset, width, series, table.columns[column], horizontal)
    value_axis, label_axis = (axes.xaxis, axes.yaxis) if horizontal else (axes.yaxis, axes.xaxis)
    label_axis.set_ticks(range(len(labels)), labels)
    cells = [row[i] for row in table.rows for i in columns]
    numbers = [float(c) for c in cells if isinstance(c, int | float)]
    if all(isinstance(c, int) for c in cells if not isinstance(c, Suppressed | None)):
        value_axis.set_major_locator(MaxNLocator(integer=True))
    top = max([*numbers, 0.0])
    if any(isinstance(c, Suppressed) for c in cells):
        top = max(top, WITHHELD_BELOW)  # room for what "fewer than 5" may be
    _tidy(axes, horizontal, len(labels), top * 1.15 or 1.0)
    _name_axes(axes, horizontal, table.columns, columns)


def _series(
    axes: Axes,
    cells: Sequence[Cell],
    offset: float,
    width: float,
    series: int,
    name: str,
    horizontal: bool,
) -> None:
    drawn = [(i, float(c)) for i, c in enumerate(cells) if isinstance(c, int | float)]
    where = [i + offset for i, _ in drawn]
    sizes = [value for _, value in drawn]
    colour, hatch = COLOURS[series % len(COLOURS)], HATCHES[series % len(HATCHES)]
    label = _wrap(name, 32)
    if horizontal:
        bars = axes.barh(
            where, sizes, height=width, color=colour, hatch=hatch, edgecolor="white", label=label
        )
    else:
        bars = axes.bar(
            where, sizes, width=width, color=colour, hatch=hatch, edgecolor="white", label=label
        )
    axes.bar_label(bars, labels=[words(cells[i]) for i, _ in drawn], padding=2, fontsize=8)
    for i, cell in enumerate(cells):
        if isinstance(cell, Suppressed):
            _withheld_mark(axes, i + offset, horizontal, grouped=width < 0.8)


def _withheld_mark(axes: Axes, where: float, horizontal: bool, grouped: bool) -> None:
    """ "fewer than 5" at the foot of the bar that is not drawn: across a horizontal bar's place,
    in two short lines in a column's place, or upright in the narrow place of a grouped bar."""
    style: dict[str, Any] = {"fontsize": 7, "color": MUTED}
    if horizontal:
        axes.text(0, where, f" {WITHHELD_WORDS}", va="center", ha="left", **style)
    elif grouped:
        axes.text(where, 0, f" {WITHHELD_WORDS}", rotation=90, va="bottom", ha="center", **style)
    else:
        axes.text(where, 0, WITHHELD_WORDS.replace(" ", "\n", 1), va="bottom", ha="center", **style)


def _tidy(axes: Axes, horizontal: bool, rows: int, top: float) -> None:
    """Light grid, no box, and limits set by hand: every row has its place (autoscaling would
    leave out a row drawn as no bar) and the first row is first, as in the table."""
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_axisbelow(True)
    axes.grid(axis="x" if horizontal else "y", color="#dddddd", linewidth=0.6)
    if horizontal:
        axes.set_ylim(rows - 0.5, -0.5)
        axes.set_xlim(0, top)
    else:
        axes.set_xlim(-0.5, rows - 0.5)
        axes.set_ylim(0, top)


def _name_axes(axes: Axes, horizontal: bool, names: Sequence[str], columns: Sequence[int]) -> None:
    if len(columns) > 1:
        axes.legend(
            frameon=False,
            loc="lower left",
            bbox_to_anchor=(0, 1),
            # one row when the names are short enough, else two columns (read down, then across)
            ncols=len(columns) if sum(len(names[i]) + 6 for i in columns) <= 90 else 2,
        )
    elif horizontal:
        axes.set_xlabel(names[columns[0]])
    else:
        axes.set_ylabel(names[columns[0]])


def _wrap(label: str, width: int) -> str:
    return "\n".join(textwrap.wrap(label, width)) or label


def _withheld(table: Table, columns: Sequence[int]) -> tuple[str, ...]:
    out = []
    for row in table.rows:
        for column in columns:
            if isinstance(row[column], Suppressed):
                name = words(row[0])
                out.append(name if len(columns) == 1 else f"{name} — {table.columns[column]}")
    return tuple(out)


# --- SVG fit for inline HTML ---------------------------------------------------------------

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->\s*", re.DOTALL)
_NAMESPACE = re.compile(r'\s+xmlns(?::xlink)?="[^"]*"')
_SIZE = re.compile(r'\s+(?:width|height)="[^"]*"')
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(href="#|url\(#)([^")]+)')


def _for_html(svg: str, dom_id: str, table: Table, columns: Sequence[int]) -> str:
    svg = _COMMENT.sub("", _PROLOG.sub("", svg, count=1))
    svg = svg.replace("xlink:href=", "href=")  # SVG 2: no xlink namespace needed
    svg = _ID.sub(lambda m: f'id="{dom_id}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{dom_id}-{m.group(2)}", svg)
    head_end = svg.index(">") + 1
    head = _SIZE.sub("", _NAMESPACE.sub("", svg[:head_end]))
    head = head.replace(
        "<svg",
        f'<svg class="chart" role="img" aria-labelledby="{dom_id}-title {dom_id}-desc"',
        1,
    )
    label = (
        f'<title id="{dom_id}-title">{escape(table.title)}</title>'
        f'<desc id="{dom_id}-desc">{escape(_description(table, columns))}</desc>'
    )
    return head + label + svg[head_end:].strip() + "\n"


def _description(table: Table, columns: Sequence[int]) -> str:
    kind = "Horizontal bar chart" if table.chart is Chart.BARH else "Bar chart"
    measured = " and ".join(table.columns[i] for i in columns)
    return (
        f"{kind} of {measured} by {table.columns[0]}, one bar per row of the table that "
        "follows it, which gives every figure."
    )
