"""The `escalation` command line, end to end: real subprocesses for the smoke tests, click's
CliRunner with a per-test SQLite database (created with `escalation db upgrade`) for the rest.

Every expected instant is written by hand (Devon: Mon–Thu 09:00–17:00, Fri 09:00–16:00,
Europe/London). `--now` is the global option, given before the subcommand.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from escalation.cli.main import main
from escalation.resources import workflows_dir
from tests.conftest import (
    FIXTURES,
    FRONT_DOOR,
    SCHOOL,
    SCHOOL_DSL,
    SERVICE_MANAGER,
    SOCIAL_WORKER,
    TEAM_MANAGER,
    raise_request,
)

REF = "DSCP-2026-00001"
MONDAY_7_DEC_10AM = "2026-12-07T10:00"
CHRONOLOGY_HEADER = "when,recorded_at,who,event,level,factual_concern,action,impact"
ENV_VARIABLES = (
    "ESCALATION_DATABASE_URL",
    "ESCALATION_WORKFLOWS_DIR",
    "ESCALATION_BASE_URL",
    "ESCALATION_LOG_LEVEL",
)
STAGE_KEYS = {"level", "opened_at", "due_at", "acknowledged_at", "responded_at", "escalated_at"}
RESOLUTION = [
    "--outcome",
    "decision_changed",
    "--statement",
    "Assessment allocated",
    "--life-improvement",
    "Seen weekly by a social worker; attendance plan with school",
    "--recorded-on-both-files",
]


# -- helpers -------------------------------------------------------------------------------------


@dataclass
class Cli:
    """Runs `escalation …` in-process against this test's own SQLite file."""

    runner: CliRunner
    database: Path

    def __call__(self, *args: str, now: str | None = None) -> Result:
        argv = (["--now", now] if now is not None else []) + list(args)
        return self.runner.invoke(main, argv)

    def ok(self, *args: str, now: str | None = None) -> Result:
        result = self(*args, now=now)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str, now: str | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", now=now).stdout)

    def fails(self, *args: str, now: str | None = None) -> Result:
        """A clean failure: non-zero exit through sys.exit, never an uncaught exception."""
        result = self(*args, now=now)
        assert result.exit_code != 0, result.stdout
        assert isinstance(result.exception, SystemExit), result.exception
        return result

    def error(self, *args: str, now: str | None = None) -> str:
        """The one `error: …` line on stderr of a failing command."""
        result = self.fails(*args, now=now)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: "), result.stderr
        return lines[0]

    def count(self, table: str) -> int:
        with closing(sqlite3.connect(self.database)) as connection:
            return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def chronology(self, reference: str = REF) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(
            self.ok("chronology", reference, "--format", "json").stdout
        )
        return rows


def raise_args(**overrides: str | None) -> list[str]:
    """The conftest persona's challenge (`raise_request()`) as `escalation raise` options;
    override any option by its name with underscores (None leaves the option out)."""
    fields = dataclasses.asdict(raise_request())
    options: dict[str, str | None] = {
        name: str(value) for name, value in fields.items() if value is not None and name != "urgent"
    }
    options.update(overrides)
    args = ["raise"]
    for name, value in options.items():
        if value is not None:
            args += [f"--{name.replace('_', '-')}", value]
    return args


def assert_challenge_json(data: dict[str, Any]) -> None:
    for key in (
        "reference",
        "partnership",
        "protocol",
        "state",
        "level",
        "due_at",
        "stages",
        "outcome",
    ):
        assert key in data, key
    assert data["reference"] == REF
    assert data["partnership"] == "devon"
    assert data["protocol"] == {"id": "devon", "version": 1}
    assert data["stages"], data
    for stage in data["stages"]:
        assert set(stage) >= STAGE_KEYS, stage


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATION_")}
    env.update(extra)
    return env


