"""CLI commands for running the engine unattended: `worker`, `sweep`, `digest` and `health`.

`worker` runs the sweep, the dispatcher and the digest on a schedule (`escalation.scheduler`);
`sweep` and `digest` are the same passes for cron (the dispatcher's, `dispatch`, is with the
email commands); `health` reads back what every worker and cron run recorded in `job_runs`, for
systemd, Kubernetes or Nagios checks. The passes themselves, and the one log line each run
writes, are in `escalation.jobs`, imported (with APScheduler and SQLAlchemy) only when a command
runs.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as local_time
from typing import TYPE_CHECKING, NoReturn

import click

from escalation.cli import mail as cli_mail
from escalation.cli.app import App, emit_json, pass_app
from escalation.cli.choices import DIGEST_DAYS

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

    from escalation import jobs, scheduler
    from escalation.casework.service import Service
    from escalation.config import Settings
    from escalation.mail.dispatch import Mailer

log = logging.getLogger("escalation.worker")
MINUTES = click.IntRange(1, 7 * 24 * 60)


def _parse_local_time(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> local_time | None:
    if value is None:
        return None
    try:
        hours, minutes = (int(part) for part in value.split(":"))
        return local_time(hours, minutes)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a local time like 07:30 (HH:MM)") from None


# -- worker --------------------------------------------------------------------------------------


@click.command("worker")
@click.option(
    "--sweep-every",
    type=click.IntRange(1, 24 * 60),
    metavar="MINUTES",
    help="Minutes between sweeps [default: ESCALATION_SWEEP_EVERY_MINUTES, else 5].",
)
@click.option(
    "--digest-at",
    metavar="HH:MM",
    callback=_parse_local_time,
    help="Europe/London time of the daily digest [default: ESCALATION_DIGEST_AT, else 07:30].",
)
@click.option(
    "--digest-days",
    type=click.Choice(DIGEST_DAYS),
    help="Send the digest on working days only, or daily "
    "[default: ESCALATION_DIGEST_DAYS, else working].",
)
@pass_app
def worker_command(
    app: App, sweep_every: int | None, digest_at: local_time | None, digest_days: str | None
) -> None:
    """Run the sweep, the email dispatcher and the daily digest on a schedule until stopped.

    \b
    What runs when (Europe/London time; the defaults, see the options):
      sweep     at start, catching up on anything missed, then every 5 minutes
      dispatch  at start, then every minute: sends what the sweep and users queued
      digest    every day at 07:30 (on working days only, unless --digest-days daily)
    A late pass (the machine slept) runs once as soon as it can. A pass that fails is logged
    and recorded, and the worker carries on. Each run logs one line, e.g.
      job=sweep ok=true claimed=3 applied=2 skipped=1 deferred=0 failed=0 queued=4 seconds=0.12
    and is recorded in the job_runs table, which `escalation health` reads.

    \b
    Needs the schema first: escalation db upgrade (the worker refuses to start without it).
    Stop it with SIGTERM or Ctrl-C: the batch in hand commits, then it exits 0; a second
    signal stops it at once (still safe: every batch is one transaction).

    \b
    Several workers: on PostgreSQL run as many as you like, on one machine or several; each
    keeps its own schedule, the sweep claims rows with SKIP LOCKED and every email has an
    idempotency key, so nothing is done or sent twice. On SQLite run one worker.
    """
    from escalation import scheduler

    settings = _worker_settings(app.settings, sweep_every, digest_at, digest_days)
    service = app.service  # refuses to start unless the schema is current
    mailer, _ = cli_mail.make_mailer(settings)
    stop = threading.Event()
    passes = _passes(app.fixed_now, service, mailer, stop, settings.digest_days)
    sqlite = app.engine.dialect.name == "sqlite"
    schedule = scheduler.build(passes, settings.sweep_every, settings.digest_at, sqlite)
    _show_run_lines(settings.log_level)
    log.info("%s", _started_line(settings, "smtp" if settings.smtp_url else "file"))
    stopped = scheduler.run_until_signalled(schedule, stop)
    log.info("worker=stopped signal=%s stop_seconds=%.3f", stopped.signal, stopped.seconds)


def _worker_settings(
    settings: Settings, every: int | None, at: local_time | None, days: str | None
) -> Settings:
    return replace(
        settings,
        sweep_every=timedelta(minutes=every) if every else settings.sweep_every,
        digest_at=at or settings.digest_at,
        digest_days=days or settings.digest_days,
    )


def _passes(
    fixed_now: datetime | None,
    service: Service,
    mailer: Mailer,
    stop: threading.Event,
    days: str,
) -> scheduler.Passes:
    """Each pass reads the clock once when it starts: the real one, or `--now` running on."""
    from escalation import jobs, scheduler

    now = jobs.clock(fixed_now)

    def guarded(run: Callable[[datetime], object]) -> Callable[[], None]:
        def job() -> None:
            if not stop.is_set():  # the scheduler may start one just as a signal arrives
                run(now())

        return job

    return scheduler.Passes(
        sweep=guarded(lambda at: jobs.run_sweep(service, at, stop)),
        dispatch=guarded(lambda at: jobs.run_dispatch(service, mailer, at, stop)),
        digest=guarded(lambda at: jobs.run_digest(service, at, days)),
    )


def _show_run_lines(level: int) -> None:
    """The worker's own lines are INFO: shown unless ESCALATION_LOG_LEVEL is ERROR.

    APScheduler's own INFO lines ("Running job …") would double them, so it says only
    warnings (a run skipped because the last one is still going) unless DEBUG is asked for.
    """
    for name in ("escalation.jobs", "escalation.worker"):
        logging.getLogger(name).setLevel(min(level, logging.INFO))
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if level <= logging.DEBUG else max(level, logging.WARNING)
    )


def _started_line(settings: Settings, mailer: str) -> str:
    from escalation import scheduler
    from escalation.rules.workdays import to_local_iso

    digest = scheduler.DailyAt(settings.digest_at).get_next_fire_time(None, datetime.now(UTC))
    return (
        f"worker=started sweep_every_minutes={int(settings.sweep_every.total_seconds() // 60)} "
        f"dispatch_every_minutes=1 digest_at={settings.digest_at:%H:%M} "
        f"digest_days={settings.digest_days} mailer={mailer} "
        f"next_digest={to_local_iso(digest) if digest else 'none'}"
    )


# -- health --------------------------------------------------------------------------------------


@click.command("health")
@click.option(
    "--max-sweep-age",
    type=MINUTES,
    metavar="MINUTES",
    help="Unhealthy when the last successful sweep is older "
    "[default: ESCALATION_HEALTH_SWEEP_MAX_AGE_MINUTES, else 30].",
)
@click.option(
    "--max-failing",
    type=MINUTES,
    metavar="MINUTES",
    help="Unhealthy when an email has been failing for longer "
    "[default: ESCALATION_HEALTH_OUTBOX_MAX_FAILING_MINUTES, else 60].",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was found as JSON.")
@pass_app
def health_command(
    app: App, max_sweep_age: int | None, max_failing: int | None, as_json: bool
) -> None:
    """Exit 0 if healthy; 1 with one line per problem; 2 if the database cannot be read.

    Exit status 2 also when the schema is not current (run `escalation db upgrade`).

    \b
    Healthy means both:
      - a sweep succeeded within --max-sweep-age minutes, on any host, by a worker or cron;
      - no email has been undelivered (failed, or still pending) for over
        --max-failing minutes, counted from when it was queued.
    A failed email keeps the check unhealthy until it is delivered (`escalation outbox retry`)
    or its reader has been told another way (`escalation outbox dismiss`). For systemd,
    Kubernetes or Nagios checks.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from escalation import jobs
    from escalation.casework.db import SchemaNotReady

    settings = app.settings
    try:
        health = jobs.check_health(
            app.sessions,
            app.now,
            timedelta(minutes=max_sweep_age) if max_sweep_age else settings.health_sweep_max_age,
            timedelta(minutes=max_failing) if max_failing else settings.health_outbox_max_failing,
        )
    except SchemaNotReady as exc:
        _unreadable(str(exc))
    except SQLAlchemyError as exc:
        _unreadable(_database_problem(app, exc))
    _report(health, as_json)


