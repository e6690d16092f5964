"""The `escalation` command line: set-up, protocols, deadlines, the directory and the sweep.

The commands that move a challenge through the protocol are in `cli_events`. Every command reads
the environment once (`Settings.from_env`), reads the clock once (or takes the global `--now`),
and ends, whatever goes wrong, in `error:` lines on stderr naming no child's details: exit status 2
when the database cannot be reached, 1 for anything else (see `failures`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from escalation import failures, jobs, resources
from escalation.casework import db, directory, store, sweep
from escalation.casework.service import Service
from escalation.config import Settings
from escalation.errors import CalendarError
from escalation.mail.emails import EmailRenderer
from escalation.mail.links import link_source
from escalation.mail.outbox import OutboxNotifier
from escalation.rules.machine import mermaid
from escalation.rules.registry import ProtocolRegistry, describe, load_registry
from escalation.rules.workdays import parse_instant, to_local_iso

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """What a command needs, built lazily so `--help` and `workflows validate` need no database."""

    def __init__(self, now: datetime | None) -> None:
        self.settings = Settings.from_env()
        self.fixed_now = now
        logging.basicConfig(
            level=self.settings.log_level,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )

    @property
    def now(self) -> datetime:
        return self.fixed_now or datetime.now(UTC)

    @cached_property
    def registry(self) -> ProtocolRegistry:
        return load_registry(self.settings.workflows_dir or resources.workflows_dir())

    @cached_property
    def engine(self) -> Engine:
        return db.make_engine(self.settings.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        db.require_current_schema(self.engine)
        return db.session_factory(self.engine)

    @cached_property
    def renderer(self) -> EmailRenderer:
        return EmailRenderer(resources.templates_dir())

    @cached_property
    def notifier(self) -> OutboxNotifier:
        base_url = self.settings.base_url
        links = link_source(base_url, self.settings.secret_key)
        return OutboxNotifier(self.registry, self.renderer, base_url, links)

    @cached_property
    def service(self) -> Service:
        return Service(self.sessions, self.registry, self.notifier)


def fail(exc: BaseException, database: URL | None) -> NoReturn:
    """One `error:` line per problem and the exit status; nothing the exception carried about a
    child (a database error's text and parameters are never shown: see `failures`)."""
    failure = failures.describe(exc, database)
    for line in failure.lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(failure.status)


class _Commands(click.Group):
    """The top-level group: one handler around every command, so no command, however new, can
    end in a traceback. click's own exits and usage errors pass through untouched."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            app = ctx.find_object(App)
            fail(exc, app.settings.database_url if app else None)


def _parse_now(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except CalendarError as exc:  # one `error:` line naming the option, like every other error
        click.echo(f"error: --{param.name}: {exc}", err=True)
        ctx.exit(1)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--now",
    metavar="ISO-8601",
    callback=_parse_now,
    help="Act as if it were this instant (simulation and tests). Without an offset it "
    "is Europe/London local time. Chronology entries still record the real time.",
)
@click.version_option(package_name="escalation")
@click.pass_context
def main(ctx: click.Context, now: datetime | None) -> None:
    """Case Resolution Protocol escalation engine for Safeguarding Children Partnerships.

    A school (or any agency) that disagrees with a children's social care decision raises a
    challenge; it rises level by level (practitioner, line manager, senior manager,
    partnership) with response deadlines in England & Wales working days.

    A disagreement must never delay keeping a child safe: if a child is at immediate risk of
    significant harm, phone the front door (MASH) or 999 now.

    \b
    Start here:          escalation demo
    Set up:              escalation db upgrade && escalation orgs import directory.csv
    Then, all the time:  escalation worker   (sweep, emails and the daily digest on a schedule)
    or from cron:        escalation sweep && escalation dispatch, and escalation digest daily
    Monitoring:          escalation health   (exit 0 healthy, 1 a problem, 2 no database)
    Web pages and API:   escalation serve    (after `npm ci`; first admin: escalation admin add)
    """
    ctx.obj = App(now)  # a bad ESCALATION_* variable: one line from _Commands, no traceback


pass_app = click.make_pass_decorator(App)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


# -- db ------------------------------------------------------------------------------------------


@main.group("db")
def db_group() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""


@db_group.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Create the schema, or upgrade it to this version. Safe to run again."""
    db.upgrade(app.engine)
    where = app.engine.url.render_as_string(hide_password=True)
    click.echo(f"database {where} is at revision {db.current_revision(app.engine)}")


@db_group.command("current")
@pass_app
def db_current(app: App) -> None:
    """Show the schema revision of the database and the one this version needs."""
    click.echo(
        f"database: {db.current_revision(app.engine) or 'empty'}; "
        f"this version needs: {db.head_revision()}"
    )


# -- workflows -----------------------------------------------------------------------------------


@main.group("workflows")
def workflows_group() -> None:
    """Check and explain the protocol files (workflows/*.yaml)."""


@workflows_group.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@pass_app
def workflows_validate(app: App, files: tuple[Path, ...]) -> None:
    """Validate protocol files: every problem is listed; exit status 1 if there is any.

    With no FILES, validates the configured workflows directory (and its closures.yaml).
    """
    if files:
        registry = load_registry(files=list(files))
    else:
        folder = app.settings.workflows_dir or resources.workflows_dir()
        click.echo(f"workflows directory: {folder}")
        registry = load_registry(folder)
    for protocol in registry.all():
        click.echo(
            f"ok  {protocol.source_file}: {protocol.id} version {protocol.version} "
            f"({len(protocol.levels)} levels)"
        )
    for warning in sweep.coverage_warnings_for(registry, app.now):
        click.echo(f"warning: {warning}", err=True)


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
    """Levels, timescales, contacts and the provenance of every number."""
    click.echo(describe(app.registry.get(protocol_id, version)))


@workflows_group.command("diagram")
@_protocol_option
@pass_app
def workflows_diagram(app: App, protocol_id: str, version: int | None) -> None:
    """Mermaid text of the state machine, drawn from the transitions machine itself."""
    click.echo(mermaid(app.registry.get(protocol_id, version)))


# -- due -----------------------------------------------------------------------------------------


@main.command("due")
@click.option("--workflow", "protocol_id", required=True, help="Protocol id, e.g. devon.")
@click.option("--level", type=int, required=True, help="Level number (1 = practitioner).")
@click.option(
    "--start",
    required=True,
    metavar="ISO-8601",
    callback=_parse_now,
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

    protocol = app.registry.get(protocol_id, version)
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


# -- directory -----------------------------------------------------------------------------------


@main.group("orgs")
def orgs_group() -> None:
    """The directory of organisations and their contacts by role."""


@orgs_group.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_app
def orgs_import(app: App, csv_file: Path) -> None:
    """Import organisations and contacts from CSV, all or nothing.

    \b
    Columns: organisation,type,partnership,role,name,email
    type: school, social_care, health, police, early_years, voluntary, partnership, other
    role: practitioner, dsl, line_manager, senior_manager, partnership, admin
    """
    result = directory.import_csv(app.sessions, csv_file, app.registry.partnerships())
    click.echo(
        f"imported {csv_file.name}: {result.rows} rows, {result.organisations_added} new "
        f"organisations, {result.contacts_added} new contacts"
    )


@orgs_group.command("list")
@click.option("--partnership", default=None, help="Only this partnership.")
@pass_app
def orgs_list(app: App, partnership: str | None) -> None:
    """List organisations and their contacts."""
    with app.sessions() as session:
        for org in store.organisations(session, partnership, app.registry.partnerships()):
            click.echo(f"{org.partnership:10} {org.type:12} {org.name}")
            for contact in org.contacts:
                click.echo(f"{'':24}{contact.role:15} {contact.name} <{contact.email}>")


# -- sweep ---------------------------------------------------------------------------------------


@main.command("sweep")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=200,
    show_default=True,
    help="Due deadlines per claim: their challenges are locked, each with every due deadline "
    "of its own, so in a catch-up one transaction may apply a few times this many.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def sweep_command(app: App, batch_size: int, as_json: bool) -> None:
    """Apply everything due as of now: reminders, lapses, outcome checks. Safe to repeat.

    Each run is recorded in job_runs, which `escalation health` reads.
    """
    outcome = jobs.run_sweep(app.service, app.now, batch_size=batch_size)
    result = outcome.value()
    if as_json:
        emit_json(result.as_dict())
    else:
        click.echo(result.summary())
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)


def _register_subcommands() -> None:
    from escalation import demo
    from escalation.cli import (
        events as cli_events,
    )
    from escalation.cli import (
        mail as cli_mail,
    )
    from escalation.cli import (
        report as cli_report,
    )
    from escalation.cli import (
        web as cli_web,
    )
    from escalation.cli import (
        worker as cli_worker,
    )

    cli_events.register(main)
    cli_mail.register(main)
    cli_report.register(main)
    cli_worker.register(main)
    cli_web.register(main)
    main.add_command(demo.demo_command)


_register_subcommands()
