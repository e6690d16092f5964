"""`escalation demo`: a fictional Devon month, simulated, printed as a timeline.

It needs no configuration: it makes its own folder with a fresh SQLite database, imports a
sample directory of fictional organisations, raises a handful of fictional challenges and runs
the sweep twice every working day over simulated weeks — across Christmas 2026 — then prints
every chronology entry in order. Nothing in it is a real child or a real person.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import resources as importlib_resources
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from escalation import db, directory, resources, sweep
from escalation.intake import RaiseRequest, Resolution
from escalation.models import Challenge, ChronologyEntry
from escalation.protocol import load_registry
from escalation.service import Service
from escalation.workdays import LONDON

START = date(2026, 12, 7)  # a Monday
WEEKS = 10
CHRISTMAS_SHUTDOWN = (date(2026, 12, 24), date(2027, 1, 4))
SCHOOL, PRIMARY, ACADEMY = ("Tamar Bridge School (fictional)", "Ashcombe Primary School (fictional)",
                            "Exe Valley Academy (fictional)")
FRONT_DOOR = "Devon Children's Front Door (fictional)"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def request(raising_org: str, raiser: str, child: str, **extra: object) -> RaiseRequest:
    fields: dict[str, object] = {
        "partnership": "devon", "raising_org": raising_org, "raiser_name": raiser,
        "responding_org": FRONT_DOOR, "child_ref": child, "category": "threshold",
        "decision": "Referral assessed as below the threshold for a social work assessment",
        "concern": "Fictional: attendance falling and repeated disclosures at school",
        "desired_outcome": "A strategy discussion and a social work assessment",
        "voice_of_child": "Fictional: the child has told staff they do not want to go home",
        "need_raiser_view": 4, "need_decision": 2,
    }
    fields.update(extra)
    return RaiseRequest(**fields)  # type: ignore[arg-type]


@dataclass
class Script:
    service: Service
    refs: dict[str, str]

    def steps(self) -> list[tuple[datetime, Callable[[], None]]]:
        s = self.service
        improve = "Assessed within 10 working days; school and social care meet fortnightly"
        return [
            (at(date(2026, 12, 7), 10), lambda: self._raise("A", request(
                PRIMARY, "Sam Teacher", "DEMO-CHILD-A"))),
            (at(date(2026, 12, 8), 11), lambda: s.acknowledge(self.refs["A"], "Alex Social Worker",
                                                              at(date(2026, 12, 8), 11))),
            (at(date(2026, 12, 10), 15), lambda: s.respond(
                self.refs["A"], "Alex Social Worker", "upheld", "Threshold not met on information held",
                [], at(date(2026, 12, 10), 15))),
            (at(date(2026, 12, 11), 9, 30), lambda: s.escalate(
                self.refs["A"], "Dana Lead", "New disclosures this week", at(date(2026, 12, 11), 9, 30))),
            (at(date(2026, 12, 14), 14), lambda: s.respond(
                self.refs["A"], "Morgan Team Manager", "changed", "Assessment allocated",
                ["Strategy discussion | Morgan Team Manager | 2026-12-16"], at(date(2026, 12, 14), 14))),
            (at(date(2026, 12, 15), 10), lambda: s.accept(
                self.refs["A"], "Dana Lead", Resolution("decision_changed", "Assessment under way",
                                                        improve, True), at(date(2026, 12, 15), 10))),
            (at(date(2026, 12, 9), 13), lambda: self._raise("B", request(
                ACADEMY, "Pat Pastoral", "DEMO-CHILD-B", category="step_change",
                decision="Case stepped down to early help"))),
            (at(date(2026, 12, 22), 16), lambda: self._raise("C", request(
                SCHOOL, "Kit Carer", "DEMO-CHILD-C", urgent=True, start_level=2,
                start_reason="Child due to return home over Christmas; risk rising"))),
            (at(date(2026, 12, 23), 11), lambda: s.respond(
                self.refs["C"], "Morgan Team Manager", "partly_changed",
                "Safety plan agreed for the holiday", [], at(date(2026, 12, 23), 11))),
            (at(date(2026, 12, 23), 12), lambda: s.accept(
                self.refs["C"], "Kit Carer", Resolution("service_provided", "Holiday safety plan",
                                                        "A named worker visits twice a week", True),
                at(date(2026, 12, 23), 12))),
        ]

    def late_steps(self) -> list[tuple[datetime, Callable[[], None]]]:
        s, b = self.service, lambda: self.refs["B"]
        return [
            (at(date(2027, 1, 6), 10), lambda: s.respond(
                b(), "Jo Service Manager", "changed", "Case stepped back up to child in need", [],
                at(date(2027, 1, 6), 10))),
            (at(date(2027, 1, 7), 10), lambda: s.accept(
                b(), "Tess Trust", Resolution("stepped_up", "Child in need plan restored",
                                              "Weekly visits; attendance plan with school", True),
                at(date(2027, 1, 7), 10))),
            (at(date(2027, 1, 15), 10), lambda: s.answer_outcome(
                self.refs["A"], "Dana Lead", True, None, at(date(2027, 1, 15), 10))),
        ]

    def _raise(self, key: str, req: RaiseRequest) -> None:
        self.refs[key] = self.service.raise_challenge(req, self._when)

    _when: datetime = at(START, 9)


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
    echo(f"Imported a fictional directory: {imported.organisations_added} organisations, "
         f"{imported.contacts_added} contacts")
    service = Service(sessions, registry)
    script = Script(service, {})
    _simulate(service, script, echo)
    _print_timeline(sessions, echo)
    return database


def _fresh_database(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "escalation.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(folder / "outbox", ignore_errors=True)
    return database


def _simulate(service: Service, script: Script, echo: Callable[[str], None]) -> None:
    events = [(when, 1, step) for when, step in script.steps() + script.late_steps()]
    day = START
    while day < START + timedelta(weeks=WEEKS):
        if day.weekday() < 5 and not CHRISTMAS_SHUTDOWN[0] <= day <= CHRISTMAS_SHUTDOWN[1]:
            for hour, minute in ((9, 5), (17, 5)):
                when = at(day, hour, minute)
                events.append((when, 0, lambda d=when: _sweep(service, d)))
        day += timedelta(days=1)
    for when, _, step in sorted(events, key=lambda e: (e[0], e[1])):
        script._when = when
        step()
    echo(f"Simulated {WEEKS} weeks from {START:%a %d %b %Y}, sweeping at 09:05 and 17:05 every "
         f"weekday, except that the sweep was off from {CHRISTMAS_SHUTDOWN[0]:%d %b} to "
         f"{CHRISTMAS_SHUTDOWN[1]:%d %b %Y} and caught up when it came back.")


def _sweep(service: Service, now: datetime) -> None:
    sweep.run_once(service, now)


def _print_timeline(sessions: sessionmaker[Session], echo: Callable[[str], None]) -> None:
    with sessions() as session:
        rows = session.execute(
            select(ChronologyEntry, Challenge.reference)
            .join(Challenge, Challenge.id == ChronologyEntry.challenge_id)
            .order_by(ChronologyEntry.occurred_at, ChronologyEntry.id)).all()
        echo("")
        echo("Timeline (every chronology entry, Europe/London time):")
        for entry, reference in rows:
            when = entry.occurred_at.astimezone(LONDON)
            level = f"L{entry.level}" if entry.level else "  "
            echo(f"{when:%a %d %b %H:%M}  {reference}  {level}  {entry.event:22} "
                 f"{_first(entry.action)}")
        states = session.execute(select(Challenge.reference, Challenge.state)
                                 .order_by(Challenge.reference)).all()
        echo("")
        echo("Where each challenge ended: " + "; ".join(f"{r} {s}" for r, s in states))


def _first(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@click.command("demo")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=Path("escalation-demo"), show_default=True,
              help="Folder for the demo's own database (recreated on every run).")
def demo_command(folder: Path) -> None:
    """Simulate a fictional Devon winter: raise, remind, lapse, escalate, respond, resolve.

    Needs no configuration and touches nothing outside --dir.
    """
    run_demo(folder, click.echo)