def _unreadable(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _database_problem(app: App, exc: SQLAlchemyError) -> str:
    from escalation import failures

    return failures.describe(exc, app.settings.database_url).message


def _report(health: jobs.Health, as_json: bool) -> None:
    if as_json:
        emit_json(health.as_dict())
    else:
        for line in health.lines():
            click.echo(line)
    sys.exit(1 if health.problems else 0)


# -- sweep ---------------------------------------------------------------------------------------


@click.command("sweep")
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
    from escalation import jobs

    outcome = jobs.run_sweep(app.service, app.now, batch_size=batch_size)
    result = outcome.value()
    if as_json:
        emit_json(result.as_dict())
    else:
        click.echo(result.summary())
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)


# -- digest --------------------------------------------------------------------------------------


@click.command("digest")
@click.option(
    "--days",
    type=click.Choice(DIGEST_DAYS),
    help="working: nothing is sent on a weekend, bank holiday or closure day; daily: every "
    "day [default: ESCALATION_DIGEST_DAYS, else working].",
)
@pass_app
def digest_command(app: App, days: str | None) -> None:
    """Queue today's digest for each partnership's leads: for cron, once a day.

    The worker runs it by itself at ESCALATION_DIGEST_AT. Safe to repeat: a partnership gets
    one digest per local date. The emails go out with the next `escalation dispatch`.
    Each run is recorded in job_runs.
    """
    from escalation import jobs

    outcome = jobs.run_digest(app.service, app.now, days or app.settings.digest_days)
    click.echo(outcome.value().summary())
