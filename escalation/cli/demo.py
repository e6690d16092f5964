"""`escalation demo`: the command only; the simulation it runs is `escalation.demo.run_demo`.

The command is defined here, not taken from `escalation.demo`, because that module imports the
ORM and the service at module level and `escalation --help` must not.
"""

from __future__ import annotations

from pathlib import Path

import click

from escalation.cli.app import App, pass_app


@click.command("demo")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("escalation-demo"),
    show_default=True,
    help="Folder for the demo's own database (recreated on every run).",
)
@pass_app
def demo_command(_: App, folder: Path) -> None:
    """Simulate a fictional Devon winter: raise, remind, lapse, escalate, respond, resolve.

    Needs no configuration and touches nothing outside --dir.
    """
    # The App is unused, but like every command this one reads the environment and sets up
    # logging first, as the demo always has.
    from escalation.demo import run_demo

    run_demo(folder, click.echo)