def run_process(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A real process with no ESCALATION_* variables but those given."""
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(**env),
        timeout=120,
        check=False,
    )


def console_script() -> Path:
    script = Path(sys.executable).parent / "escalation"
    assert script.exists(), f"the console script is not installed beside {sys.executable}"
    return script


# -- fixtures ------------------------------------------------------------------------------------


def make_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI on `tmp_path`'s own SQLite file (no schema yet), no other ESCALATION_ setting."""
    for variable in ENV_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    database = tmp_path / "escalation.db"
    monkeypatch.setenv("ESCALATION_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.chdir(tmp_path)  # the default ./escalation.db must never be the repo's
    return Cli(CliRunner(), database)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """No schema yet: only the commands that need no database work."""
    return make_cli(tmp_path, monkeypatch)


@pytest.fixture
def upgraded(cli: Cli) -> Cli:
    result = cli.ok("db", "upgrade")
    assert "is at revision" in result.stdout
    return cli


@pytest.fixture
def app(upgraded: Cli) -> Cli:
    """Schema and the directory of personas."""
    upgraded.ok("orgs", "import", str(FIXTURES / "directory.csv"))
    return upgraded


@pytest.fixture
def raised(app: Cli) -> Cli:
    """One challenge, raised on Monday 7 December 2026 at 10:00 (due Mon 14 Dec 17:00)."""
    assert app.ok(*raise_args(), now=MONDAY_7_DEC_10AM).stdout.strip() == REF
    return app


# -- smoke tests: real processes -----------------------------------------------------------------


def test_it_prints_help_with_python_dash_m(tmp_path: Path) -> None:
    done = run_process([sys.executable, "-m", "escalation", "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage:")
    for command in ("raise", "due", "sweep", "workflows", "orgs", "chronology", "demo"):
        assert re.search(rf"^\s+{command}\s", done.stdout, re.MULTILINE), command
    assert "999" in done.stdout  # immediate risk is never an escalation


def test_it_runs_the_console_script(tmp_path: Path) -> None:
    version = run_process([str(console_script()), "--version"], tmp_path)
    assert version.returncode == 0, version.stderr
    assert "version" in version.stdout
    due = run_process(
        [
            str(console_script()),
            "due",
            "--workflow",
            "devon",
            "--level",
            "1",
            "--start",
            "2026-12-23T15:00",
            "--json",
        ],
        tmp_path,
        ESCALATION_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
    )
    assert due.returncode == 0, due.stderr
    assert json.loads(due.stdout)["due_at"] == "2027-01-04T17:00:00+00:00"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ESCALATION_DATABASE_URL", "mysql://x"),
        ("ESCALATION_LOG_LEVEL", "LOUD"),
    ],
    ids=["database-url", "log-level"],
)
def test_it_rejects_a_bad_environment_variable_in_one_line_naming_it(
    tmp_path: Path, variable: str, value: str
) -> None:
    done = run_process([str(console_script()), "orgs", "list"], tmp_path, **{variable: value})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {variable}: "), lines[0]
    assert value.split(":")[0] in lines[0]


# -- due -----------------------------------------------------------------------------------------


def test_it_computes_due_as_json_across_christmas_without_a_database(cli: Cli) -> None:
    # 5 working days after Wed 23 Dec 2026: 24, 29, 30, 31 Dec (25, 28 Dec and 1 Jan are bank
    # holidays), Mon 4 Jan 17:00. Reminder: opening of the working day before, Thu 31 Dec.
    data = cli.json("due", "--workflow", "devon", "--level", "1", "--start", "2026-12-23T15:00")
    assert data["due_at"] == "2027-01-04T17:00:00+00:00"
    assert data["reminders"] == ["2026-12-31T09:00:00+00:00"]
    assert not cli.database.exists() or cli.count("sqlite_master") == 0


@pytest.mark.parametrize(
    ("args", "due_at", "reminders"),
    [
        # Level 3 (5 working days, reminders 2 and 1 working days before) from Wed 23 Dec 15:00.
        (
            ["--level", "3", "--start", "2026-12-23T15:00"],
            "2027-01-04T17:00:00+00:00",
            ["2026-12-30T09:00:00+00:00", "2026-12-31T09:00:00+00:00"],
        ),
        # Urgent: 4 working hours from Fri 11 Dec 15:00 = 1h Friday (closes 16:00) + 3h Monday.
        (
            ["--level", "1", "--start", "2026-12-11T15:00", "--urgent"],
            "2026-12-14T12:00:00+00:00",
            ["2026-12-14T11:00:00+00:00"],
        ),
        # Level 2 (2 working days) from Tue 8 Dec 11:00 → Thu 10 Dec; reminder opening Wed 9 Dec.
        (
            ["--level", "2", "--start", "2026-12-08T11:00"],
            "2026-12-10T17:00:00+00:00",
            ["2026-12-09T09:00:00+00:00"],
        ),
        # Level 4 (10 working days) from Mon 7 Dec → Mon 21 Dec; reminder 2 working days before.
        (
            ["--level", "4", "--start", "2026-12-07T10:00"],
            "2026-12-21T17:00:00+00:00",
            ["2026-12-17T09:00:00+00:00"],
        ),
        # Easter 2027 and the clocks going forward: from Wed 24 Mar, Thu 25 (1), Good Friday 26 and
        # Easter Monday 29 are holidays, 30 (2), 31 (3), 1 Apr (4), Fri 2 Apr (5) 16:00 BST.
        (
            ["--level", "1", "--start", "2027-03-24T10:00"],
            "2027-04-02T16:00:00+01:00",
            ["2027-04-01T09:00:00+01:00"],
        ),
    ],
    ids=["level-3-two-reminders", "urgent-friday", "level-2", "level-4", "easter-and-bst"],
)
def test_it_computes_hand_checked_due_dates(
    cli: Cli, args: list[str], due_at: str, reminders: list[str]
) -> None:
    data = cli.json("due", "--workflow", "devon", *args)
    assert data["due_at"] == due_at
    assert data["reminders"] == reminders


def test_it_prints_the_due_instant_as_text(cli: Cli) -> None:
    out = cli.ok("due", "--workflow", "devon", "--level", "1", "--start", "2026-12-23T15:00").stdout
    assert "level 1" in out
    assert "5 working days" in out
    assert re.search(r"due at\s+2027-01-04T17:00:00\+00:00", out), out
    assert re.search(r"reminder\s+2026-12-31T09:00:00\+00:00", out), out


def test_it_refuses_a_level_the_protocol_does_not_have(cli: Cli) -> None:
    result = cli.fails("due", "--workflow", "devon", "--level", "9", "--start", "2026-12-23T15:00")
    assert "--level" in result.stderr
    assert "9 is not a level of devon" in result.stderr


@pytest.mark.parametrize("start", ["nonsense", "2026-13-01T10:00"])
def test_it_refuses_a_bad_start_naming_the_option(cli: Cli, start: str) -> None:
    result = cli.fails("due", "--workflow", "devon", "--level", "1", "--start", start)
    assert start in result.stderr
    assert "ISO 8601" in result.stderr
    assert "--start" in result.stderr, result.stderr  # which of the options was wrong


def test_it_refuses_an_unknown_workflow(cli: Cli) -> None:
    line = cli.error("due", "--workflow", "nope", "--level", "1", "--start", "2026-12-23T15:00")
    assert '"nope"' in line
    assert "devon" in line


# -- workflows -----------------------------------------------------------------------------------


def test_it_validates_the_shipped_workflows(cli: Cli) -> None:
    out = cli.ok("workflows", "validate").stdout
    for protocol in ("devon", "plymouth", "torbay"):
        assert re.search(rf"^ok\s+{protocol}\.yaml: {protocol} version \d+", out, re.MULTILINE)


def _broken_devon(folder: Path) -> Path:
    text = (workflows_dir() / "devon.yaml").read_text(encoding="utf-8")
    head, level_3 = text.split("  - level: 3\n")
    # levels[2].response_due: a misspelt duration.
    level_3 = level_3.replace("response_due: 5 working days", "response_due: 5 wrking days", 1)
    # levels[0].colour: a key the format does not have.
    head = head.replace(
        "    name: Practitioner to practitioner\n",
        "    name: Practitioner to practitioner\n    colour: blue\n",
        1,
    )
    # levels[1].raiser_roles[1]: a role that does not exist.
    head = head.replace(
        "    raiser_roles: [dsl, line_manager]\n", "    raiser_roles: [dsl, headteacher]\n", 1
    )
    folder.mkdir()
    path = folder / "devon.yaml"
    path.write_text(head + "  - level: 3\n" + level_3, encoding="utf-8")
    assert path.read_text(encoding="utf-8").count("wrking") == 1
    return path


@pytest.mark.parametrize("how", ["file", "directory"])
def test_it_lists_every_error_in_a_broken_workflow_with_file_and_field_path(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    path = _broken_devon(tmp_path / "broken")
    if how == "file":
        result = cli.fails("workflows", "validate", str(path))
    else:
        monkeypatch.setenv("ESCALATION_WORKFLOWS_DIR", str(path.parent))
        result = cli.fails("workflows", "validate")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3, result.stderr
    assert all("devon.yaml: levels[" in line for line in errors), errors
    expected = {
        "levels[2].response_due": "5 wrking days",
        "levels[0].colour": "unknown key",
        "levels[1].raiser_roles[1]": "headteacher",
    }
    for field, problem in expected.items():
        assert any(f"{field}: " in line and problem in line for line in errors), (field, errors)
    assert "ok " not in result.stdout


def test_it_shows_a_workflow_with_its_levels_and_provenance(cli: Cli) -> None:
    out = cli.ok("workflows", "show", "devon").stdout
    for number in (1, 2, 3, 4):
        assert f"Level {number}:" in out
    assert "Response due within: 5 working days" in out
    assert "Response due within: 10 working days" in out
    assert out.count("provenance:") >= 4 * 7
    assert "default — confirm with the partnership" in out
    assert "0345 155 1071" in out or "Front Door" in out


def test_it_draws_the_state_machine_as_mermaid(cli: Cli) -> None:
    out = cli.ok("workflows", "diagram", "devon").stdout
    assert "stateDiagram" in out
    for state in (
        "new",
        "level_1.awaiting_response",
        "level_4.overdue",
        "resolved",
        "outcome_check",
        "closed",
        "withdrawn",
    ):
        # Mermaid ids avoid dots; the labels keep the engine's state names.
        assert f'state "{state}" as {state.replace(".", "__")}' in out, state
    assert "level_1__awaiting_response --> level_2__awaiting_response: lapse" in out
    assert "level_4__awaiting_response --> level_4__overdue: lapse" in out
    assert "title: Devon Safeguarding Children Partnership" in out
    assert "escalate | escalate" not in out
    assert "s_active" not in out.split("classDef s_active", 1)[1]  # no state drawn as current


def test_it_names_an_unknown_protocol_version(cli: Cli) -> None:
    line = cli.error("workflows", "diagram", "devon", "--version", "7")
    assert "devon" in line
    assert "7" in line


# -- the directory -------------------------------------------------------------------------------


def test_it_imports_the_directory_once_and_lists_it(upgraded: Cli) -> None:
    first = upgraded.ok("orgs", "import", str(FIXTURES / "directory.csv")).stdout
    assert "11 rows, 4 new organisations, 11 new contacts" in first
    listed = upgraded.ok("orgs", "list").stdout
    for name in (SCHOOL, FRONT_DOOR, "Devon SCP Business Unit", "Plymouth Gateway"):
        assert name in listed
    assert f"{SOCIAL_WORKER} <frontdoor.sw@devon.example.org>" in listed
    again = upgraded.ok("orgs", "import", str(FIXTURES / "directory.csv")).stdout
    assert "0 new organisations, 0 new contacts" in again
    assert upgraded.ok("orgs", "list").stdout == listed
    assert upgraded.count("organisations") == 4
    assert upgraded.count("contacts") == 11
    plymouth = upgraded.ok("orgs", "list", "--partnership", "plymouth").stdout
    assert "Plymouth Gateway" in plymouth
    assert SCHOOL not in plymouth


def test_it_imports_nothing_from_a_csv_with_bad_rows_and_lists_every_problem(
    upgraded: Cli, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "organisation,type,partnership,role,name,email\n"
        f"{SCHOOL},school,devon,dsl,{SCHOOL_DSL},dsl@ashcombe.example.org\n"
        "Bad Email School,school,devon,dsl,Bea Bad,not-an-email\n"
        "Bad Role School,school,devon,headteacher,Rob Role,rob@badrole.example.org\n"
        "Bad Type Org,spaceship,devon,dsl,Tia Type,tia@badtype.example.org\n"
        'Two Line School,school,devon,dsl,"Lin\nReply-To: x@attacker.example",l@two.example.org\n',
        encoding="utf-8",
    )
    result = upgraded.fails("orgs", "import", str(bad))
    assert result.exit_code == 1
    err = result.stderr
    assert "nothing was imported" in err
    assert re.search(r"bad\.csv: line 3: email: 'not-an-email' is not a valid email", err), err
    assert re.search(r"bad\.csv: line 4: role: 'headteacher' is not one of", err), err
    assert re.search(r"bad\.csv: line 5: type: 'spaceship' is not one of", err), err
    assert re.search(r"bad\.csv: line 6: name: contains a line break", err), err
    assert "line 2" not in err
    assert upgraded.ok("orgs", "list").stdout == ""
    assert upgraded.count("organisations") == 0
    assert upgraded.count("contacts") == 0


def test_it_names_a_missing_csv_column(upgraded: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    missing.write_text(
        f"organisation,type,partnership,role,name\n{SCHOOL},school,devon,dsl,{SCHOOL_DSL}\n",
        encoding="utf-8",
    )
    line = upgraded.error("orgs", "import", str(missing))
    assert "missing column(s) email" in line
    assert upgraded.count("organisations") == 0


# -- the use cases -------------------------------------------------------------------------------


def test_it_raises_a_challenge_and_prints_its_reference(app: Cli) -> None:
    result = app.ok(*raise_args(), now=MONDAY_7_DEC_10AM)
    assert result.stdout == f"{REF}\n"
    data = app.json("show", REF)
    assert_challenge_json(data)
    assert data["state"] == "level_1.awaiting_response"
    assert data["due_at"] == "2026-12-14T17:00:00+00:00"
    assert app.ok(*raise_args(), now=MONDAY_7_DEC_10AM).stdout == "DSCP-2026-00002\n"


def test_it_runs_every_event_with_json_through_to_closure(app: Cli) -> None:
    raised = app.json(*raise_args(), now=MONDAY_7_DEC_10AM)
    assert_challenge_json(raised)
    assert (raised["state"], raised["level"]) == ("level_1.awaiting_response", 1)
    assert raised["due_at"] == "2026-12-14T17:00:00+00:00"
    assert raised["outcome"] is None

    data = app.json("acknowledge", REF, "--by", SOCIAL_WORKER, now="2026-12-07T11:00")
    assert_challenge_json(data)
    assert data["stages"][0]["acknowledged_at"] == "2026-12-07T11:00:00+00:00"

    data = app.json(
        "pause",
        REF,
        "--requested-by",
        SOCIAL_WORKER,
        "--agreed-by",
        SCHOOL_DSL,
        "--reason",
        "Awaiting strategy discussion",
        now="2026-12-07T12:00",
    )
    assert_challenge_json(data)
    assert data["state"] == "level_1.paused"

    # Paused Mon 12:00–Tue 09:00 loses Monday's last 5 business hours: Mon 14 Dec 17:00 + 5h.
    data = app.json("resume", REF, "--by", SOCIAL_WORKER, now="2026-12-08T09:00")
    assert_challenge_json(data)
    assert (data["state"], data["due_at"]) == (
        "level_1.awaiting_response",
        "2026-12-15T14:00:00+00:00",
    )

    data = app.json(
        "extend",
        REF,
        "--requested-by",
        SOCIAL_WORKER,
        "--agreed-by",
        SCHOOL_DSL,
        "--until",
        "2026-12-18",
        "--reason",
        "Waiting for health records",
        now="2026-12-08T10:00",
    )
    assert_challenge_json(data)
    assert data["due_at"] == "2026-12-18T16:00:00+00:00"  # a Friday

    data = app.json(
        "respond",
        REF,
        "--by",
        SOCIAL_WORKER,
        "--kind",
        "upheld",
        "--summary",
        "Threshold not met",
        now="2026-12-09T10:00",
    )
    assert_challenge_json(data)
    assert data["state"] == "level_1.responded"
    assert data["stages"][0]["responded_at"] == "2026-12-09T10:00:00+00:00"

    data = app.json(
        "escalate",
        REF,
        "--by",
        SCHOOL_DSL,
        "--reason",
        "Further disclosures",
        now="2026-12-09T11:00",
    )
    assert_challenge_json(data)
    assert (data["state"], data["level"]) == ("level_2.awaiting_response", 2)
    assert data["stages"][0]["escalated_at"] == "2026-12-09T11:00:00+00:00"
    # Level 2: 2 working days after Wed 9 Dec → Fri 11 Dec, closing at 16:00.
    assert data["stages"][1]["due_at"] == "2026-12-11T16:00:00+00:00"

    data = app.json(
        "respond",
        REF,
        "--by",
        TEAM_MANAGER,
        "--kind",
        "changed",
        "--summary",
        "Assessment allocated",
        "--action",
        "Strategy discussion | Morgan Team Manager | 2026-12-11",
        now="2026-12-10T10:00",
    )
    assert data["stages"][1]["actions"][0]["owner"] == TEAM_MANAGER

    data = app.json("accept", REF, "--by", SCHOOL_DSL, *RESOLUTION, now="2026-12-10T11:00")
    assert_challenge_json(data)
    assert data["state"] == "resolved"
    assert data["outcome"]["resolved_level"] == 2
    assert data["outcome"]["outcome"] == "decision_changed"

    data = app.json("outcome", REF, "--by", SCHOOL_DSL, "--improved", "no", now="2026-12-11T10:00")
    assert_challenge_json(data)
    assert data["state"] == "outcome_not_improved"

    data = app.json(
        "reopen",
        REF,
        "--by",
        SCHOOL_DSL,
        "--reason",
        "Still missing school",
        now="2026-12-11T11:00",
    )
    assert_challenge_json(data)
    assert (data["state"], data["level"]) == ("level_2.awaiting_response", 2)

    data = app.json("resolve", REF, "--by", SERVICE_MANAGER, *RESOLUTION, now="2026-12-14T10:00")
    assert data["state"] == "resolved"

    data = app.json("outcome", REF, "--by", SCHOOL_DSL, "--improved", "yes", now="2026-12-14T11:00")
    assert data["state"] == "closed"

    shown = app.json("show", REF)
    assert_challenge_json(shown)
    assert shown["state"] == "closed"
    assert [s["level"] for s in shown["stages"]] == [1, 2, 2]
    assert shown["outcome"]["closed_at"] == "2026-12-14T11:00:00+00:00"
    assert [e["event"] for e in app.chronology()] == [
        "raise",
        "acknowledge",
        "pause",
        "resume",
        "extend",
        "respond",
        "escalate",
        "respond",
        "accept",
        "outcome",
        "reopen",
        "resolve",
        "outcome",
    ]


def test_it_withdraws_and_closes_with_json(app: Cli) -> None:
    app.ok(*raise_args(), now=MONDAY_7_DEC_10AM)
    data = app.json(
        "withdraw", REF, "--by", SCHOOL_DSL, "--reason", "Family moved away", now="2026-12-08T10:00"
    )
    assert_challenge_json(data)
    assert data["state"] == "withdrawn"
    assert data["due_at"] is None
    assert data["outcome"]["withdrawn_reason"] == "Family moved away"

    second = "DSCP-2026-00002"
    app.ok(*raise_args(), now=MONDAY_7_DEC_10AM)
    app.ok("resolve", second, "--by", SERVICE_MANAGER, *RESOLUTION, now="2026-12-08T10:00")
    app.ok("outcome", second, "--by", SCHOOL_DSL, "--improved", "no", now="2026-12-09T10:00")
    data = app.json(
        "close",
        second,
        "--by",
        SCHOOL_DSL,
        "--reason",
        "Other support is in place through the family's GP and the school nurse, reviewed weekly",
        now="2026-12-09T11:00",
    )
    assert data["reference"] == second
    assert data["state"] == "closed"
    assert data["outcome"]["closed_reason"] == "closed after the outcome check"
    last = json.loads(app.ok("chronology", second, "--format", "json").stdout)[-1]
    assert (last["who"], last["factual_concern"]) == (
        SCHOOL_DSL,
        "Other support is in place through the family's GP and the school nurse, reviewed weekly",
    )


def test_it_prints_one_readable_line_without_json(raised: Cli) -> None:
    out = raised.ok("acknowledge", REF, "--by", SOCIAL_WORKER, now="2026-12-07T11:00").stdout
    assert out == f"{REF}: level_1.awaiting_response, due 2026-12-14T17:00:00+00:00\n"
    shown = raised.ok("show", REF).stdout
    assert shown.startswith(f"{REF}  [level_1.awaiting_response]")
    assert re.search(r"^  allowed now +.*\brespond\b.*\bescalate\b", shown, re.MULTILINE), shown
    assert "due              2026-12-14T17:00:00+00:00" in shown


def test_it_lists_open_overdue_and_by_partnership(app: Cli) -> None:
    app.ok(*raise_args(), now=MONDAY_7_DEC_10AM)  # due Mon 14 Dec 17:00
    app.ok(*raise_args(), now="2026-12-09T10:00")  # due Wed 16 Dec 17:00
    app.ok(*raise_args(), now="2026-12-09T11:00")  # resolved below
    plymouth = app.ok(
        *raise_args(partnership="plymouth", responding_org="Plymouth Gateway"),
        now="2026-12-09T12:00",
    ).stdout.strip()
    assert plymouth.startswith("PSCP-2026-")
    app.ok(
        "resolve", "DSCP-2026-00003", "--by", SERVICE_MANAGER, *RESOLUTION, now="2026-12-09T12:00"
    )

    def references(*args: str, now: str | None = None) -> list[str]:
        out = app.ok("list", *args, now=now).stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    assert references() == [REF, "DSCP-2026-00002", "DSCP-2026-00003", plymouth]
    assert references("--open") == [REF, "DSCP-2026-00002", plymouth]
    assert references("--partnership", "devon") == [REF, "DSCP-2026-00002", "DSCP-2026-00003"]
    assert references("--open", "--partnership", "devon") == [REF, "DSCP-2026-00002"]
    assert references("--overdue", now="2026-12-14T16:59") == []
    assert references("--overdue", now="2026-12-15T10:00") == [REF]
    assert references("--overdue", now="2026-12-17T10:00") == [REF, "DSCP-2026-00002", plymouth]
    assert references("--overdue", "--partnership", "devon", now="2026-12-17T10:00") == [
        REF,
        "DSCP-2026-00002",
    ]
    listed = app.json("list", "--overdue", now="2026-12-15T10:00")
    assert [c["reference"] for c in listed] == [REF]
    assert listed[0]["due_at"] == "2026-12-14T17:00:00+00:00"


def test_it_exports_the_chronology_as_text_csv_and_json(raised: Cli) -> None:
    raised.ok("acknowledge", REF, "--by", SOCIAL_WORKER, now="2026-12-07T11:00")
    raised.ok(
        "respond",
        REF,
        "--by",
        SOCIAL_WORKER,
        "--kind",
        "upheld",
        "--summary",
        "Threshold not met",
        now="2026-12-08T10:00",
    )
    rows = raised.chronology()
    assert [r["event"] for r in rows] == ["raise", "acknowledge", "respond"]
    assert set(rows[0]) == set(CHRONOLOGY_HEADER.split(","))
    assert rows[0]["when"] == "2026-12-07T10:00:00+00:00"
    assert rows[0]["who"] == SCHOOL_DSL

    out = raised.ok("chronology", REF, "--format", "csv").stdout
    assert out.splitlines()[0] == CHRONOLOGY_HEADER
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert len(parsed) == len(rows) == 3
    assert [r["event"] for r in parsed] == ["raise", "acknowledge", "respond"]
    assert parsed[2]["factual_concern"] == "Threshold not met"

    text = raised.ok("chronology", REF, "--format", "text").stdout
    assert text == raised.ok("chronology", REF).stdout  # text is the default
    assert text.count("concern:") == text.count("action:") == text.count("impact:") == 3
    assert f"2026-12-07T10:00:00+00:00  {SCHOOL_DSL}  [raise, level 1]" in text


def test_it_sweeps_a_lapse_once(raised: Cli) -> None:
    # Nothing is due yet on Monday 14 Dec at 16:00 except past reminders.
    before = raised.json("sweep", now="2026-12-14T16:00")
    assert "response_due" not in before["applied"]
    # After the due instant the level lapses to level 2.
    result = raised.json("sweep", now="2026-12-14T17:05")
    assert result["applied"] == {"response_due": 1}
    assert result["failed"] == 0
    shown = raised.json("show", REF)
    assert (shown["state"], shown["level"]) == ("level_2.awaiting_response", 2)
    assert shown["stages"][0]["escalated_at"] == "2026-12-14T17:05:00+00:00"
    entries = len(raised.chronology())
    again = raised.json("sweep", now="2026-12-14T17:05")
    assert (again["claimed"], again["applied"]) == (0, {})
    assert len(raised.chronology()) == entries


def test_it_sweeps_with_a_text_summary(raised: Cli) -> None:
    out = raised.ok("sweep", now="2026-12-14T17:05").stdout
    assert out.startswith("sweep as of 2026-12-14T17:05:00+00:00: ")
    assert "1 response due" in out
    assert raised.json("show", REF)["state"] == "level_2.awaiting_response"
    again = raised.ok("sweep", now="2026-12-14T17:05").stdout
    assert "0 due, 0 applied (nothing)" in again


def test_it_words_a_skipped_deadline_plainly_in_the_chronology(raised: Cli) -> None:
    # The sweep first runs after the acknowledgement and reminder moments have passed.
    raised.ok("sweep", now="2026-12-14T17:05")
    skipped = [r for r in raised.chronology() if r["event"].endswith("_skipped")]
    assert {r["event"] for r in skipped} == {"acknowledgement_due_skipped", "reminder_skipped"}
    for row in skipped:
        assert "due due" not in row["factual_concern"], row["factual_concern"]


# -- bad input: a clear error, and nothing written -----------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (
            {"raiser_email": "not-an-email"},
            ("raiser-email: ", "'not-an-email'", "not a valid email"),
        ),
        ({"start_level": "3"}, ("start-reason: ", "required")),
        ({"start_level": "9", "start_reason": "Risk"}, ("start-level: ", "9 is not a level")),
        ({"raising_org": "Nowhere School"}, ("raising-org", "'Nowhere School'")),
        ({"responding_org": "Nowhere Team"}, ("responding-org", "'Nowhere Team'")),
        ({"child_birth_year": "1990"}, ("child-birth-year: is not a child's year of birth",)),
        ({"partnership": "cornwall"}, ("partnership: ", "'cornwall'")),
        ({"decision_date": "2027-01-01"}, ("decision-date: ", "in the future")),
    ],
    ids=[
        "raiser-email",
        "start-reason",
        "start-level",
        "raising-org",
        "responding-org",
        "child-birth-year",
        "partnership",
        "decision-date",
    ],
)
def test_it_refuses_a_bad_raise_and_writes_nothing(
    app: Cli, overrides: dict[str, str], fragments: tuple[str, ...]
) -> None:
    line = app.error(*raise_args(**overrides), now=MONDAY_7_DEC_10AM)
    for fragment in fragments:
        assert fragment in line, line
    assert app.count("challenges") == 0
    assert app.count("chronology") == 0
    assert app.count("deadlines") == 0
    assert app.ok("list").stdout == ""
    # A failed raise does not use up a reference number.
    assert app.ok(*raise_args(), now=MONDAY_7_DEC_10AM).stdout == f"{REF}\n"


