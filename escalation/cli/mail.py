"""CLI commands for email: `templates check`, `emails preview`, `dispatch` and
`outbox list|show|retry|dismiss`.

Each imports the mail and casework parts it uses when it runs: `--help` loads none of them (nor
aiosmtplib).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import click

from escalation.cli.app import App, pass_app
from escalation.cli.choices import NOTICE_KINDS, OUTBOX_FAILED, OUTBOX_PENDING
from escalation.errors import NotFound

if TYPE_CHECKING:
    from escalation.config import Settings
    from escalation.mail.dispatch import Mailer


@click.group("templates")
def templates_group() -> None:
    """The email templates (templates/emails/<kind>/)."""


@templates_group.command("check")
@pass_app
def templates_check(app: App) -> None:
    """Render every kind of email for every protocol with sample values; exit 1 on any error."""
    from escalation.mail.emails import KINDS, check_all

    protocols = app.file_registry.all()
    problems = check_all(app.renderer, protocols)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"ok  {len(KINDS)} kinds of email render for {', '.join(p.key for p in protocols)}")


@click.group("emails")
def emails_group() -> None:
    """What the engine would email."""


@emails_group.command("preview")
@click.argument("kind", type=click.Choice(NOTICE_KINDS))
@click.option("--challenge", "reference", required=True, help="The challenge reference.")
@pass_app
def emails_preview(app: App, kind: str, reference: str) -> None:
    """Print the email of KIND that each addressee of the challenge's level would get now."""
    from escalation.casework import store
    from escalation.casework.notices import Audience, Notice, NoticeKind

    with app.sessions() as session:
        challenge = store.load_challenge(session, reference, lock=False)
        notice = Notice(
            NoticeKind(kind),
            challenge.level,
            (Audience.RAISER, Audience.RESPONDER),
            challenge.current_stage.due_at if challenge.current_stage else None,
        )
        previews = app.notifier.preview(session, challenge, notice)
        for recipient, email in previews:
            click.echo(f"To: {recipient.name} <{recipient.email}> ({recipient.role})")
            click.echo(f"Subject: {email.subject}\n\n{email.text}\n{'-' * 72}")
        if not previews:
            click.echo("nobody: the directory has no contact for the roles this level addresses")


@click.command("dispatch")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Most messages claimed per transaction (through SMTP: one per connection, recorded "
    "as soon as the server accepts it).",
)
@click.option(
    "--retry-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=48.0,
    show_default=True,
    help="Keep retrying a temporary failure until the message is this old "
    "(every message gets at least 3 attempts).",
)
@pass_app
def dispatch_command(app: App, batch_size: int, retry_hours: float) -> None:
    """Send pending emails through ESCALATION_SMTP_URL or, with no SMTP server configured,
    write them as .eml files into the outbox folder. Temporary failures are retried with
    backoff; permanent ones are marked failed, recorded in the chronology and alerted.
    Each run is recorded in job_runs."""
    from escalation import jobs

    mailer, where = make_mailer(app.settings)
    outcome = jobs.run_dispatch(
        app.service,
        mailer,
        app.now,
        batch_size=batch_size,
        retry_limit=timedelta(hours=retry_hours),
    )
    result = outcome.value()
    click.echo(
        f"dispatch: {result.sent} sent ({where}), {result.retrying} to retry, "
        f"{result.failed} failed"
    )


def make_mailer(settings: Settings) -> tuple[Mailer, str]:
    """The SMTP mailer when ESCALATION_SMTP_URL is set, else the .eml file mailer; and where."""
    from escalation.mail.mailer import FileMailer
    from escalation.mail.smtp import SmtpMailer, parse_smtp_url

    if settings.smtp_url:
        smtp = parse_smtp_url(settings.smtp_url, settings.smtp_password_file)
        return SmtpMailer(smtp, settings.mail_from), f"via {smtp.host}:{smtp.port}"
    return FileMailer(settings.outbox_dir, settings.mail_from), f"written to {settings.outbox_dir}"


@click.group("outbox")
def outbox_group() -> None:
    """Queued, sent and failed emails."""


@outbox_group.command("list")
@click.option("--pending", "status", flag_value=OUTBOX_PENDING, help="Only pending.")
@click.option("--failed", "status", flag_value=OUTBOX_FAILED, help="Only failed.")
@pass_app
def outbox_list(app: App, status: str | None) -> None:
    """List outbox messages, oldest first."""
    from escalation.mail import store as mail_store
    from escalation.rules.workdays import to_local_iso

    with app.sessions() as session:
        for row in mail_store.outbox_messages(session, status):
            click.echo(
                f"{row.id:6}  {row.status:8} {to_local_iso(row.created_at)}  {row.kind:24} "
                f"{row.recipient_email}  {row.subject}"
            )


@outbox_group.command("retry")
@click.argument("message_id", type=int, required=False)
@click.option("--all-failed", is_flag=True, help="Put every failed message back in the queue.")
@pass_app
def outbox_retry(app: App, message_id: int | None, all_failed: bool) -> None:
    """Put a failed message (or, with --all-failed, every one) back in the queue."""
    from escalation.mail.dispatch import retry

    if (message_id is None) == (not all_failed):
        raise click.UsageError("give a message ID or --all-failed (not both)")
    with app.sessions.begin() as session:
        count = retry(session, app.now, None if all_failed else message_id)
    if message_id is not None and count == 0:
        raise NotFound(f"no failed outbox message {message_id}")
    click.echo(f"{count} message(s) queued again; `escalation dispatch` sends them")


@outbox_group.command("dismiss")
@click.argument("message_id", type=int)
@click.option("--by", "who", required=True, help="Who dealt with it (for the chronology).")
@click.option(
    "--how",
    required=True,
    help="How the person was told instead, e.g. 'phoned the DSL on 01392 000000'. "
    "No child's details: this goes into the chronology.",
)
@pass_app
def outbox_dismiss(app: App, message_id: int, who: str, how: str) -> None:
    """Mark a failed email as dealt with another way; recorded in the challenge's chronology.

    A failed email keeps `escalation health` unhealthy until it is retried successfully or
    dismissed here, so that someone has made sure its reader was told.
    """
    from escalation.casework import intake
    from escalation.mail.dispatch import dismiss

    who, how = intake.text("by", who, 200), intake.text("how", how, 500)
    with app.sessions.begin() as session:
        row = dismiss(app.service, session, app.now, message_id, who, how)
        click.echo(f"message {row.id} to {row.recipient_name} dismissed by {who}")


@outbox_group.command("show")
@click.argument("message_id", type=int)
@pass_app
def outbox_show(app: App, message_id: int) -> None:
    """One message: headers, status and the plain-text body."""
    from escalation.casework.models_service import OutboxMessage

    with app.sessions() as session:
        row = session.get(OutboxMessage, message_id)
        if row is None:
            raise NotFound(f"no outbox message {message_id}")
        click.echo(
            f"Message-ID: {row.message_id}\nTo: {row.recipient_name} "
            f"<{row.recipient_email}> ({row.recipient_role})\nSubject: {row.subject}\n"
            f"Status: {row.status} (attempts {row.attempts}"
            + (f", last error: {row.last_error}" if row.last_error else "")
            + ")\n"
        )
        click.echo(row.text_body)
