"""`escalation report`, end to end on a small SQLite database: every format, to standard output
and to a file written whole or not at all, the period options and their errors, and no child's
details in any output.

Three Devon challenges, raised by the school DSL persona in December 2026 through the Service:
one resolved at level 1, one escalated to level 2, one still open at level 1. The report is
taken as of Friday 15 January 2027 at noon.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from escalation.casework import db, directory
from escalation.casework.intake import Resolution
from escalation.casework.service import Service
from escalation.reports.cells import financial_year
from escalation.rules.registry import ProtocolRegistry
from tests.cli.test_cli import ENV_VARIABLES, Cli
from tests.conftest import (
    FIXTURES,
    PRIVACY_MARKERS,
    SCHOOL_DSL,
    SOCIAL_WORKER,
    london,
    raise_request,
)

FRIDAY_15_JAN_NOON = "2027-01-15T12:00"
MARKERS = PRIVACY_MARKERS
DEVON_YEAR = ("--partnership", "devon", "--year", "2026-27")


@pytest.fixture
def board(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    registry: ProtocolRegistry,
    sqlite_template: Path,
) -> Iterator[Cli]:
    for variable in ENV_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    database = tmp_path / "escalation.db"
    monkeypatch.setenv("ESCALATION_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(sqlite_template, database)  # an upgraded, empty database
    engine = db.make_engine(f"sqlite:///{database}")
    sessions = db.session_factory(engine)
    directory.import_csv(sessions, FIXTURES / "directory.csv", registry.partnerships())
    _three_challenges(Service(sessions, registry))
    engine.dispose()
    yield Cli(CliRunner(), database)


def _three_challenges(service: Service) -> None:
    resolved, escalated, _open = (
        service.raise_challenge(raise_request(**MARKERS), london(f"2026-12-0{day} 10:00"))
        for day in (7, 8, 9)
    )
    service.respond(
        resolved, SOCIAL_WORKER, "changed", "MARKER-SUMMARY-6021", [], london("2026-12-08 11:00")
    )
    accepted = Resolution(
        "decision_changed", "MARKER-STATEMENT-1", "MARKER-LIFE-2", recorded_on_both_files=True
    )
    service.accept(resolved, SCHOOL_DSL, accepted, london("2026-12-08 15:00"))
    service.escalate(escalated, SCHOOL_DSL, "MARKER-REASON-3321", london("2026-12-09 12:00"))


def report(cli: Cli, *args: str) -> str:
    return cli.ok("report", *args, now=FRIDAY_15_JAN_NOON).stdout


def report_json(cli: Cli, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(report(cli, *args, "--format", "json"))
    return data


def figures(data: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(table id, row label, column, value) for every figure of the JSON report, as CSV has it."""
    out = set()
    for section in data["sections"]:
        for table in section["tables"]:
            names = table["columns"]
            for row in table["rows"]:
                pairs = (
                    [(names[0], row[0])]
                    if len(names) == 1
                    else zip(names[1:], row[1:], strict=True)
                )
                for column, value in pairs:
                    text = "" if value is None else str(value)
                    out.add((table["id"], str(row[0]), column, text))
    return out


# -- formats ----------------------------------------------------------------------------------


def test_it_prints_the_partnership_year_as_a_table(board: Cli) -> None:
    text = report(board, *DEVON_YEAR)
    assert text.startswith(
        "Case Resolution Protocol report: Devon Safeguarding Children Partnership\n"
    )
    assert "Period:  2026-27 (1 April 2026 to 31 March 2027)" in text
    assert "As of:   15 January 2027 at midday (UK time)" in text
    assert "Publishable" not in text


def test_it_gives_the_same_figures_in_json_and_csv(board: Cli) -> None:
    data = report_json(board, *DEVON_YEAR)
    assert data["partnership"] == "devon"
    assert data["period"] == {"start": "2026-04-01", "end": "2027-03-31", "label": "2026-27"}
    assert data["as_of"] == "2027-01-15T12:00:00+00:00"
    assert data["sections"], data
    rows = list(csv.DictReader(io.StringIO(report(board, *DEVON_YEAR, "--format", "csv"))))
    assert {r["partnership"] for r in rows} == {"devon"}
    assert {(r["table_id"], r["row"], r["column"], r["value"]) for r in rows} == figures(data)


def test_it_counts_the_three_challenges_somewhere(board: Cli) -> None:
    numbers = [
        value
        for section in report_json(board, *DEVON_YEAR)["sections"]
        for table in section["tables"]
        for row in table["rows"]
        for value in row[1:]
        if isinstance(value, int)
    ]
    assert 3 in numbers and 1 in numbers, numbers


def test_it_withholds_counts_of_1_to_4_when_publishable(board: Cli) -> None:
    data = report_json(board, *DEVON_YEAR, "--publishable")
    assert data["publishable"] is True
    cells = [
        value
        for section in data["sections"]
        for table in section["tables"]
        if not table["id"].startswith("no_challenge")  # counts of organisations: never withheld
        for row in table["rows"]
        for value in row[1:]
    ]
    assert "<5" in cells
    assert not [v for v in cells if isinstance(v, int) and 1 <= v <= 4], cells
    text = report(board, *DEVON_YEAR, "--publishable")
    assert "Publishable: counts of 1 to 4" in text


