"""The report in every format, from a hand-built `Report`: the same figures everywhere, a
withheld count never shown as a number, and an HTML page that is self-contained, accessible,
deterministic and that a real browser (headless Chromium) draws.

Chromium: the test is skipped on a machine without it, and fails under CI (`CI` set), where
`.ci/run` installs it — the same rule as the PostgreSQL tests.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image  # installed with matplotlib, which draws the charts

from escalation.reports.model import SUPPRESSED, Chart, Period, Report, Section, Table
from escalation.reports.render import CSV_HEADER, render
from tests.browser_support import chromium_path

ROOT = Path(__file__).resolve().parents[2]
THURSDAY_4_FEB_2027_9AM = datetime(2027, 2, 4, 9, 0, tzinfo=UTC)  # GMT: 09:00 in the UK too
YEAR_2026_27 = Period(date(2026, 4, 1), date(2027, 3, 31), "2026-27")
BLUE = (0x1D, 0x70, 0xB8)
SCHOOL = "Ashcombe Primary School & <Sons>"  # markup in a name must come out as text


def sample_report(publishable: bool = True) -> Report:
    """A Devon year with one table of each kind of chart, one of labels only and one empty."""
    open_by_level = Table(
        "open_by_level",
        "Open challenges by level",
        ("Level", "Open", "Median age (working days)"),
        (
            ("1 Practitioner", 12, 3.5),
            ("2 Line managers", SUPPRESSED, 6.0),
            ("3 Senior managers", 0, None),
            ("4 Partnership", 1204, 12.0),
        ),
        Chart.BAR,
        "Open as of the report's date.",
    )
    by_org = Table(
        "raised_by_organisation",
        "Challenges raised by organisation",
        ("Organisation", "Raised"),
        ((SCHOOL, 7), ("Exe Valley Academy", SUPPRESSED), ("Tamar Bridge School", 9)),
        Chart.BARH,
    )
    resolved = Table(
        "resolved_by_level",
        "Resolved and escalated by level",
        ("Level", "Resolved", "Escalated"),
        (("Level 1", 10, 6), ("Level 2", 6, SUPPRESSED), ("Level 3", SUPPRESSED, 0)),
        Chart.GROUPED,
    )
    never = Table("never_challenged", "Organisations that never challenged", ("Organisation",),
                  (("Hill School",), ("Dale Nursery",)))  # fmt: skip
    empty = Table("outcome_checks", "Outcome checks", ("Answer", "Challenges"), (), Chart.BAR)
    return Report(
        partnership="devon",
        partnership_name="Devon Safeguarding Children Partnership",
        period=YEAR_2026_27,
        as_of=THURSDAY_4_FEB_2027_9AM,
        publishable=publishable,
        sections=(
            Section("Open now", (open_by_level,)),
            Section("In the period", (by_org, resolved, never, empty)),
        ),
    )


# -- table ------------------------------------------------------------------------------------


def test_it_prints_a_header_naming_partnership_period_and_as_of() -> None:
    text = render(sample_report(), "table")
    header = text.split("\n\n")[0]
    assert "Devon Safeguarding Children Partnership" in header
    assert "2026-27 (1 April 2026 to 31 March 2027)" in header
    assert "4 February 2027 at 9am (UK time)" in header
    assert "No child-level detail: references and counts only." in header
    assert 'are shown as "<5".' in header
    assert '"<5" means fewer than 5' in header


def test_it_leaves_the_publishable_rule_out_when_not_publishable() -> None:
    assert "Publishable" not in render(sample_report(publishable=False), "table")


def test_it_aligns_each_table_in_columns_with_figures_on_the_right() -> None:
    text = render(sample_report(), "table")
    block = text.split("Open challenges by level\n")[1].split("\n\n")[0].splitlines()
    assert block[0].split() == ["Level", "Open", "Median", "age", "(working", "days)"]
    assert set(block[1].replace(" ", "")) == {"-"}
    rows = block[2:6]
    assert rows[0].startswith("  1 Practitioner ")
    assert rows[1].split()[-2:] == ["<5", "6.0"]
    assert rows[2].split()[-2:] == ["0", "—"]
    assert rows[3].split()[-2:] == ["1,204", "12.0"]
    # right-aligned: every figure of a column ends at the same place
    ends = {row.index(row.split()[-2]) + len(row.split()[-2]) for row in rows}
    assert len(ends) == 1, rows
    assert block[6] == "  Note: Open as of the report's date."


def test_it_says_none_for_a_table_without_rows_and_lists_labels_only_tables() -> None:
    text = render(sample_report(), "table")
    assert "Outcome checks\n  (none)" in text
    assert "Organisations that never challenged\n  Organisation\n  ------------\n  Hill School" in (
        text
    )


# -- csv --------------------------------------------------------------------------------------


def _csv_rows(report: Report) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(render(report, "csv"), newline="")))


def test_it_writes_one_csv_row_per_figure_in_long_format() -> None:
    text = render(sample_report(), "csv")
    assert text.splitlines()[0] == ",".join(CSV_HEADER)
    rows = _csv_rows(sample_report())
    # 4×2 + 3×1 + 3×2 + 2 labels + 0 = 19
    assert len(rows) == 19
    first = rows[0]
    assert first == {
        "partnership": "devon",
        "period": "2026-27",
        "section": "Open now",
        "table_id": "open_by_level",
        "table": "Open challenges by level",
        "row": "1 Practitioner",
        "column": "Open",
        "value": "12",
    }


def test_it_writes_withheld_as_less_than_5_and_no_figure_as_empty_in_csv() -> None:
    values = {
        (r["table_id"], r["row"], r["column"]): r["value"] for r in _csv_rows(sample_report())
    }
    assert values["open_by_level", "2 Line managers", "Open"] == "<5"
    assert values["open_by_level", "3 Senior managers", "Median age (working days)"] == ""
    assert values["open_by_level", "4 Partnership", "Open"] == "1204"  # a number, no comma
    assert values["resolved_by_level", "Level 3", "Resolved"] == "<5"
    assert values["raised_by_organisation", SCHOOL, "Raised"] == "7"
    assert values["never_challenged", "Hill School", "Organisation"] == "Hill School"


def test_it_keeps_a_name_that_looks_like_a_formula_as_text_in_csv() -> None:
    formula = '=HYPERLINK("http://example.org";"x")'
    report = sample_report()
    first = report.sections[0]
    table = dataclasses.replace(first.tables[0], rows=((formula, 3, 1.0),))
    section = dataclasses.replace(first, tables=(table, *first.tables[1:]))
    report = dataclasses.replace(report, sections=(section, *report.sections[1:]))
    values = {(r["table_id"], r["row"]): r["value"] for r in _csv_rows(report)}
    assert ("open_by_level", "'" + formula) in values
    assert not any(row.startswith("=") for _, row in values)


def test_it_names_every_partnership_as_all_in_csv() -> None:
    report = sample_report()
    everyone = Report(None, "All partnerships", report.period, report.as_of, False, report.sections)
    assert {row["partnership"] for row in _csv_rows(everyone)} == {"all"}


# -- json -------------------------------------------------------------------------------------


def test_it_writes_the_documented_json_shape() -> None:
    data = json.loads(render(sample_report(), "json"))
    assert data["partnership"] == "devon"
    assert data["partnership_name"] == "Devon Safeguarding Children Partnership"
    assert data["period"] == {"start": "2026-04-01", "end": "2027-03-31", "label": "2026-27"}
    assert data["as_of"] == "2027-02-04T09:00:00+00:00"
    assert data["publishable"] is True
    assert [s["title"] for s in data["sections"]] == ["Open now", "In the period"]
    table = data["sections"][0]["tables"][0]
    assert set(table) == {"id", "title", "columns", "rows", "note"}
    assert table["id"] == "open_by_level"
    assert table["columns"] == ["Level", "Open", "Median age (working days)"]
    assert table["rows"] == [
        ["1 Practitioner", 12, 3.5],
        ["2 Line managers", "<5", 6.0],
        ["3 Senior managers", 0, None],
        ["4 Partnership", 1204, 12.0],
    ]
    assert table["note"] == "Open as of the report's date."
    empty = data["sections"][1]["tables"][-1]
    assert empty["rows"] == [] and empty["note"] is None


def test_it_gives_as_of_with_the_summer_offset_in_json() -> None:
    report = sample_report()
    summer = Report(
        "devon", "Devon", report.period, datetime(2026, 7, 1, 8, 0, tzinfo=UTC), False, ()
    )
    assert json.loads(render(summer, "json"))["as_of"] == "2026-07-01T09:00:00+01:00"
    assert report.as_of.tzinfo is UTC


def test_it_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="formats: table, csv, json, html"):
        render(sample_report(), "pdf")  # type: ignore[arg-type]


# -- html -------------------------------------------------------------------------------------


class Page(HTMLParser):
    """What the HTML tests look at: every URL-bearing attribute, every tag, and the order of
    headings, charts (with their <title>) and tables (with their caption)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.order: list[tuple[str, str]] = []
        self.svg_attrs: list[dict[str, str | None]] = []
        self.scopes: list[str | None] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
                self.urls.append(value or "")
        if tag == "svg":
            self.svg_attrs.append(dict(attrs))
            self.order.append(("svg", ""))
        if tag == "th":
            self.scopes.append(dict(attrs).get("scope"))
        if tag in ("h3", "title", "caption"):
            self._open.append(tag)
            if tag == "caption":
                self.order.append(("table", ""))
            if tag == "h3":
                self.order.append(("h3", ""))

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] in ("h3", "caption") and self.order:
            kind, text = self.order[-1]
            self.order[-1] = (kind, text + data)
        if self._open and self._open[-1] == "title" and self.order and self.order[-1][0] == "svg":
            self.order[-1] = ("svg", self.order[-1][1] + data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def html() -> str:
    return render(sample_report(), "html")


def test_it_makes_an_html_page_that_requests_nothing(html: str) -> None:
    page = parse(html)
    assert all(url.startswith("#") for url in page.urls), page.urls
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)
    assert "http:" not in html and "https:" not in html
    assert "@import" not in html and "@font-face" not in html
    assert html.count("url(") == html.count("url(#")
    assert '="//' not in html


