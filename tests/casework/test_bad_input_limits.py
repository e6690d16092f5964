"""Bad input gives one error line naming the field, exits non-zero and writes nothing.

Each case once ended in a traceback or passed silently (issue 11, point 6): names longer than
their columns in `orgs import` (PostgreSQL refused them mid-import; SQLite stored 10,000
characters), instants like 9999-12-31T23:59 that no deadline arithmetic survives, a 60-digit
working-day count that `workflows validate` accepted, and an unknown partnership that listed
nothing and exited 0. The commands run as real processes on the test's own database (SQLite,
and PostgreSQL where the `engine` fixture's `postgres` parameter runs), as a cron job runs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from escalation import resources
from escalation.casework import db, directory
from escalation.casework.service import Service
from escalation.errors import DurationError, InvalidInput
from escalation.rules.registry import ProtocolRegistry
from escalation.rules.workdays import Duration
from tests.conftest import FIXTURES, FRONT_DOOR, SCHOOL, SCHOOL_DSL, london, raise_request

TABLES = ("organisations", "contacts", "challenges", "chronology", "deadlines", "outbox")
HEADER = "organisation,type,partnership,role,name,email"
RAISE = [
    "raise",
    "--partnership",
    "devon",
    "--raising-org",
    SCHOOL,
    "--raiser-name",
    SCHOOL_DSL,
    "--responding-org",
    FRONT_DOOR,
    "--child-ref",
    "CHILD-REF-001",
    "--category",
    "threshold",
    "--decision",
    "Referral judged below threshold",
    "--concern",
    "Attendance falling",
    "--desired-outcome",
    "A social work assessment",
    "--voice-of-child",
    "Frightened at home",
]
MONDAY = "2026-12-07T10:00"


class Escalation:
    """`escalation …` as a real process on one database, and that database's row counts."""

    def __init__(self, engine: Engine | None, workflows: Path | None = None) -> None:
        self.engine = engine
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATION_")}
        if engine is not None:
            url = engine.url.render_as_string(hide_password=False)
            self.env["ESCALATION_DATABASE_URL"] = url
        if workflows is not None:
            self.env["ESCALATION_WORKFLOWS_DIR"] = str(workflows)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "escalation", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, (done.stdout, done.stderr)
        return done.stdout

    def error(self, *args: str) -> str:
        """The one error line of a failing command, which wrote nothing."""
        before = self.rows()
        done = self(*args)
        assert done.returncode != 0, done.stdout
        assert "Traceback" not in done.stderr, done.stderr
        errors = [line for line in done.stderr.splitlines() if re.match(r"(?i)error:", line)]
        assert len(errors) == 1, done.stderr
        assert self.rows() == before
        return done.stderr.strip()

    def rows(self) -> dict[str, int]:
        if self.engine is None:
            return {}
        with self.engine.connect() as connection:
            return {
                table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in TABLES
            }


@pytest.fixture
def escalation(engine: Engine, registry: ProtocolRegistry) -> Escalation:
    """The database with the directory of personas imported (in this process: what is under test
    is the command each test runs, and a process per import cost a second and a half a test)."""
    run = Escalation(engine)
    directory.import_csv(
        db.session_factory(engine), FIXTURES / "directory.csv", registry.partnerships()
    )
    assert run.rows()["organisations"] == 4
    return run


def csv_file(tmp_path: Path, *rows: str) -> str:
    path = tmp_path / "directory.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return str(path)


# -- column lengths ------------------------------------------------------------------------------


def test_it_refuses_names_longer_than_their_columns_in_orgs_import(
    escalation: Escalation, tmp_path: Path
) -> None:
    long_org = "A" * 201
    long_name = "N" * 10_000
    rows = (
        f"{long_org},school,devon,dsl,Sam Teacher,sam@long.example.org",
        f"Devon Front Door,social_care,devon,practitioner,{long_name},sw2@devon.example.org",
        f"Devon Front Door,social_care,devon,practitioner,Ok Name,{'e' * 321}@devon.example.org",
    )
    stderr = escalation.error("orgs", "import", csv_file(tmp_path, *rows))
    assert stderr.splitlines() == [
        "error: nothing was imported:",
        "directory.csv: line 2: organisation: is 201 characters long; the limit is 200",
        "directory.csv: line 3: name: is 10000 characters long; the limit is 200",
        "directory.csv: line 4: email: is 339 characters long; the limit is 320",
    ]


