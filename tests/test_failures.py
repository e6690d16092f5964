"""Every failure ends in one line naming no child's details: the CLI's top-level handler for every
command, the web service's for every route, and what a database that cannot be reached looks
like (exit 2, as `escalation health` has always said, password hidden).

The killed-connection and refused-row cases against a real PostgreSQL are in
test_faults_privacy.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from escalation import failures
from escalation.casework import db, store
from escalation.cli.main import main
from escalation.config import Settings
from escalation.web import store as store_web
from tests.cli.test_cli import clean_env
from tests.conftest import FIXTURES, PRIVACY_MARKERS, SCHOOL, london
from tests.web_support import browser, web_app

UNREACHABLE = "postgresql://postgres:s3cret-pw@127.0.0.1:1/x"
UNREACHABLE_LINE = (
    "error: the database at postgresql+psycopg://postgres:***@127.0.0.1:1/x cannot be reached "
    "(connection refused)\n"
)
REF = "DSCP-2026-00001"
MONDAY = london("2026-12-07 10:00")
WHO = ("--by", "Dana Lead")
RESOLUTION = ("--outcome", "decision_changed", "--statement", "s", "--life-improvement", "l")

# Every command that reads the database, with the arguments it needs. A command that is in
# neither this table nor NO_DATABASE fails test_it_knows_every_command: a new command must say.
DATABASE_COMMANDS: dict[str, tuple[str, ...]] = {
    "db upgrade": (),
    "db current": (),
    "orgs import": (str(FIXTURES / "directory.csv"),),
    "orgs list": (),
    "sweep": (),
    "raise": (
        "--partnership", "devon", "--raising-org", "School", "--raiser-name", "Dana Lead",
        "--responding-org", "Devon Front Door", "--child-ref", PRIVACY_MARKERS["child_ref"],
        "--category", "threshold", "--decision", "d", "--concern", PRIVACY_MARKERS["concern"],
        "--desired-outcome", "o", "--voice-of-child", "v",
    ),
    "acknowledge": (REF, *WHO),
    "respond": (REF, *WHO, "--kind", "upheld", "--summary", "s"),
    "accept": (REF, *WHO, *RESOLUTION),
    "escalate": (REF, *WHO, "--reason", "r"),
    "pause": (REF, "--requested-by", "a", "--agreed-by", "b", "--reason", "r"),
    "resume": (REF, *WHO),
    "extend": (
        REF, "--requested-by", "a", "--agreed-by", "b", "--until", "2026-12-18", "--reason", "r"
    ),
    "withdraw": (REF, *WHO, "--reason", "r"),
    "resolve": (REF, *WHO, *RESOLUTION),
    "outcome": (REF, *WHO, "--improved", "yes"),
    "reopen": (REF, *WHO, "--reason", "r"),
    "close": (REF, *WHO, "--reason", "r"),
    "show": (REF,),
    "list": (),
    "chronology": (REF,),
    "emails preview": ("raised", "--challenge", REF),
    "dispatch": (),
    "outbox list": (),
    "outbox retry": ("--all-failed",),
    "outbox dismiss": ("1", "--by", "a", "--how", "phoned"),
    "outbox show": ("1",),
    "report": (),
    "worker": (),
    "health": (),
    "digest": (),
    "serve": (),
    "admin add": ("--partnership", "devon", "--name", "A", "--email", "a@example.org"),
    "api-tokens create": ("--org", "School", "--label", "l", "--by", "b"),
    "api-tokens list": (),
    "api-tokens revoke": ("1",),
}  # fmt: skip
NO_DATABASE = {
    "workflows validate",
    "workflows show",
    "workflows diagram",
    "workflows schema",
    "due",
    "templates check",
    "demo",
}


def leaf_commands(group: click.Group, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names |= leaf_commands(command, f"{prefix}{name} ")
        else:
            names.add(f"{prefix}{name}")
    return names


def test_it_knows_every_command() -> None:
    assert leaf_commands(main) == set(DATABASE_COMMANDS) | NO_DATABASE


@pytest.mark.parametrize("command", sorted(DATABASE_COMMANDS))
def test_it_says_in_one_line_that_the_database_cannot_be_reached(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ESCALATION_DATABASE_URL", UNREACHABLE)
    argv = ["--now", "2026-12-07T10:00", *command.split(), *DATABASE_COMMANDS[command]]
    result = CliRunner().invoke(main, argv)
    assert (result.exit_code, result.stderr) == (2, UNREACHABLE_LINE), result.output
    assert "s3cret-pw" not in result.output


def test_it_says_so_in_a_real_process_too(tmp_path: Path) -> None:
    """What cron mails: one line, no traceback, exit 2."""
    done = subprocess.run(
        [sys.executable, "-m", "escalation", "sweep"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(ESCALATION_DATABASE_URL=UNREACHABLE),
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (2, "", UNREACHABLE_LINE)


@pytest.mark.parametrize("command", [("sweep",), ("db", "upgrade"), ("list",)])
def test_it_names_the_missing_folder_of_a_sqlite_database(
    command: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ESCALATION_DATABASE_URL", "sqlite:///no-such-folder/escalation.db")
    result = CliRunner().invoke(main, list(command))
    assert result.exit_code == 2
    assert result.stderr == (
        "error: the database at sqlite:///no-such-folder/escalation.db cannot be opened "
        f"(the file cannot be opened): the folder {tmp_path / 'no-such-folder'} does not exist\n"
    )


def test_it_turns_an_unexpected_exception_into_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError(PRIVACY_MARKERS["concern"])

    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    monkeypatch.setattr("escalation.jobs.run_sweep", broken)
    result = CliRunner().invoke(main, ["sweep"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unexpected RuntimeError at escalation/cli/worker.py:")
    assert result.stderr.count("\n") == 1
    assert PRIVACY_MARKERS["concern"] not in result.output


def test_it_describes_a_refused_row_by_its_constraint_alone(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "x.db")
    connection.execute("CREATE TABLE t (child_ref TEXT NOT NULL, note TEXT UNIQUE)")
    connection.execute("INSERT INTO t VALUES ('a', ?)", (PRIVACY_MARKERS["concern"],))
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    connection.commit()
    with pytest.raises(IntegrityError) as caught, engine.begin() as session:
        session.execute(text("INSERT INTO t VALUES ('b', :n)"), {"n": PRIVACY_MARKERS["concern"]})
    assert PRIVACY_MARKERS["concern"] not in str(caught.value)  # hide_parameters
    failure = failures.describe(caught.value, engine.url)
    assert failure.lines == (
        f"the database at sqlite:///{tmp_path / 'x.db'} refused the change "
        "(constraint t.note); nothing was recorded",
    )
    assert failure.status == 1
    engine.dispose()
    connection.close()


def test_it_answers_a_page_and_the_api_without_details_when_something_breaks(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError(PRIVACY_MARKERS["concern"])

    web, app = web_app(engine)
    with web.sessions.begin() as session:
        school = store.find_organisation(session, SCHOOL)
        _, token = store_web.create_api_token(session, school, "case system", "Ari", MONDAY)
    client = browser(app)
    monkeypatch.setattr("escalation.web.pages.current_user", broken)
    monkeypatch.setattr("escalation.web.api.routes._listing", broken)
    with caplog.at_level(logging.ERROR, logger="escalation.web"):
        page = client.get("/")
        api = client.get("/api/v1/challenges", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 500
    assert "Sorry, there is a problem with the service" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert (api.status_code, api.json()) == (500, {"detail": "internal error"})
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("GET / failed: unexpected error (RuntimeError at escalation/")
    assert lines[1].startswith(
        "GET /api/v1/challenges failed: unexpected error (RuntimeError at escalation/"
    )
    for seen in (page.text, api.text, *lines):
        assert PRIVACY_MARKERS["concern"] not in seen


def test_it_hides_the_password_of_an_unreachable_server() -> None:
    settings = Settings.from_env({"ESCALATION_DATABASE_URL": UNREACHABLE})
    engine = db.make_engine(settings.database_url)
    with pytest.raises(Exception) as caught:
        engine.connect()
    failure = failures.describe(caught.value, settings.database_url)
    assert failure.unavailable and failure.status == 2
    assert "s3cret-pw" not in failure.message and "***" in failure.message
    engine.dispose()


def test_it_does_not_repeat_a_mistyped_year_of_birth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [*DATABASE_COMMANDS["raise"], "--child-birth-year", "2O15"]
    result = CliRunner().invoke(main, ["raise", *argv])
    assert result.exit_code == 2
    assert "'--child-birth-year': must be a year of four digits, like 2015" in result.stderr
    assert "2O15" not in result.output