def test_it_draws_one_titled_accessible_svg_per_charted_table(html: str) -> None:
    page = parse(html)
    charts = [text for kind, text in page.order if kind == "svg"]
    assert charts == [
        "Open challenges by level",
        "Challenges raised by organisation",
        "Resolved and escalated by level",
    ]
    for attrs in page.svg_attrs:
        assert attrs["role"] == "img"
        title_id, desc_id = (attrs["aria-labelledby"] or "").split()
        assert f'<title id="{title_id}">' in html and f'<desc id="{desc_id}">' in html


def test_it_follows_each_chart_with_its_data_table(html: str) -> None:
    order = parse(html).order
    for index, (kind, title) in enumerate(order):
        if kind == "svg":
            assert order[index - 1] == ("h3", title), order
            assert order[index + 1] == ("table", f"The figures in the chart: {title}"), order
    tables = [text for kind, text in order if kind == "table"]
    assert tables[3:] == ["Organisations that never challenged", "Outcome checks"]


def test_it_gives_every_table_header_a_scope(html: str) -> None:
    scopes = parse(html).scopes
    assert scopes and set(scopes) == {"col", "row"}


def test_it_shows_withheld_counts_as_words_never_as_numbers(html: str) -> None:
    assert '<td class="num withheld">fewer than 5</td>' in html
    assert "No bar is drawn where the count is fewer than 5: 2 Line managers." in html
    assert "fewer than 5: Exe Valley Academy." in html
    assert "fewer than 5: Level 2 — Escalated; Level 3 — Resolved." in html
    assert ">&lt;5<" not in html and "SUPPRESSED" not in html


