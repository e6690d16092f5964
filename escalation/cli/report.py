"""`escalation report`: the partnership board report (PROTOCOL.md §7), in four formats.

The command reads the clock once (or takes the global `--now`): that instant is the report's
"as of", and, with no period given, picks the financial year it falls in. The figures come from
`reports.build`; `reports.render` writes them (both imported only when the command runs). A
file given with `--output` is written whole or not at all: into a temporary file beside it,
then renamed over it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from escalation.cli.app import App, pass_app, write_atomically
from escalation.cli.choices import REPORT_FORMATS
from escalation.errors import InvalidInput

if TYPE_CHECKING:
    from escalation.reports.model import Period
    from escalation.reports.render import Format

_OPTIONS = ("year", "quarter", "from", "to")


@click.command("report")
@click.option(
    "--partnership",
    metavar="ID",
    default=None,
    help="Only this partnership (e.g. devon). Default: every partnership together.",
)
@click.option("--year", metavar="YYYY-YY", help="A financial year, April to March: 2026-27.")
@click.option(
    "--quarter",
    metavar="YYYY-YY-QN",
    help="A quarter of a financial year: 2026-27-Q1 is April to June 2026, Q4 January to "
    "March 2027.",
)
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day of a period (with --to).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day of the period, inclusive.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default="table",
    show_default=True,
    help="table: text for a terminal; csv: one row per figure; json; html: one "
    "self-contained page with charts, for printing or a board paper.",
)
@click.option(
    "--output",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to FILE (whole, or not at all) instead of standard output.",
)
@click.option(
    "--publishable",
    is_flag=True,
    help='Show counts of 1 to 4, and any figure that would reveal one, as "fewer than 5".',
)
@pass_app
def report_command(
    app: App,
    partnership: str | None,
    year: str | None,
    quarter: str | None,
    start: str | None,
    end: str | None,
    fmt: Format,
    output: Path | None,
    publishable: bool,
) -> None:
    """The partnership board report: open challenges, overdue, who raises them and where they
    are resolved, times to resolution and outcome checks — counts and medians only, never a
    child's details.

    Give at most one period: --year, --quarter, or --from with --to (dates are
    Europe/London days, both inclusive). With none, the financial year that today (or
    --now) falls in, so far. "Open now" is the challenges as the records stand; their ages
    and "overdue" are counted to now (or --now).

    \b
    Examples:
      escalation report --partnership devon
      escalation report --partnership devon --quarter 2026-27-Q3 --format csv --output q3.csv
      escalation report --from 2026-04-01 --to 2026-09-30 --format json
      escalation report --partnership devon --year 2026-27 --format html --publishable \\
          --output devon-2026-27.html
      escalation report --year 2025-26 --format csv --output all-2025-26.csv   (every partnership)
    """
    # Only this command loads the report's SQL (and, for html, matplotlib).
    from escalation.reports.build import build_report
    from escalation.reports.cells import financial_year
    from escalation.reports.render import render

    if partnership is not None and partnership not in app.registry.partnerships():
        known = ", ".join(app.registry.partnerships()) or "none"
        raise InvalidInput("--partnership", f'no partnership "{partnership}"; known: {known}')
    as_of = app.now
    if year is None and quarter is None and start is None and end is None:
        year = financial_year(as_of)
    period = _period(year, quarter, _day("--from", start), _day("--to", end))
    report = build_report(app.sessions, app.registry, partnership, period, as_of, publishable)
    text = render(report, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    write_atomically(output, text)
    click.echo(f"report written to {output} ({fmt}, {report.period.label})")


def _period(year: str | None, quarter: str | None, start: date | None, end: date | None) -> Period:
    """`reports.parse_period`, its errors naming the command's options ("--year", not "year")."""
    from escalation.reports.build import parse_period

    try:
        return parse_period(year, quarter, start, end)
    except InvalidInput as exc:
        if exc.field not in _OPTIONS:
            raise
        raise InvalidInput(f"--{exc.field}", exc.problem) from None


def _day(option: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(option, f'"{text}" is not a date like 2026-04-01') from None
