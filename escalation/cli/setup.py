"""Setting up and checking before going live: `db upgrade|current` (the schema),
`workflows validate|show|diagram` (the protocol files) and `due` (the deadlines a protocol
gives a level, with no database).

Each command imports the parts it uses when it runs: `--help` loads none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from escalation import resources
from escalation.cli.app import App, emit_json, instant, pass_app, write_atomically

if TYPE_CHECKING:
    from escalation.rules.registry import ProtocolRegistry

F = TypeVar("F", bound=Callable[..., Any])


# -- db ------------------------------------------------------------------------------------------


@click.group("db")
def db_group() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""


@db_group.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Create the schema, or upgrade it to this version. Safe to run again."""
    from escalation.casework import db

    db.upgrade(app.engine)
    where = app.engine.url.render_as_string(hide_password=True)
    click.echo(f"database {where} is at revision {db.current_revision(app.engine)}")


@db_group.command("current")
@pass_app
def db_current(app: App) -> None:
    """Show the schema revision of the database and the one this version needs."""
    from escalation.casework import db

    click.echo(
        f"database: {db.current_revision(app.engine) or 'empty'}; "
        f"this version needs: {db.head_revision()}"
    )


# -- workflows -----------------------------------------------------------------------------------


@click.group("workflows")
def workflows_group() -> None:
    """Check and explain the protocol files (workflows/*.yaml)."""


@workflows_group.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--database/--no-database",
    "against_database",
    default=None,
    help="Compare the files with the versions pinned in the database (default: when the "
    "configured database has the schema; --database insists, --no-database never looks).",
)
@pass_app
def workflows_validate(app: App, files: tuple[Path, ...], against_database: bool | None) -> None:
    """Validate protocol files: every problem is listed; exit status 1 if there is any.

    With no FILES, validates the configured workflows directory (and its closures.yaml).
    A file with `format: 2` must give every number and rule a `source` (document, section,
    address) or `status: to confirm`; a file without `format:` is format 1, read as it always
    was (workflows/README.md, Provenance).

    \b
    A version in use is pinned: the first challenge raised on it stores its content in the
    database, and every challenge on it runs from that copy. A file edited in place since is
    reported (the file, the version, how many open challenges are pinned to it) and fails the
    check: restore it, save the change as a new version, then restart the web service and the
    worker. A pinned version whose file is gone is noted: its challenges run from the stored
    copy.
    """
    from escalation.casework import sweep
    from escalation.errors import ProtocolError
    from escalation.rules.registry import closure_name_problems, load_registry

    if files:
        registry = load_registry(files=list(files), closure_names=False)
    else:
        folder = app.settings.workflows_dir or resources.workflows_dir()
        click.echo(f"workflows directory: {folder}")
        registry = load_registry(folder, closure_names=False)
    for protocol in registry.all():
        click.echo(
            f"ok  {protocol.source_file}: {protocol.id} version {protocol.version} "
            f"({len(protocol.levels)} levels)"
        )
    for warning in sweep.coverage_warnings_for(registry, app.now):
        click.echo(f"warning: {warning}", err=True)
    compared = (
        None if against_database is False else _pinned_problems(app, registry, against_database)
    )
    if compared is None:  # the closures file's names, checked against the files alone
        problems = closure_name_problems(registry)
        if problems:
            raise ProtocolError(problems)
    if compared:
        raise SystemExit(1)


def _pinned_problems(app: App, files: ProtocolRegistry, insist: bool | None) -> bool | None:
    """Compare `files` with the pinned copies: True if a file was edited in place, False if
    none was, None if there is no database to compare with."""
    from escalation.casework import pins

    where = app.settings.database_url.render_as_string(hide_password=True)
    missing = _no_schema(app)
    if missing is not None:
        if insist:
            raise click.ClickException(missing)
        click.echo(f"not compared with pinned versions: {missing}")
        return None
    registry = pins.pinned_registry(app.sessions, files, app.now)
    report = pins.drift_report(app.sessions, registry)
    edited = [(drift, running) for drift, running in report if drift.edited]
    for drift, running in report:
        label = "error" if drift.edited else "note"
        click.echo(f"{label}: {drift.words(running)}", err=drift.edited)
    if not edited:
        click.echo(f"ok  pinned versions in {where} match their files")
    return bool(edited)


def _no_schema(app: App) -> str | None:
    """Why the configured database cannot be read for pinned versions, or None if it can."""
    from escalation.casework import db
    from escalation.errors import EscalationError

    url = app.settings.database_url
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        # Looking must not make one: SQLite creates a missing file on connecting.
        return f"no database at {url.render_as_string(hide_password=True)}"
    try:
        db.require_current_schema(app.engine)
    except EscalationError as exc:
        return str(exc)
    return None