def test_it_heads_the_page_like_a_board_paper(html: str) -> None:
    assert (
        "<title>Case Resolution Protocol report: Devon Safeguarding Children Partnership, " in html
    )
    assert '<html lang="en-GB">' in html
    for text in (
        "<h1>Case Resolution Protocol report</h1>",
        "2026-27 (1 April 2026 to 31 March 2027)",
        "4 February 2027 at 9am (UK time)",
        "No child-level detail: references and counts only.",
        "Publishable: counts of 1 to 4, and any figure that would reveal one, are shown as",
    ):
        assert text in html, text
    assert "Publishable" not in render(sample_report(publishable=False), "html")


def test_it_escapes_names_in_the_page_and_in_chart_titles(html: str) -> None:
    assert "Ashcombe Primary School &amp; &lt;Sons&gt;" in html
    assert "<Sons>" not in html


def test_it_prints_on_a4_without_splitting_a_table(html: str) -> None:
    assert "@page { size: A4;" in html
    assert "table, figure, .note { break-inside: avoid;" in html


def test_it_renders_the_same_bytes_every_time(html: str) -> None:
    assert render(sample_report(), "html") == html
    script = (
        "import sys; from tests.reports.test_report_render import sample_report; "
        "from escalation.reports.render import render; "
        "sys.stdout.buffer.write(render(sample_report(), 'html').encode())"
    )
    other = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        check=True,
        timeout=120,
    )
    assert other.stdout == html.encode()


def test_it_gives_each_chart_its_own_ids(html: str) -> None:
    import re

    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1][:5]
    refs = set(re.findall(r'(?:href="#|url\(#)([^")]+)', html))
    assert refs <= set(ids)


# -- a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_path()  # skipped without it on a developer's machine, failing under CI


def screenshot(chromium: str, page: Path, png: Path, size: str = "1280,2000") -> None:
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={png}",
            f"--window-size={size}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )


def test_it_is_drawn_by_headless_chromium(chromium: str, html: str, tmp_path: Path) -> None:
    page, png = tmp_path / "report.html", tmp_path / "report.png"
    page.write_text(html, encoding="utf-8")
    screenshot(chromium, page, png)
    assert png.stat().st_size > 20_000  # a blank page is a few KB
    with Image.open(png) as image:
        assert image.size == (1280, 2000)
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20) or []
    counts = {colour: count for count, colour in colours}
    white = counts.get((255, 255, 255), 0)
    assert white < 1280 * 2000 * 0.97, "the page is blank"
    assert counts.get(BLUE, 0) > 10_000, "no bars or header rule in GOV.UK blue"
    dark = sum(count for colour, count in counts.items() if max(colour) < 80)
    assert dark > 5_000, "no text"