def test_it_writes_the_html_page_to_a_file(board: Cli, tmp_path: Path) -> None:
    page = tmp_path / "devon-2026-27.html"
    result = board.ok(
        "report", *DEVON_YEAR, "--format", "html", "--publishable", "--output", str(page),
        now=FRIDAY_15_JAN_NOON,
    )  # fmt: skip
    assert result.stdout == f"report written to {page} (html, 2026-27)\n"
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<svg" in html and "http:" not in html and "https:" not in html
    assert "Devon Safeguarding Children Partnership" in html
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "html"])
def test_it_writes_each_format_to_a_file_as_it_prints_it(
    board: Cli, tmp_path: Path, fmt: str
) -> None:
    target = tmp_path / f"report.{fmt}"
    board.ok("report", *DEVON_YEAR, "--format", fmt, "--output", str(target),
             now=FRIDAY_15_JAN_NOON)  # fmt: skip
    printed = board.ok("report", *DEVON_YEAR, "--format", fmt, now=FRIDAY_15_JAN_NOON)
    assert target.read_bytes() == printed.stdout_bytes
    assert (target.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "html"])
def test_it_never_shows_a_childs_details(board: Cli, fmt: str) -> None:
    for args in (DEVON_YEAR, ()):
        out = report(board, *args, "--format", fmt)
        leaked = [marker for marker in (*MARKERS.values(), "MARKER") if marker in out]
        assert not leaked, (fmt, leaked)


def test_it_reports_every_partnership_without_partnership(board: Cli) -> None:
    data = report_json(board, "--year", "2026-27")
    assert data["partnership"] is None
    assert data["partnership_name"]


# -- periods ----------------------------------------------------------------------------------


def test_it_defaults_to_the_financial_year_of_now(board: Cli) -> None:
    assert report_json(board, "--partnership", "devon")["period"]["label"] == "2026-27"


def test_it_takes_a_quarter_or_two_dates(board: Cli) -> None:
    quarter = report_json(board, "--quarter", "2026-27-Q3")["period"]
    assert (quarter["start"], quarter["end"]) == ("2026-10-01", "2026-12-31")
    dates = report_json(board, "--from", "2026-12-01", "--to", "2026-12-31")["period"]
    assert (dates["start"], dates["end"]) == ("2026-12-01", "2026-12-31")


@pytest.mark.parametrize(
    ("when", "year"),
    [
        (datetime(2027, 3, 31, 22, 59, tzinfo=UTC), "2026-27"),  # 23:59 BST on 31 March
        (datetime(2027, 3, 31, 23, 30, tzinfo=UTC), "2027-28"),  # 00:30 BST on 1 April
        (datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "2026-27"),
    ],
)
def test_it_picks_the_financial_year_of_the_uk_date(when: datetime, year: str) -> None:
    assert financial_year(when) == year


# -- errors -----------------------------------------------------------------------------------


def test_it_names_the_known_partnerships_for_an_unknown_one(board: Cli) -> None:
    line = board.error("report", "--partnership", "cornwall", now=FRIDAY_15_JAN_NOON)
    assert line == 'error: --partnership: no partnership "cornwall"; known: devon, plymouth, torbay'


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--year", "2026"), "--year"),
        (("--quarter", "2026-27-Q5"), "--quarter"),
        (("--from", "2026-13-01", "--to", "2026-12-31"), "--from"),
        (("--from", "2026-12-01", "--to", "yesterday"), "--to"),
        (("--from", "2026-12-01"), "--to"),
    ],
)
def test_it_names_the_option_of_a_bad_period(
    board: Cli, args: tuple[str, ...], option: str
) -> None:
    line = board.error("report", *args, now=FRIDAY_15_JAN_NOON)
    assert line.startswith(f"error: {option}"), line


def test_it_refuses_two_periods(board: Cli) -> None:
    line = board.error(
        "report", "--year", "2026-27", "--quarter", "2026-27-Q3", now=FRIDAY_15_JAN_NOON
    )
    assert "--year" in line and "--quarter" in line, line


def test_it_refuses_an_unknown_format(board: Cli) -> None:
    result = board("report", "--format", "pdf", now=FRIDAY_15_JAN_NOON)
    assert result.exit_code == 2
    assert "'pdf' is not one of 'table', 'csv', 'json', 'html'" in result.stderr


def test_it_names_output_when_its_folder_is_missing(board: Cli, tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "r.html"
    line = board.error("report", "--output", str(target), now=FRIDAY_15_JAN_NOON)
    assert line.startswith("error: --output: the folder"), line
    assert not target.parent.exists()


def test_it_leaves_the_old_file_whole_when_writing_fails(
    board: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "board.csv"
    target.write_text("last quarter's report\n", encoding="utf-8")

    def full_disk(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("escalation.cli.app.os.replace", full_disk)
    line = board.error(
        "report", *DEVON_YEAR, "--format", "csv", "--output", str(target), now=FRIDAY_15_JAN_NOON
    )
    assert line == f"error: --output: cannot write {target}: No space left on device"
    assert target.read_text(encoding="utf-8") == "last quarter's report\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".board.csv")] == []


def test_it_leaves_nothing_when_the_options_are_wrong(board: Cli, tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    board.error("report", "--year", "26-27", "--output", str(target), now=FRIDAY_15_JAN_NOON)
    assert not target.exists()


def test_it_teaches_with_examples_in_help(board: Cli) -> None:
    text = board.ok("report", "--help").stdout
    assert (
        "escalation report --partnership devon --year 2026-27 --format html --publishable" in text
    )
    assert "financial year" in text