def _running(app: App) -> ProtocolRegistry:
    """What runs: the pinned copies in force when there is a database to read them from, and
    the files as they are otherwise."""
    return app.registry if _no_schema(app) is None else app.file_registry


def _protocol_option(func: F) -> F:
    func = click.option(
        "--version",
        "version",
        type=int,
        default=None,
        help="Protocol version (default: the newest).",
    )(func)
    return click.argument("protocol_id")(func)


@workflows_group.command("show")
@_protocol_option
@pass_app
def workflows_show(app: App, protocol_id: str, version: int | None) -> None:
    """Levels, timescales, contacts and the provenance of every number.

    Ends with what is still to confirm with the partnership: in a file of format 2 each value
    marked `status: to confirm`; in format 1 (no `format:`) each whose provenance begins
    "default". The header says which format the file is in and how to move it to format 2.
    """
    from escalation.rules.registry import describe

    registry = _running(app)
    protocol = registry.get(protocol_id, version)
    drift = registry.drifts.get((protocol.id, protocol.version))
    if drift is not None:
        how = (
            f"was edited in place after the first challenge was raised on version {drift.version}"
            if drift.edited
            else "is no longer in the workflows folder"
        )
        click.echo(f"Shown from the copy pinned in the database: {drift.source_file} {how}.\n")
    click.echo(describe(protocol))


@workflows_group.command("schema")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the schema to this file (whole or not at all) instead of standard output.",
)
def workflows_schema(output: Path | None) -> None:
    """The JSON Schema of a protocol file, for an editor to check a file as you type.

    Save it beside the workflows and point the file at it with a first line such as
    `# yaml-language-server: $schema=protocol.schema.json` (VS Code with the YAML extension,
    and other editors using the YAML language server). The schema knows the keys, durations,
    roles and patterns; `escalation workflows validate` checks everything and has the last
    word (workflows/README.md, Checking a file as you type).

    \b
    Example:
      escalation workflows schema --output workflows/protocol.schema.json
    """
    import json

    from escalation.rules.schema import protocol_schema

    text = json.dumps(protocol_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    write_atomically(output, text)
    click.echo(f"wrote the protocol file schema to {output}")


@workflows_group.command("diagram")
@_protocol_option
@pass_app
def workflows_diagram(app: App, protocol_id: str, version: int | None) -> None:
    """Mermaid text of the state machine, drawn from the transitions machine itself."""
    from escalation.rules.machine import mermaid

    click.echo(mermaid(_running(app).get(protocol_id, version)))


# -- due -----------------------------------------------------------------------------------------


@click.command("due")
@click.option("--workflow", "protocol_id", required=True, help="Protocol id, e.g. devon.")
@click.option("--level", type=int, required=True, help="Level number (1 = practitioner).")
@click.option(
    "--start",
    required=True,
    metavar="ISO-8601",
    callback=instant,
    help="When the level opens; without an offset, Europe/London local time.",
)
@click.option("--urgent", is_flag=True, help="Use the level's urgent (working-hours) timescales.")
@click.option("--version", type=int, default=None, help="Protocol version (default: newest).")
@click.option("--json", "as_json", is_flag=True, help="Print {due_at, reminders} as JSON.")
@pass_app
def due(
    app: App,
    protocol_id: str,
    level: int,
    start: datetime,
    urgent: bool,
    version: int | None,
    as_json: bool,
) -> None:
    """When a level opened at --start is due, and when its reminders go.

    \b
    Example: escalation due --workflow devon --level 1 --start 2026-12-23T15:00
    """
    from escalation.rules.planner import DeadlineKind, plan_stage
    from escalation.rules.workdays import to_local_iso

    protocol = _running(app).get(protocol_id, version)
    if level not in [lvl.number for lvl in protocol.levels]:
        raise click.BadParameter(
            f"{level} is not a level of {protocol.id} (1–{protocol.top_level})",
            param_hint="--level",
        )
    plan = plan_stage(protocol, level, urgent, start)
    reminders = [d for d in plan.deadlines if d.kind is DeadlineKind.REMINDER]
    data = {
        "due_at": to_local_iso(plan.due_at),
        "reminders": [to_local_iso(r.due_at) for r in reminders],
        "acknowledge_by": to_local_iso(plan.acknowledge_due_at),
    }
    if as_json:
        emit_json(data)
        return
    timescales = protocol.level(level).timescales(urgent)
    click.echo(
        f"{protocol.key} level {level} ({protocol.level(level).name}), "
        f"{'urgent' if urgent else 'normal'}: response within {timescales.response_due}"
    )
    click.echo(f"  due at          {data['due_at']}")
    click.echo(f"  acknowledge by  {data['acknowledge_by']}")
    for reminder in reminders:
        click.echo(f"  reminder        {to_local_iso(reminder.due_at)}  ({reminder.detail})")