@pytest.mark.parametrize(
    ("args", "now", "fragments"),
    [
        (
            ["accept", REF, "--by", SCHOOL_DSL, *RESOLUTION],
            "2026-12-07T11:00",
            (
                "'accept' is not allowed",
                "'level_1.awaiting_response'",
                "allowed now: acknowledge, respond, escalate, pause, extend, withdraw, resolve",
            ),
        ),
        (
            [
                "extend",
                REF,
                "--requested-by",
                SOCIAL_WORKER,
                "--agreed-by",
                SCHOOL_DSL,
                "--until",
                "2026-12-25",
                "--reason",
                "Christmas",
            ],
            "2026-12-08T10:00",
            ("until: ", "2026-12-25 is not a working day"),
        ),
        (
            [
                "extend",
                REF,
                "--requested-by",
                SOCIAL_WORKER,
                "--agreed-by",
                SCHOOL_DSL,
                "--until",
                "2026-12-09",
                "--reason",
                "Sooner",
            ],
            "2026-12-08T10:00",
            ("until: ", "not after the current due date"),
        ),
        (
            [
                "extend",
                REF,
                "--requested-by",
                SOCIAL_WORKER,
                "--agreed-by",
                SCHOOL_DSL,
                "--until",
                "2026-12-01",
                "--reason",
                "Backdated",
            ],
            "2026-12-08T10:00",
            ("until: ", "must be in the future"),
        ),
        (
            [
                "pause",
                REF,
                "--requested-by",
                SOCIAL_WORKER,
                "--agreed-by",
                SOCIAL_WORKER.upper(),
                "--reason",
                "Strategy discussion",
            ],
            "2026-12-08T10:00",
            ("agreed-by: ", "someone other than the person asking"),
        ),
        (
            ["acknowledge", REF, "--by", SOCIAL_WORKER],
            "2026-12-07T09:00",
            ("now: ", "before the last entry", REF),
        ),
        (
            ["escalate", REF, "--by", SCHOOL_DSL, "--reason", "Risk", "--to-level", "9"],
            "2026-12-08T10:00",
            ("to-level: ", "9 is not a level above 1"),
        ),
        (
            [
                "respond",
                REF,
                "--by",
                SOCIAL_WORKER,
                "--kind",
                "upheld",
                "--summary",
                "No",
                "--action",
                "Visit | Alex | next week",
            ],
            "2026-12-08T10:00",
            ("action[1]: the part after the second | is not a date",),
        ),
    ],
    ids=[
        "accept-too-early",
        "extend-to-christmas",
        "extend-sooner",
        "extend-backdated",
        "pause-self-agreed",
        "now-before-last-entry",
        "escalate-beyond-top",
        "action-date",
    ],
)
def test_it_refuses_a_bad_event_and_writes_nothing(
    raised: Cli, args: list[str], now: str, fragments: tuple[str, ...]
) -> None:
    before = raised.json("show", REF)
    line = raised.error(*args, now=now)
    for fragment in fragments:
        assert fragment in line, line
    assert len(raised.chronology()) == 1
    assert raised.json("show", REF) == before
    assert raised.count("challenges") == 1


