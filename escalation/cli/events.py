"""CLI commands that raise, move, show and list challenges (`escalation raise|respond|…`).

Every command that reads or writes a challenge takes `--json` and then prints the challenge as
JSON; otherwise one readable line. `--by` is the person acting, as recorded in the chronology.
Each imports the casework it uses when it runs: `--help` loads none of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import click

from escalation.cli.app import App, emit_json, pass_app
from escalation.cli.choices import CATEGORIES, OUTCOMES, RESPONSE_KINDS

F = TypeVar("F", bound=Callable[..., Any])


def _json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the challenge as JSON.")(
        func
    )


def _by_option(func: F) -> F:
    return click.option(
        "--by",
        "who",
        required=True,
        metavar="NAME",
        help="The person acting (recorded in the chronology).",
    )(func)


def print_challenge(app: App, reference: str, as_json: bool, full: bool = False) -> None:
    from escalation.casework import store
    from escalation.casework.views import challenge_dict, challenge_text, current_due
    from escalation.rules.workdays import to_local_iso

    with app.sessions() as session:
        challenge = store.load_challenge(session, reference, lock=False)
        protocol = app.service.protocol_of(challenge)
        pending = store.pending_deadlines(session, challenge.id)
        if as_json:
            emit_json(challenge_dict(challenge, protocol, pending))
        elif full:
            click.echo(challenge_text(challenge, protocol, pending))
        else:
            due = current_due(challenge)
            click.echo(
                f"{challenge.reference}: {challenge.state}"
                + (f", due {to_local_iso(due)}" if due else "")
            )


_RESOLUTION_OPTIONS = [
    click.option(
        "--outcome",
        required=True,
        type=OUTCOMES,
        help="The final outcome.",
    ),
    click.option("--statement", required=True, help="The agreed written outcome statement."),
    click.option(
        "--life-improvement", required=True, help="How will life improve for the child? (required)"
    ),
    click.option(
        "--recorded-on-both-files/--not-recorded-on-both-files",
        default=None,
        help="Whether the outcome is recorded on both agencies' files.",
    ),
]


def _resolution_options(func: F) -> F:
    for option in reversed(_RESOLUTION_OPTIONS):
        func = option(func)
    return func


def _year(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A year of birth, never repeated back in the error (click's int type quotes the value,
    and stderr goes to cron mail and logs)."""
    if value is None or re.fullmatch(r"[0-9]{4}", value.strip()):
        return None if value is None else int(value)
    raise click.BadParameter("must be a year of four digits, like 2015")


@click.command("raise")
@click.option("--partnership", required=True, help="The child's home partnership (devon, …).")
@click.option("--raising-org", required=True, help="Your organisation, as in the directory.")
@click.option("--raiser-name", required=True, help="Your name.")
@click.option("--raiser-email", help="Your email address.")
@click.option(
    "--responding-org", required=True, help="The organisation whose decision you challenge."
)
@click.option("--responding-team", help="The team that made the decision.")
@click.option("--responder-name", help="The decision-maker, if known.")
@click.option("--responder-email", help="The decision-maker's email, if known.")
@click.option("--child-ref", required=True, help="The child's reference in the agencies' systems.")
@click.option("--child-initials", help="The child's initials (1–4 letters).")
@click.option(
    "--child-birth-year",
    callback=_year,
    metavar="YEAR",
    help="The child's year of birth, e.g. 2015.",
)
@click.option("--siblings-affected", type=click.IntRange(0, 30), default=0, show_default=True)
@click.option(
    "--category",
    required=True,
    type=CATEGORIES,
    help="What kind of disagreement.",
)
@click.option("--decision", required=True, help="The decision being challenged.")
@click.option("--decision-date", metavar="YYYY-MM-DD", help="When that decision was made.")
@click.option("--decision-ref", help="The decision's reference.")
@click.option("--need-raiser-view", type=int, help="Level of need in your view (Devon: 1–4).")
@click.option("--need-decision", type=int, help="Level of need in the decision (Devon: 1–4).")
@click.option("--concern", required=True, help="Summary of the concern (factual).")
@click.option("--evidence", help="The evidence for it.")
@click.option("--desired-outcome", required=True, help="What you want to happen.")
@click.option(
    "--voice-of-child",
    required=True,
    help="How the child's views and lived experience inform the challenge.",
)
@click.option(
    "--urgent",
    is_flag=True,
    help="Hour-based timescales (not for immediate risk: phone the front door or 999).",
)
@click.option(
    "--start-level",
    type=int,
    default=1,
    show_default=True,
    help="Start above level 1 (risk to the child); needs --start-reason.",
)
@click.option("--start-reason", help="Why the challenge starts above level 1.")
@_json_option
@pass_app
def raise_command(app: App, /, as_json: bool, **fields: Any) -> None:
    """Raise a challenge; prints its new reference.

    Immediate risk of significant harm is never a challenge: phone the front door (MASH) or 999.
    """
    from escalation.casework.intake import RaiseRequest

    reference = app.service.raise_challenge(RaiseRequest(**fields), app.now)
    if as_json:
        print_challenge(app, reference, True)
    else:
        click.echo(reference)


