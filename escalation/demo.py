"""`escalation demo`: a fictional Devon month, simulated, printed as a timeline.

It needs no configuration: it makes its own folder with a fresh SQLite database, imports a
sample directory of fictional organisations, raises a handful of fictional challenges and runs
the sweep twice every working day over simulated weeks — across Christmas 2026 — then prints
every chronology entry in order. Nothing in it is a real child or a real person.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import partial
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import click
import yaml
from sqlalchemy.orm import Session, sessionmaker

from escalation import resources
from escalation.casework import db, directory, store, sweep
from escalation.casework.intake import RaiseRequest, Resolution
from escalation.casework.service import Service
from escalation.config import DEFAULT_MAIL_FROM
from escalation.mail.dispatch import dispatch_once
from escalation.mail.emails import EmailRenderer
from escalation.mail.mailer import FileMailer
from escalation.mail.outbox import OutboxNotifier
from escalation.rules.registry import load_registry
from escalation.rules.workdays import LONDON

DEMO_BASE_URL = "http://localhost:8000"
START = date(2026, 12, 7)  # a Monday
WEEKS = 11
CHRISTMAS_SHUTDOWN = (date(2026, 12, 24), date(2027, 1, 4))
SCHOOL, PRIMARY, ACADEMY = (
    "Tamar Bridge School (fictional)",
    "Ashcombe Primary School (fictional)",
    "Exe Valley Academy (fictional)",
)
FRONT_DOOR = "Devon Children's Front Door (fictional)"
GATEWAY = "Plymouth Children's Gateway (fictional)"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def request(**extra: Any) -> RaiseRequest:
    fields: dict[str, Any] = {
        "partnership": "devon",
        "responding_org": FRONT_DOOR,
        "category": "threshold",
        "decision": "Referral assessed as below the threshold for a social work assessment",
        "concern": "Fictional: attendance falling and repeated disclosures at school",
        "desired_outcome": "A strategy discussion and a social work assessment",
        "voice_of_child": "Fictional: the child has told staff they do not want to go home",
        "need_raiser_view": 4,
        "need_decision": 2,
    }
    fields.update(extra)
    return RaiseRequest(**fields)


RESOLUTION_FIELDS = ("outcome", "statement", "life_improvement")


def load_script() -> list[dict[str, Any]]:
    text = (importlib_resources.files("escalation") / "demo_script.yaml").read_text("utf-8")
    steps: list[dict[str, Any]] = yaml.safe_load(text)
    return steps


def _step(service: Service, refs: dict[str, str], when: datetime, step: dict[str, Any]) -> None:
    args = {k: v for k, v in step.items() if k not in ("at", "key", "do")}
    key, use_case = step["key"], step["do"]
    if use_case == "raise":
        refs[key] = service.raise_challenge(request(child_ref=f"DEMO-CHILD-{key}", **args), when)
        return
    if use_case in ("accept", "resolve"):
        fields = {name: args.pop(name) for name in RESOLUTION_FIELDS}
        args["resolution"] = Resolution(**fields, recorded_on_both_files=True)
    if "until" in args:
        args["until"] = date.fromisoformat(args["until"])
    if use_case == "respond":
        args.setdefault("actions", [])
    if use_case == "answer_outcome":
        args.setdefault("note", None)
    getattr(service, use_case)(refs[key], now=when, **args)


def run_demo(folder: Path, echo: Callable[[str], None]) -> Path:
    database = _fresh_database(folder)
    engine = db.make_engine(f"sqlite:///{database}")
    db.upgrade(engine)
    sessions = db.session_factory(engine)
    registry = load_registry(resources.workflows_dir())
    sample = importlib_resources.files("escalation") / "sample_directory.csv"
    with importlib_resources.as_file(sample) as path:
        imported = directory.import_csv(sessions, path, registry.partnerships())
    echo(f"Demo database: {database}")
    echo(
        f"Imported a fictional directory: {imported.organisations_added} organisations, "
        f"{imported.contacts_added} contacts"
    )
    renderer = EmailRenderer(resources.templates_dir())
    service = Service(sessions, registry, OutboxNotifier(registry, renderer, DEMO_BASE_URL))
    mailer = FileMailer(folder.resolve() / "outbox", DEFAULT_MAIL_FROM)
    _simulate(service, mailer, echo)
    _print_timeline(sessions, echo)
    written = sorted(mailer.folder.glob("*.eml"))
    echo(
        f"Emails written: {len(written)} .eml files in {mailer.folder} (no SMTP server is "
        "configured, so the embedded default writes them there)"
    )
    echo("")
    echo("Explore it, e.g.:")
    echo(f"  ESCALATION_DATABASE_URL=sqlite:///{database} escalation show DSCP-2026-00002")
    echo(f"  ESCALATION_DATABASE_URL=sqlite:///{database} escalation chronology DSCP-2026-00002")
    echo("In a browser (after `npm ci`): serve it, ask for a sign-in link for")
    echo("dsl@ashcombe.example.org at http://localhost:8000/sign-in, then `dispatch` writes the")
    echo(f"email with the link to {mailer.folder}:")
    echo(f"  export ESCALATION_DATABASE_URL=sqlite:///{database}")
    echo(f"  export ESCALATION_OUTBOX_DIR={mailer.folder}")
    echo("  escalation serve &")
    echo("  escalation dispatch      # after asking for the link")
    return database


def _fresh_database(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    database = (folder / "escalation.db").resolve()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(folder / "outbox", ignore_errors=True)
    return database


def _simulate(service: Service, mailer: FileMailer, echo: Callable[[str], None]) -> None:
    """Run the scripted steps and the sweeps in time order (a sweep first at equal times)."""
    refs: dict[str, str] = {}
    events: list[tuple[datetime, int, Callable[[], None]]] = []
    for step in load_script():
        when = datetime.fromisoformat(step["at"]).replace(tzinfo=LONDON)
        events.append((when, 1, partial(_step, service, refs, when, step)))
    day = START
    while day < START + timedelta(weeks=WEEKS):
        if day.weekday() < 5 and not CHRISTMAS_SHUTDOWN[0] <= day <= CHRISTMAS_SHUTDOWN[1]:
            for hour, minute in ((9, 5), (17, 5)):
                when = at(day, hour, minute)
                events.append((when, 0, partial(_sweep, service, mailer, when)))
        day += timedelta(days=1)
    for _, _, action in sorted(events, key=lambda event: (event[0], event[1])):
        action()
    echo(
        f"Simulated {WEEKS} weeks from {START:%a %d %b %Y}, sweeping at 09:05 and 17:05 every "
        f"weekday, except that the sweep was off from {CHRISTMAS_SHUTDOWN[0]:%d %b} to "
        f"{CHRISTMAS_SHUTDOWN[1]:%d %b %Y} and caught up when it came back."
    )


def _sweep(service: Service, mailer: FileMailer, now: datetime) -> None:
    sweep.run_once(service, now)
    dispatch_once(service, mailer, now)


def _print_timeline(sessions: sessionmaker[Session], echo: Callable[[str], None]) -> None:
    with sessions() as session:
        rows = store.every_entry(session)
        echo("")
        echo("Timeline (every chronology entry, Europe/London time):")
        for entry, reference in rows:
            when = entry.occurred_at.astimezone(LONDON)
            level = f"L{entry.level}" if entry.level else "  "
            echo(
                f"{when:%a %d %b %H:%M}  {reference}  {level}  {entry.event:22} "
                f"{_first(entry.action)}"
            )
        states = store.challenge_states(session)
        echo("")
        echo("Where each challenge ended: " + "; ".join(f"{r} {s}" for r, s in states))


def _first(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@click.command("demo")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("escalation-demo"),
    show_default=True,
    help="Folder for the demo's own database (recreated on every run).",
)
def demo_command(folder: Path) -> None:
    """Simulate a fictional Devon winter: raise, remind, lapse, escalate, respond, resolve.

    Needs no configuration and touches nothing outside --dir.
    """
    run_demo(folder, click.echo)
