"""The `escalation` command: the top-level group (its `--now` and `--version`, the one error
handler around every command) and the list of commands, each defined in the module named for
what it does.

The entry point (`escalation = "escalation.cli.main:main"`) and `python -m escalation` load this
module; no command module imports it. Every command reads the environment once
(`Settings.from_env`), reads the clock once (or takes the global `--now`), and ends, whatever
goes wrong, in `error:` lines on stderr naming no child's details: exit status 2 when the
database cannot be reached, 1 for anything else (see `failures`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from escalation.cli import demo, directory, events, mail, report, setup, web, worker
from escalation.cli.app import App, fail, instant


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
            fail(exc, app.database() if app else None)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--now",
    metavar="ISO-8601",
    callback=instant,
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
    ctx.obj = App(now)  # reads nothing yet: the command does, after click has answered --help


# click lists them in alphabetical order whatever the order here.
COMMANDS: tuple[click.Command, ...] = (
    # setting up and checking: the schema, the protocol files, what deadlines they give
    setup.db_group,
    setup.workflows_group,
    setup.due,
    directory.orgs_group,
    # a challenge, from raising to closing
    events.raise_command,
    events.acknowledge,
    events.respond,
    events.accept,
    events.escalate,
    events.pause,
    events.resume,
    events.extend,
    events.withdraw,
    events.resolve,
    events.outcome,
    events.reopen,
    events.close,
    events.show,
    events.list_command,
    events.chronology,
    # email
    mail.templates_group,
    mail.emails_group,
    mail.dispatch_command,
    mail.outbox_group,
    # running unattended, and the same passes for cron
    worker.worker_command,
    worker.sweep_command,
    worker.digest_command,
    worker.health_command,
    report.report_command,
    # the web service and who may use it
    web.serve_command,
    web.admin_group,
    web.tokens_group,
    demo.demo_command,
)
for _command in COMMANDS:
    main.add_command(_command)
