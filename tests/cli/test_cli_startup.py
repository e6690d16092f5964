"""`escalation --help`, and the `--help` of every command and subcommand, loads none of the heavy
parts: no ORM, Alembic, matplotlib, web framework, SMTP client, scheduler or database driver, and
none of the casework, mail, reports or web packages.

Each help runs in a process of its own, as the entry point runs it, and that process reports
what it had imported. The commands are walked from the `main` group itself, so a new command is
checked without being listed here. (How fast it starts is measured, not asserted, by
bench/cli_startup.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from escalation.casework.models_service import OutboxStatus
from escalation.casework.notices import NoticeKind
from escalation.cli import choices
from escalation.cli.main import main
from escalation.config import DIGEST_DAYS
from escalation.reports.render import FORMATS

HEAVY = (
    "sqlalchemy",
    "alembic",
    "matplotlib",
    "fastapi",
    "starlette",
    "uvicorn",
    "aiosmtplib",
    "apscheduler",
    "psycopg",
    "escalation.casework",
    "escalation.mail",
    "escalation.reports",
    "escalation.web",
)
# The top-level help only lists the commands: not even the rules (they import `holidays`).
NOT_FOR_THE_LIST = ("escalation.rules", "holidays")
TIMEOUT_SECONDS = 120  # a help takes about a second here; this is for a hang, not for speed

# Runs `escalation ARGS` as the console script does, then prints the exit status and the names
# of every module loaded, after a marker (the help text comes first on stdout).
PROBE = textwrap.dedent(
    """\
    import json, sys
    {prelude}
    sys.argv = ["escalation", *json.loads(sys.argv[1])]
    from escalation.cli.main import main
    try:
        main()
        status = 0
    except SystemExit as exit:
        status = exit.code
    print("\\n--modules--\\n" + json.dumps({{"status": status, "modules": sorted(sys.modules)}}))
    """
)


def command_paths(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The group itself, then every command and subcommand under it, as argument lists."""
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from command_paths(sub, (*path, name))


def shown(path: tuple[str, ...]) -> str:
    return " ".join(("escalation", *path, "--help"))


def loaded_by(path: tuple[str, ...], cwd: Path, prelude: str = "") -> list[str]:
    """The modules `escalation PATH --help` had imported when it ended (successfully)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATION_")}
    try:
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(prelude=prelude), json.dumps([*path, "--help"])],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{shown(path)}` did not end within {TIMEOUT_SECONDS} s")
    assert done.returncode == 0, f"`{shown(path)}` failed:\n{done.stderr}"
    help_text, marker, report = done.stdout.rpartition("\n--modules--\n")
    assert marker, f"`{shown(path)}` printed no module list:\n{done.stdout}\n{done.stderr}"
    result = json.loads(report)
    assert result["status"] == 0, f"`{shown(path)}` exited {result['status']}:\n{done.stderr}"
    assert help_text.startswith("Usage: escalation"), f"`{shown(path)}` printed:\n{help_text}"
    modules: list[str] = result["modules"]
    return modules


def among(modules: list[str], names: tuple[str, ...]) -> list[str]:
    """Which of `names` (packages: any module inside counts) are among `modules`."""
    return sorted({n for m in modules for n in names if m == n or m.startswith(n + ".")})


@pytest.mark.parametrize("path", list(command_paths(main)), ids=shown)
def test_it_shows_help_without_loading_the_heavy_parts(
    path: tuple[str, ...], tmp_path: Path
) -> None:
    modules = loaded_by(path, tmp_path)
    found = among(modules, HEAVY + (NOT_FOR_THE_LIST if not path else ()))
    assert not found, f"`{shown(path)}` imported {', '.join(found)}"


def test_it_would_see_a_heavy_import(tmp_path: Path) -> None:
    """The probe itself can fail: a process that has imported SQLAlchemy is caught."""
    modules = loaded_by((), tmp_path, prelude="import sqlalchemy.engine")
    assert among(modules, HEAVY) == ["sqlalchemy"]


def test_it_walks_every_command() -> None:
    paths = set(command_paths(main))
    assert {(), ("raise",), ("report",), ("db", "upgrade"), ("api-tokens", "revoke")} <= paths
    assert len(paths) > 40


def test_it_offers_the_values_of_the_vocabulary_it_copies() -> None:
    """`cli.choices` copies values whose owners --help cannot load; the copies must not drift."""
    assert DIGEST_DAYS == choices.DIGEST_DAYS
    assert FORMATS == choices.REPORT_FORMATS
    assert tuple(kind.value for kind in NoticeKind) == choices.NOTICE_KINDS
    assert OutboxStatus(choices.OUTBOX_PENDING) is OutboxStatus.PENDING
    assert OutboxStatus(choices.OUTBOX_FAILED) is OutboxStatus.FAILED