def test_it_imports_names_as_long_as_their_columns(escalation: Escalation, tmp_path: Path) -> None:
    longest = "B" * 200
    row = f"{longest},school,devon,dsl,{'C' * 200},dsl@longest.example.org"
    escalation.ok("orgs", "import", csv_file(tmp_path, row))
    assert escalation.rows()["organisations"] == 5
    assert longest in escalation.ok("orgs", "list", "--partnership", "devon")


def test_it_raises_between_two_organisations_with_the_longest_names(
    escalation: Escalation, tmp_path: Path
) -> None:
    """Both names go into the emails' subject, whose column is shorter than the two together:
    the subject is shortened, never the raise refused."""
    school, team = "S" * 200, "T" * 200
    rows = (
        f"{school},school,devon,dsl,Dana Lead,dsl@long.example.org",
        f"{team},social_care,devon,practitioner,Alex Worker,sw@long.example.org",
    )
    escalation.ok("orgs", "import", csv_file(tmp_path, *rows))
    raised = [*RAISE]
    raised[raised.index(SCHOOL)] = school
    raised[raised.index(FRONT_DOOR)] = team
    assert escalation.ok("--now", MONDAY, *raised, "--urgent").strip() == "DSCP-2026-00001"
    assert escalation.engine is not None
    with escalation.engine.connect() as connection:
        subjects = connection.scalars(text("SELECT subject FROM outbox")).all()
    assert subjects and all(len(subject) == 400 for subject in subjects)
    assert all("DSCP-2026-00001" in subject[:30] for subject in subjects), subjects
    assert all(subject.endswith("…") for subject in subjects)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        (
            "--raiser-name",
            "R" * 201,
            "error: raiser-name: is 201 characters long; the limit is 200",
        ),
        ("--child-ref", "C" * 65, "error: child-ref: is 65 characters long; the limit is 64"),
        (
            "--responding-team",
            "T" * 201,
            "error: responding-team: is 201 characters long; the limit is 200",
        ),
    ],
)
def test_it_refuses_a_raise_field_longer_than_its_column(
    escalation: Escalation, option: str, value: str, expected: str
) -> None:
    args = [*RAISE, option, value] if option not in RAISE else _replaced(RAISE, option, value)
    assert escalation.error("--now", MONDAY, *args) == expected


def _replaced(args: list[str], option: str, value: str) -> list[str]:
    index = args.index(option) + 1
    return [*args[:index], value, *args[index + 1 :]]


# -- dates beyond the horizon ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "command"),
    [
        ("9999-12-31T23:59", RAISE),
        ("1999-12-31T23:59", RAISE),
        ("9999-12-31T23:59", ["report"]),
        ("2100-01-01T00:00", ["sweep"]),
        ("2099-12-31T23:59-05:00", RAISE),  # 2100 in UTC and in London
        ("2000-01-01T00:30+01:00", ["report"]),  # 1999 in UTC and in London
    ],
    ids=["raise-9999", "raise-1999", "report-9999", "sweep-2100", "raise-offset", "report-offset"],
)
def test_it_refuses_a_now_outside_the_years_it_keeps_records_for(
    escalation: Escalation, instant: str, command: list[str]
) -> None:
    assert escalation.error("--now", instant, *command).startswith(
        f'error: --now: "{instant}" is not between the years 2000 and 2099'
    )


def test_it_refuses_a_due_start_outside_the_years_it_keeps_records_for(
    escalation: Escalation,
) -> None:
    args = ("due", "--workflow", "devon", "--level", "1", "--start", "9999-12-31T23:59")
    assert escalation.error(*args).startswith(
        'error: --start: "9999-12-31T23:59" is not between the years 2000 and 2099'
    )
    accepted = escalation.ok(*args[:-1], "2099-06-01T10:00")
    assert "due at          2099-06-08T17:00:00+01:00" in accepted


def test_it_refuses_dates_outside_the_years_by_their_option(escalation: Escalation) -> None:
    assert escalation.error("--now", MONDAY, *RAISE, "--decision-date", "1999-12-31") == (
        "error: decision-date: 1999-12-31 is not between the years 2000 and 2099"
    )
    assert escalation.error("report", "--from", "9999-12-01", "--to", "9999-12-31") == (
        "error: --from: 9999-12-01 is not between the years 2000 and 2099"
    )
    assert escalation.error("report", "--year", "9998-99") == (
        "error: --year: 9998-99 is not between the years 2000 and 2099"
    )