def _event_command(name: str, help_text: str) -> Callable[[Callable[..., None]], click.Command]:
    def decorate(func: Callable[..., None]) -> click.Command:
        wrapped: Callable[..., Any] = pass_app(func)
        wrapped = _json_option(wrapped)
        wrapped = click.argument("reference")(wrapped)
        return click.command(name, help=help_text)(wrapped)

    return decorate


@_event_command("acknowledge", "Acknowledge receipt of a challenge (the responder).")
@_by_option
def acknowledge(app: App, reference: str, who: str, as_json: bool) -> None:
    app.service.acknowledge(reference, who, app.now)
    print_challenge(app, reference, as_json)


@_event_command("respond", "Record the response at the current level (the responder).")
@_by_option
@click.option(
    "--kind",
    required=True,
    type=RESPONSE_KINDS,
    help="Decision changed, upheld (with rationale) or partly changed.",
)
@click.option("--summary", required=True, help="The response and its rationale.")
@click.option(
    "--action",
    "actions",
    multiple=True,
    metavar="'WHAT | OWNER | YYYY-MM-DD'",
    help="An action agreed; repeat for several.",
)
def respond(
    app: App,
    reference: str,
    who: str,
    kind: str,
    summary: str,
    actions: tuple[str, ...],
    as_json: bool,
) -> None:
    app.service.respond(reference, who, kind, summary, actions, app.now)
    print_challenge(app, reference, as_json)


@_event_command("accept", "Accept the response: the challenge is resolved (the raiser).")
@_by_option
@_resolution_options
def accept(app: App, reference: str, who: str, as_json: bool, **resolution: Any) -> None:
    from escalation.casework.intake import Resolution

    app.service.accept(reference, who, Resolution(**resolution), app.now)
    print_challenge(app, reference, as_json)


@_event_command("resolve", "Record the resolution, at any level (with the child-impact answer).")
@_by_option
@_resolution_options
def resolve(app: App, reference: str, who: str, as_json: bool, **resolution: Any) -> None:
    from escalation.casework.intake import Resolution

    app.service.resolve(reference, who, Resolution(**resolution), app.now)
    print_challenge(app, reference, as_json)


@_event_command("escalate", "Escalate to the next level, or to --to-level (reason required).")
@_by_option
@click.option("--reason", required=True, help="Why the challenge rises.")
@click.option("--to-level", type=int, help="Jump to this higher level (default: the next).")
def escalate(
    app: App, reference: str, who: str, reason: str, to_level: int | None, as_json: bool
) -> None:
    app.service.escalate(reference, who, reason, app.now, to_level)
    print_challenge(app, reference, as_json)


@_event_command("pause", "Pause the clock, as agreed by the other side (or the partnership).")
@click.option("--requested-by", required=True, help="Who asked for the pause.")
@click.option("--agreed-by", required=True, help="Who agreed to it (the other side).")
@click.option("--reason", required=True, help="e.g. awaiting a strategy discussion.")
def pause(
    app: App, reference: str, requested_by: str, agreed_by: str, reason: str, as_json: bool
) -> None:
    app.service.pause(reference, requested_by, agreed_by, reason, app.now)
    print_challenge(app, reference, as_json)


