"""CLI commands for the web service: `serve`, `admin add`, `api-tokens create|list|revoke`.

Each imports what it uses when it runs: `--help` loads neither the web service (FastAPI,
uvicorn) nor the casework.
"""

from __future__ import annotations

import csv
import io

import click

from escalation.cli.app import App, pass_app
from escalation.errors import InvalidInput, NotFound


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (each with its own database pool).",
)
@click.option(
    "--forwarded-allow-ips",
    metavar="IPS",
    default=None,
    help="Behind a reverse proxy: the proxy's addresses (comma-separated, or '*'), whose "
    "X-Forwarded-For/-Proto headers are trusted. Without it the headers are ignored.",
)
@pass_app
def serve_command(
    app: App, host: str, port: int, workers: int, forwarded_allow_ips: str | None
) -> None:
    """Run the web service: the pages for schools, responders and the partnership, and the
    JSON API (documented at /api, its OpenAPI document at /api/openapi.json).

    It needs the database at the current schema (`escalation db upgrade`) and the front-end
    packages (`npm ci` in the checkout, or ESCALATION_FRONTEND_DIR). Emails it queues (sign-in
    links, notices) are sent by `escalation worker` or `escalation dispatch`, as always.

    \b
    On your own machine:  escalation serve            (then open http://localhost:8000)
    Behind nginx:         escalation serve --workers 4 --forwarded-allow-ips 127.0.0.1
    """
    import uvicorn

    from escalation.web.context import build

    build(app.settings)  # fail now, with the variable named, not in every worker
    click.echo(f"serving {app.settings.base_url} on http://{host}:{port} ({workers} worker(s))")
    uvicorn.run(
        "escalation.web.asgi:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="warning",
        server_header=False,
    )


# -- partnership admins ------------------------------------------------------------------------


@click.group("admin")
def admin_group() -> None:
    """Partnership admins: they sign in to the web service and see the whole partnership."""


@admin_group.command("add")
@click.option("--partnership", required=True, help="devon, plymouth or torbay (a protocol's).")
@click.option("--name", required=True, help="The admin's full name.")
@click.option("--email", required=True, help="Their work email address: they sign in with it.")
@click.option(
    "--unit",
    default=None,
    help="The partnership business unit's organisation name "
    "[default: '<Partnership> SCP Business Unit'].",
)
@pass_app
def admin_add(app: App, partnership: str, name: str, email: str, unit: str | None) -> None:
    """Add a partnership admin to the directory (and its business unit, if it is new).

    An admin signs in at ESCALATION_BASE_URL/sign-in with this email address, sees every
    challenge of the partnership and its dashboard, and receives the admin alerts (emails that
    could not be delivered) and the daily digest.

    \b
    Example: escalation admin add --partnership devon --name "Pip Business Manager" \\
               --email business.unit@dscp.example.org
    """
    from escalation.casework import directory, intake

    partnership = intake.partnership("partnership", partnership, app.registry.partnerships())
    unit = unit or f"{partnership.title()} SCP Business Unit"
    address = intake.email("email", email)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["organisation", "type", "partnership", "role", "name", "email"])
    for role in ("admin", "partnership"):
        writer.writerow(
            [unit, "partnership", partnership, role, intake.line("name", name), address]
        )
    result = directory.import_text(
        app.sessions, rows.getvalue(), "admin add", app.registry.partnerships()
    )
    state = "added" if result.contacts_added else "already there"
    click.echo(f"{name} <{address}>: admin and partnership contact of {unit} ({state})")
    click.echo(f"they sign in at {app.settings.base_url}/sign-in")


# -- API tokens --------------------------------------------------------------------------------


@click.group("api-tokens")
def tokens_group() -> None:
    """Keys for partners' case-management systems to use the JSON API (see /api)."""


@tokens_group.command("create")
@click.option("--org", "org_name", required=True, help="The organisation it acts for.")
@click.option("--label", required=True, help="Which system holds it, e.g. 'Mosaic (Front Door)'.")
@click.option("--by", "created_by", required=True, help="Who issued it (for the record).")
@pass_app
def tokens_create(app: App, org_name: str, label: str, created_by: str) -> None:
    """Issue a token; it is printed once and only its hash is kept.

    The system sends it as `Authorization: Bearer esc_…` and then sees what the organisation
    sees: the challenges it raised or was asked to answer (a partnership business unit's token:
    the whole partnership's).
    """
    from escalation.casework import intake, store
    from escalation.web import store as store_web

    with app.sessions.begin() as session:
        org = store.find_organisation(session, org_name)
        row, token = store_web.create_api_token(
            session,
            org,
            intake.line("label", label),
            intake.line("by", created_by),
            app.now,
        )
        click.echo(f"token {row.id} for {org.name} ({row.label}):")
    click.echo(token)
    click.echo("keep it secret: it is shown once; revoke with `escalation api-tokens revoke ID`")


@tokens_group.command("list")
@click.option("--partnership", default=None, help="Only this partnership's organisations.")
@pass_app
def tokens_list(app: App, partnership: str | None) -> None:
    """The tokens issued (never the tokens themselves)."""
    from escalation.casework import intake
    from escalation.web import store as store_web

    if partnership is not None:
        partnership = intake.partnership("partnership", partnership, app.registry.partnerships())
    with app.sessions() as session:
        for row in store_web.api_tokens(session, partnership):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            click.echo(
                f"{row.id}\t{row.organisation.name}\t{row.label}\tby {row.created_by} "
                f"{row.created_at:%Y-%m-%d}\t{state}"
            )


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@pass_app
def tokens_revoke(app: App, token_id: int) -> None:
    """Stop a token working, at once."""
    from escalation.web import store as web_store

    with app.sessions.begin() as session:
        row = web_store.api_token(session, token_id)
        if row is None:
            raise NotFound(f"no API token {token_id} (see `escalation api-tokens list`)")
        if row.revoked_at is not None:
            raise InvalidInput("token-id", f"{token_id} was already revoked")
        row.revoked_at = app.now
        click.echo(f"revoked token {token_id} ({row.organisation.name}, {row.label})")
