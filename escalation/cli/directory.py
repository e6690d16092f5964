"""The directory of organisations and their contacts by role: `orgs import|list`.

(`admin add`, which adds a partnership admin to the directory so they can sign in, is with the
web service's commands in `cli.web`.)
"""

from __future__ import annotations

from pathlib import Path

import click

from escalation.cli.app import App, pass_app


@click.group("orgs")
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
    from escalation.casework import directory

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
    from escalation.casework import store

    with app.sessions() as session:
        for org in store.organisations(session, partnership, app.registry.partnerships()):
            click.echo(f"{org.partnership:10} {org.type:12} {org.name}")
            for contact in org.contacts:
                click.echo(f"{'':24}{contact.role:15} {contact.name} <{contact.email}>")