@_event_command("resume", "Resume a paused clock: the remaining business time runs on.")
@_by_option
@click.option("--note", help="What changed.")
def resume(app: App, reference: str, who: str, note: str | None, as_json: bool) -> None:
    app.service.resume(reference, who, app.now, note)
    print_challenge(app, reference, as_json)


@_event_command("extend", "Agree a later due date for the current level.")
@click.option("--requested-by", required=True, help="Who asked for more time.")
@click.option("--agreed-by", required=True, help="Who agreed to it (the other side).")
@click.option(
    "--until",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="The agreed due date (a working day; due at its close of business).",
)
@click.option("--reason", required=True, help="Why more time is needed.")
def extend(
    app: App,
    reference: str,
    requested_by: str,
    agreed_by: str,
    until: Any,
    reason: str,
    as_json: bool,
) -> None:
    until_date: date = until.date()
    app.service.extend(reference, requested_by, agreed_by, until_date, reason, app.now)
    print_challenge(app, reference, as_json)


@_event_command("withdraw", "Withdraw the challenge (the raiser), with a reason.")
@_by_option
@click.option("--reason", required=True)
def withdraw(app: App, reference: str, who: str, reason: str, as_json: bool) -> None:
    app.service.withdraw(reference, who, reason, app.now)
    print_challenge(app, reference, as_json)


@_event_command("outcome", "Answer the outcome check: has the child's situation improved?")
@_by_option
@click.option("--improved", type=click.Choice(["yes", "no"]), required=True)
@click.option("--note", help="What has or has not changed for the child.")
def outcome(
    app: App, reference: str, who: str, improved: str, note: str | None, as_json: bool
) -> None:
    app.service.answer_outcome(reference, who, improved == "yes", note, app.now)
    print_challenge(app, reference, as_json)


@_event_command("reopen", "Reopen at the level where it was resolved (after outcome 'no').")
@_by_option
@click.option("--reason", required=True)
def reopen(app: App, reference: str, who: str, reason: str, as_json: bool) -> None:
    app.service.reopen(reference, who, reason, app.now)
    print_challenge(app, reference, as_json)


@_event_command("close", "Close after the outcome check (e.g. the raiser does not reopen).")
@_by_option
@click.option("--reason", required=True)
def close(app: App, reference: str, who: str, reason: str, as_json: bool) -> None:
    app.service.close(reference, who, reason, app.now)
    print_challenge(app, reference, as_json)


@_event_command("show", "Show a challenge: state, level, due date, stages, allowed events.")
def show(app: App, reference: str, as_json: bool) -> None:
    print_challenge(app, reference, as_json, full=True)


@click.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only challenges with a level in play.")
@click.option("--overdue", is_flag=True, help="Only those past their response due date now.")
@click.option("--partnership", help="Only this partnership.")
@_json_option
@pass_app
def list_command(
    app: App, open_only: bool, overdue: bool, partnership: str | None, as_json: bool
) -> None:
    """List challenges, oldest first."""
    from escalation.casework import intake, store
    from escalation.casework.views import challenge_dict, current_due
    from escalation.rules.workdays import to_local_iso

    if partnership is not None:  # a misspelt one would list nothing, as if all were well
        partnership = intake.partnership("partnership", partnership, app.registry.partnerships())
    with app.sessions() as session:
        challenges = store.list_challenges(
            session, open_only, partnership, app.now if overdue else None
        )
        if as_json:
            emit_json([challenge_dict(c, app.service.protocol_of(c)) for c in challenges])
            return
        for c in challenges:
            due = current_due(c)
            click.echo(
                f"{c.reference:16} {c.partnership:9} {c.state:30} "
                f"{to_local_iso(due) if due else '—':25} {c.raising_org.name} → "
                f"{c.responding_org.name}"
            )


@click.command("chronology")
@click.argument("reference")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True
)
@pass_app
def chronology(app: App, reference: str, fmt: str) -> None:
    """The challenge's chronology: when, who, factual concern, action, impact."""
    from escalation.casework import store
    from escalation.casework.views import chronology_export

    with app.sessions() as session:
        challenge = store.load_challenge(session, reference, lock=False)
        click.echo(chronology_export(store.chronology(session, challenge.id), fmt))