def test_it_refuses_an_extension_outside_the_years(service: Service) -> None:
    reference = service.raise_challenge(raise_request(), london("2026-12-07 10:00"))
    with pytest.raises(InvalidInput) as refused:
        service.extend(
            reference, SCHOOL_DSL, "Alex", date(1999, 1, 4), "More time", london("2026-12-08 10:00")
        )
    assert str(refused.value) == "until: 1999-01-04 is not between the years 2000 and 2099"


# -- unknown partnerships --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["list", "--partnership", "cornwall"],
            "error: partnership: 'cornwall' is not a known partnership "
            "(known: devon, plymouth, torbay)",
        ),
        (
            ["orgs", "list", "--partnership", "cornwall"],
            "error: partnership: 'cornwall' is not a known partnership "
            "(known: devon, plymouth, torbay)",
        ),
        (
            ["api-tokens", "list", "--partnership", "cornwall"],
            "error: partnership: 'cornwall' is not a known partnership "
            "(known: devon, plymouth, torbay)",
        ),
        (
            ["admin", "add", "--partnership", "cornwall", "--name", "Pat", "--email", "p@x.org"],
            "error: partnership: 'cornwall' is not a known partnership "
            "(known: devon, plymouth, torbay)",
        ),
        (
            ["report", "--partnership", "cornwall"],
            'error: --partnership: no partnership "cornwall"; known: devon, plymouth, torbay',
        ),
        (
            [*_replaced(RAISE, "--partnership", "cornwall")],
            "error: partnership: 'cornwall' is not a known partnership "
            "(known: devon, plymouth, torbay)",
        ),
    ],
    ids=["list", "orgs-list", "api-tokens-list", "admin-add", "report", "raise"],
)
def test_it_refuses_an_unknown_partnership_listing_the_known_ones(
    escalation: Escalation, args: list[str], expected: str
) -> None:
    assert escalation.error("--now", MONDAY, *args) == expected


def test_it_still_lists_a_known_partnership_in_any_case(escalation: Escalation) -> None:
    assert "Devon Front Door" in escalation.ok("orgs", "list", "--partnership", "Devon")
    assert escalation.ok("list", "--partnership", "torbay") == ""


# -- working-day counts in protocol files ----------------------------------------------------


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    shutil.copytree(resources.workflows_dir(), folder)
    return folder


def _edit(folder: Path, old: str, new: str) -> Path:
    devon = folder / "devon.yaml"
    content = devon.read_text()
    assert old in content
    devon.write_text(content.replace(old, new, 1))
    return devon


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "response_due: 5 working days",
            f"response_due: {'9' * 60} working days",
            # shortened: the first and last 20 characters
            f'error: devon.yaml: levels[0].response_due: "{"9" * 20}…{"9" * 7} working days" is '
            "more than 250 working days (about a year)",
        ),
        (
            "urgent_response_due: 4 working hours",
            "urgent_response_due: 2001 working hours",
            'error: devon.yaml: levels[0].urgent_response_due: "2001 working hours" is more than '
            "2000 working hours (about a year)",
        ),
        (
            "version: 1",
            f"version: {'1' * 60}",
            f"error: devon.yaml: version: must be at most 9999, not {'1' * 60}",
        ),
    ],
    ids=["60-digit-days", "hours", "version"],
)
def test_it_reports_a_count_beyond_its_bound_as_a_problem_of_the_file(
    workflows: Path, old: str, new: str, expected: str
) -> None:
    devon = _edit(workflows, old, new)
    assert Escalation(None, workflows).error("workflows", "validate", str(devon)) == expected


def test_it_bounds_durations_at_a_working_year() -> None:
    assert str(Duration.parse("250 working days")) == "250 working days"
    assert str(Duration.parse("2000 working hours")) == "2000 working hours"
    for refused in ("251 working days", "2001 working hours", f"{'0' * 50}1{'0' * 9} working days"):
        with pytest.raises(DurationError, match="is more than"):
            Duration.parse(refused)
    assert str(Duration.parse(f"{'0' * 50}5 working days")) == "5 working days"
