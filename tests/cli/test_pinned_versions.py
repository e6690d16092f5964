"""Pinned protocol versions (issue 13, point 4): a challenge runs on its version as it was when
the version was first used, whatever later happens to the file.

Through the CLI on this test's own SQLite file and workflows folder. Devon level 2 answers in
2 working days: escalated on Wednesday 9 December 2026 at 11:00, it is due on Friday 11 December
at 16:00 (Devon's Friday closing). The file is then edited in place to 10 working days."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from escalation.resources import workflows_dir
from tests.cli.test_cli import REF, Cli, make_cli, raise_args
from tests.conftest import FIXTURES, SCHOOL_DSL, SOCIAL_WORKER

MONDAY_7_DEC_10AM = "2026-12-07T10:00"
LEVEL_2_DUE = "2026-12-11T16:00:00+00:00"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """This test's own SQLite file (no schema yet) and its own copy of the shipped workflows."""
    cli = make_cli(tmp_path, monkeypatch)
    monkeypatch.setenv("ESCALATION_WORKFLOWS_DIR", str(tmp_path / "workflows"))
    shutil.copytree(workflows_dir(), tmp_path / "workflows")
    return cli


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "workflows"


@pytest.fixture
def app(cli: Cli) -> Cli:
    cli.ok("db", "upgrade")
    cli.ok("orgs", "import", str(FIXTURES / "directory.csv"))
    return cli


@pytest.fixture
def running(folder: Path, app: Cli) -> Cli:
    """The persona's challenge raised on devon@1, answered at level 1 on Wednesday."""
    assert app.ok(*raise_args(), now=MONDAY_7_DEC_10AM).stdout.strip() == REF
    respond = ["respond", REF, "--by", SOCIAL_WORKER, "--kind", "upheld", "--summary", "No"]
    app.ok(*respond, now="2026-12-09T10:00")
    return app


def edit_level_2_in_place(folder: Path) -> None:
    devon = folder / "devon.yaml"
    text = devon.read_text()
    old = "    response_due: 2 working days\n"
    assert text.count(old) == 1
    devon.write_text(text.replace(old, "    response_due: 10 working days\n"))


def escalate(app: Cli) -> dict[str, object]:
    reason = ["--by", SCHOOL_DSL, "--reason", "Further disclosures"]
    data: dict[str, object] = app.json("escalate", REF, *reason, now="2026-12-09T11:00")
    return data


def test_a_running_challenge_keeps_its_pinned_version_when_the_file_is_edited_in_place(
    folder: Path, running: Cli
) -> None:
    edit_level_2_in_place(folder)
    data = escalate(running)
    stages = data["stages"]
    assert isinstance(stages, list)
    assert stages[1]["due_at"] == LEVEL_2_DUE  # 2 working days, as pinned; not 10


def test_validate_names_the_file_the_version_and_the_challenges_pinned_to_it(
    folder: Path, running: Cli
) -> None:
    assert "ok  pinned versions in" in running.ok("workflows", "validate").stdout
    edit_level_2_in_place(folder)
    result = running.fails("workflows", "validate")
    assert result.exit_code == 1
    assert "ok  devon.yaml: devon version 1" in result.stdout  # the file itself is valid
    assert (
        "error: devon.yaml: version 1 of devon differs from the copy pinned when it was first "
        "used (1 open challenge pinned to it keeps the pinned copy)"
    ) in result.stderr
    assert "set `version: 2`" in result.stderr
    # Asked not to look at the database, the files alone pass.
    assert running.ok("workflows", "validate", "--no-database").stderr == ""


def test_no_new_challenge_is_raised_on_an_edited_version(folder: Path, running: Cli) -> None:
    edit_level_2_in_place(folder)
    line = running.error(*raise_args(), now="2026-12-09T12:00")
    assert "no new challenge can be raised on devon@1" in line
    assert "devon.yaml was edited in place" in line
    assert running.count("challenges") == 1  # nothing half-written


def test_saving_the_change_as_a_new_version_raises_on_it_and_leaves_the_old_one_running(
    folder: Path, running: Cli
) -> None:
    devon = folder / "devon.yaml"
    text = devon.read_text().replace("version: 1\n", "version: 2\n", 1)
    (folder / "devon-v2.yaml").write_text(
        text.replace("    response_due: 2 working days\n", "    response_due: 10 working days\n")
    )
    running.ok("workflows", "validate")
    second = running.ok(*raise_args(), now="2026-12-09T12:00").stdout.strip()
    assert running.json("show", second)["protocol"] == {"id": "devon", "version": 2}
    assert escalate(running)["stages"][1]["due_at"] == LEVEL_2_DUE  # type: ignore[index]


def test_every_command_still_works_when_the_pinned_file_is_deleted(
    folder: Path, running: Cli
) -> None:
    (folder / "devon.yaml").unlink()
    data = escalate(running)
    assert data["stages"][1]["due_at"] == LEVEL_2_DUE  # type: ignore[index]
    assert running.json("show", REF)["level"] == 2
    running.ok("sweep", now="2026-12-14T17:05")
    assert len(running.chronology()) >= 3
    shown = running.ok("workflows", "show", "devon", "--version", "1").stdout
    assert shown.startswith(
        "Shown from the copy pinned in the database: devon.yaml is no longer in the workflows "
        "folder."
    )
    note = running.ok("workflows", "validate").stdout
    assert "note: devon.yaml: devon@1 is no longer in the workflows folder" in note


def test_show_gives_the_pinned_copy_of_an_edited_version(folder: Path, running: Cli) -> None:
    edit_level_2_in_place(folder)
    shown = running.ok("workflows", "show", "devon", "--version", "1").stdout
    assert shown.startswith("Shown from the copy pinned in the database: devon.yaml was edited")
    level_2 = shown[shown.index("Level 2") :]
    assert "2 working days" in level_2.split("Level 3")[0]
    assert "10 working days" not in level_2.split("Level 3")[0]


def test_validate_makes_no_database_when_there_is_none(folder: Path, cli: Cli) -> None:
    result = cli.ok("workflows", "validate")
    assert "not compared with pinned versions: no database at sqlite:///" in result.stdout
    assert not cli.database.exists()
    assert "no database at" in cli.fails("workflows", "validate", "--database").stderr