def test_it_names_an_unknown_reference(app: Cli) -> None:
    for args in (
        ["show", "DSCP-2026-09999"],
        ["chronology", "DSCP-2026-09999"],
        ["acknowledge", "DSCP-2026-09999", "--by", SOCIAL_WORKER],
    ):
        line = app.error(*args, now=MONDAY_7_DEC_10AM)
        assert "'DSCP-2026-09999'" in line
        assert "no challenge" in line
    assert app.count("chronology") == 0


@pytest.mark.parametrize("now", ["yesterday", "2026-12-07T25:00", "07/12/2026 10:00"])
def test_it_refuses_a_malformed_now_and_writes_nothing(raised: Cli, now: str) -> None:
    result = raised.fails("acknowledge", REF, "--by", SOCIAL_WORKER, now=now)
    assert "--now" in result.stderr
    assert now in result.stderr
    assert "ISO 8601" in result.stderr
    assert len(raised.chronology()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["orgs", "list"],
        ["list"],
        ["show", REF],
        ["chronology", REF],
        ["sweep"],
        ["orgs", "import", str(FIXTURES / "directory.csv")],
        raise_args(),
    ],
    ids=["orgs-list", "list", "show", "chronology", "sweep", "orgs-import", "raise"],
)
def test_it_tells_the_user_to_upgrade_a_database_with_no_schema(cli: Cli, args: list[str]) -> None:
    line = cli.error(*args, now=MONDAY_7_DEC_10AM)
    assert "has no schema yet" in line
    assert "run `escalation db upgrade`" in line
    assert "database: empty" in cli.ok("db", "current").stdout


# -- the demo ------------------------------------------------------------------------------------


def test_it_runs_the_demo_in_its_own_folder(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    out = cli.ok("demo", "--dir", str(folder)).stdout
    assert (folder / "escalation.db").exists()
    assert not cli.database.exists()  # the configured database is not touched
    timeline = out.split("Timeline", 1)[1]
    events = set(
        re.findall(
            r"^\w{3} \d{2} \w{3} \d{2}:\d{2}  \S+  (?:L\d|  )  (\S+)", timeline, re.MULTILINE
        )
    )
    for event in (
        "raise",
        "reminder",
        "lapse",
        "escalate",
        "respond",
        "accept",
        "request_outcome",
        "reminder_skipped",
    ):
        assert event in events, (event, sorted(events))
    assert "Resolved at level" in timeline
    assert "Where each challenge ended" in out
