"""Random event sequences through the real `Service` on a real database, invariants after each step.

A hypothesis `RuleBasedStateMachine` raises challenges, fires every user event at them (allowed or
not, with valid or invalid input), moves simulated time forward and runs the sweep. Each example
starts from an empty database with the directory imported: SQLite from a copy of the migrated
template file, PostgreSQL from the session's schema with its tables truncated.

The test keeps its own model of every challenge (state, level, resolved level, stages), advanced by
firing the same event on the protocol's state machine and applying the effects it reports, and by
replaying the sweep's transitions from the chronology. After every step it checks:

1. one open level per open challenge, at the challenge's level; none when not at a level;
2. no pending deadline on a closed or withdrawn challenge;
3. every stage due instant and every pending response deadline is in business hours on a
   working day of the protocol's calendar;
4. the chronology only grows, seq 1..n with non-decreasing effective times;
5. the database, read in a fresh session, agrees with the model; one challenge per successful
   raise;
6. a challenge awaiting a response has exactly one pending response deadline, at its stage's
   due instant, and no other challenge has one.

A refused event (EventNotAllowed / InvalidInput) must leave its challenge exactly as it was; an
event that the machine allows with valid input must succeed, and one it does not allow must fail.
A successful event adds exactly one chronology line. A sweep never fails or defers a deadline,
leaves nothing due pending, and leaves no challenge awaiting a response that is already due. A
resumed clock gives back exactly the business time that was left when it was paused.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import selectinload

from escalation.casework import db, directory
from escalation.casework import sweep as sweeper
from escalation.casework.base import Base
from escalation.casework.intake import Resolution
from escalation.casework.models import Challenge, ChronologyEntry, Deadline, Stage
from escalation.casework.service import Service
from escalation.errors import EventNotAllowed, InvalidInput
from escalation.rules.machine import Subject, allowed_events, fire
from escalation.rules.model import Outcome, Protocol, ResponseKind
from escalation.rules.planner import DeadlineKind, DeadlineStatus
from escalation.rules.registry import ProtocolRegistry
from escalation.rules.states import (
    FINISHED,
    SWEEP_ONLY,
    SYSTEM,
    EffectKind,
    Event,
    Status,
    split_state,
)
from escalation.rules.workdays import LONDON, Calendar, utc
from tests.conftest import (
    BUSINESS_MANAGER,
    FIXTURES,
    SCHOOL_DSL,
    SOCIAL_WORKER,
    TEAM_MANAGER,
    london,
    raise_request,
)

# Where simulated time starts: an ordinary Tuesday first (what shrinking heads for), then the
# Christmas and New Year bank holidays, Easter 2027 with the change to BST inside it (Good Friday
# 26 March, clocks forward 28 March, Easter Monday 29 March) and the change back to GMT.
STARTS = [
    london("2026-12-01 09:30"),
    london("2026-12-23 16:30"),
    london("2027-03-24 15:45"),
    london("2027-10-28 12:00"),
]
SWEEP_EVENTS = {Event.LAPSE.value, Event.REQUEST_OUTCOME.value, Event.CLOSE.value}
REFUSALS = (EventNotAllowed, InvalidInput)

# About 12 s on SQLite and 9 s on PostgreSQL. ESCALATION_PROPERTY_SCALE=20 runs twenty times as
# many examples, for a nightly run or a bug hunt.
SCALE = int(os.environ.get("ESCALATION_PROPERTY_SCALE", "1"))
SQLITE_SETTINGS = settings(max_examples=40 * SCALE, stateful_step_count=30, deadline=None)
POSTGRES_SETTINGS = settings(max_examples=15 * SCALE, stateful_step_count=30, deadline=None)

# The last choice of each list is the invalid one, so that shrinking heads for valid input.
RESPONSE_KINDS = [*(kind.value for kind in ResponseKind), "shrug"]
OUTCOMES = [*(outcome.value for outcome in Outcome), "vanished"]
LIFE_IMPROVEMENTS = ["Seen weekly by a social worker; attendance plan agreed", "  "]
AGREERS = [SCHOOL_DSL, SCHOOL_DSL, SCHOOL_DSL, SOCIAL_WORKER]  # SOCIAL_WORKER asks: agreeing alone
START_REASONS = ["Child missing from home twice", None]
AIM = [True, True, True, False]  # how often an event's rule picks a challenge that allows it

# The inputs each user event draws, by event name: used by the event's own rule and by
# `allowed_events_follow`, which draws one of the events the challenge's state allows.
ARGUMENTS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "acknowledge": {},
    "respond": {"kind": st.sampled_from(RESPONSE_KINDS)},
    "accept": {"outcome": st.sampled_from(OUTCOMES), "life": st.sampled_from(LIFE_IMPROVEMENTS)},
    "escalate": {"to_level": st.one_of(st.none(), st.integers(1, 5))},
    "pause": {"agreed_by": st.sampled_from(AGREERS)},
    "resume": {},
    "extend": {"days": st.integers(-3, 30), "agreed_by": st.sampled_from(AGREERS)},
    "withdraw": {},
    "resolve": {"outcome": st.sampled_from(OUTCOMES), "life": st.sampled_from(LIFE_IMPROVEMENTS)},
    "outcome": {"improved": st.booleans()},
    "reopen": {},
    "close": {},
}


# -- the test's own model of a challenge ------------------------------------------------------


@dataclass
class ModelStage:
    seq: int
    level: int
    opened_at: datetime
    ended_at: datetime | None = None
    acknowledged: bool = False

    def key(self) -> tuple[int, int, datetime, datetime | None, bool]:
        return (self.seq, self.level, self.opened_at, self.ended_at, self.acknowledged)


@dataclass
class Model:
    state: str = Status.NEW.value
    level: int | None = None
    resolved_level: int | None = None
    stages: list[ModelStage] = field(default_factory=list)


ChronologyKey = tuple[int, datetime, str, str]


class StageRow(NamedTuple):
    seq: int
    level: int
    opened_at: datetime
    due_at: datetime | None
    acknowledged_at: datetime | None
    paused_at: datetime | None
    paused_remaining_seconds: int | None
    responded_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class Snapshot:
    """Everything of one challenge that a refused event must leave as it was."""

    state: str
    level: int | None
    row_version: int
    stages: tuple[StageRow, ...]
    chronology: tuple[ChronologyKey, ...]
    deadlines: tuple[tuple[Any, ...], ...]


def stage_key(stage: Stage) -> tuple[int, int, datetime, datetime | None, bool]:
    return (
        stage.seq,
        stage.level,
        stage.opened_at,
        stage.ended_at,
        stage.acknowledged_at is not None,
    )


def chronology_key(entry: ChronologyEntry) -> ChronologyKey:
    return (entry.seq, entry.occurred_at, entry.event, entry.action)


def resolution_valid(resolution: Resolution) -> bool:
    return resolution.outcome in OUTCOMES[:-1] and bool(resolution.life_improvement.strip())


# -- databases: a fresh one per example -------------------------------------------------------


class SqliteDatabases:
    """A copy of the migrated template file per example, deleted afterwards."""

    def __init__(self, template: Path, directory_: Path) -> None:
        self.template = template
        self.directory = directory_
        self.numbers = itertools.count(1)
        self.paths: dict[int, Path] = {}

    def open(self) -> Engine:
        path = self.directory / f"example-{next(self.numbers)}.db"
        shutil.copyfile(self.template, path)
        engine = db.make_engine(f"sqlite:///{path}")
        self.paths[id(engine)] = path
        return engine

    def close(self, engine: Engine) -> None:
        engine.dispose()
        path = self.paths.pop(id(engine))
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


class PostgresDatabases:
    """The session's schema, every table truncated at the start of each example."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def open(self) -> Engine:
        names = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with self.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return self.engine

    def close(self, engine: Engine) -> None:
        """The engine is the session's; nothing to release per example."""


# -- the state machine ------------------------------------------------------------------------


def _event_rule(event: Event) -> Callable[..., None]:
    """The rule for one user event: pick a challenge, draw the inputs, call the service."""

    def event_rule(self: ChallengeLifecycles, data: st.DataObject, **arguments: Any) -> None:
        getattr(self, f"do_{event.value}")(self.pick(data, event), **arguments)

    # Named before `rule` sees it: hypothesis reports steps, and switches rules on and off, by name.
    event_rule.__name__ = event_rule.__qualname__ = event.value
    return rule(data=st.data(), **ARGUMENTS[event.value])(event_rule)


class ChallengeLifecycles(RuleBasedStateMachine):
    registry: ProtocolRegistry
    databases: SqliteDatabases | PostgresDatabases
    protocol: Protocol
    calendar: Calendar

    def __init__(self) -> None:
        super().__init__()
        self.engine = self.databases.open()
        sessions = db.session_factory(self.engine)
        directory.import_csv(sessions, FIXTURES / "directory.csv", self.registry.partnerships())
        self.service = Service(sessions, self.registry)
        self.now = STARTS[0]
        self.models: dict[str, Model] = {}
        self.seen: dict[str, list[ChronologyKey]] = {}
        self.raised = 0

    def teardown(self) -> None:
        self.databases.close(self.engine)

    # -- reading the database in a fresh session ---------------------------------------------

    def snapshot(self, reference: str) -> Snapshot:
        with self.service.sessions() as session:
            challenge = session.scalars(
                select(Challenge)
                .where(Challenge.reference == reference)
                .options(selectinload(Challenge.stages), selectinload(Challenge.chronology))
            ).one()
            deadlines = session.scalars(
                select(Deadline).where(Deadline.challenge_id == challenge.id).order_by(Deadline.id)
            ).all()
            return Snapshot(
                challenge.state,
                challenge.level,
                challenge.row_version,
                tuple(
                    StageRow(
                        s.seq,
                        s.level,
                        s.opened_at,
                        s.due_at,
                        s.acknowledged_at,
                        s.paused_at,
                        s.paused_remaining_seconds,
                        s.responded_at,
                        s.ended_at,
                    )
                    for s in challenge.stages
                ),
                tuple(chronology_key(e) for e in challenge.chronology),
                tuple((d.id, d.kind, d.due_at, d.status) for d in deadlines),
            )

    def current_due(self, reference: str) -> datetime | None:
        with self.service.sessions() as session:
            stage = session.scalars(
                select(Stage)
                .join(Challenge)
                .where(Challenge.reference == reference)
                .order_by(Stage.seq.desc())
                .limit(1)
            ).one_or_none()
            return None if stage is None else stage.due_at

    def count_challenges(self) -> int:
        with self.service.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Challenge)) or 0)

    # -- advancing the model -----------------------------------------------------------------

    def advance_model(self, model: Model, event: Event, args: dict[str, Any], at: datetime) -> None:
        """Fire `event` on the protocol's machine from the model's state and apply its effects."""
        # Instants are kept in UTC: Python never finds an ambiguous local time (the repeated hour
        # when BST ends) equal to an instant in another zone, not even to the same instant.
        at = utc(at)
        subject = Subject(state=model.state, resolved_level=model.resolved_level)
        assert fire(self.protocol, subject, event, **args), (
            f"the machine refuses {event.value} from {model.state} with {args}"
        )
        for effect in subject.effects:
            if effect.kind is EffectKind.OPEN_STAGE:
                assert effect.level is not None
                model.stages.append(ModelStage(len(model.stages) + 1, effect.level, at))
                model.level = effect.level
            elif effect.kind is EffectKind.CLOSE_STAGE:
                model.stages[-1].ended_at = at
            elif effect.kind is EffectKind.RECORD_ACK:
                model.stages[-1].acknowledged = True
            elif effect.kind is EffectKind.RECORD_RESOLUTION:
                model.resolved_level = model.level
            elif effect.kind is EffectKind.REOPEN_CASE:
                model.resolved_level = None
        model.state = subject.state
        level, _ = split_state(subject.state)
        if level is not None:
            model.level = level

    def attempt(
        self,
        reference: str,
        event: Event,
        call: Callable[[], None],
        args: dict[str, Any],
        valid: bool,
    ) -> None:
        """Call the service; a refusal changes nothing, and the machine decides which it is."""
        model = self.models[reference]
        allowed = event.value in allowed_events(self.protocol, model.state)
        before = self.snapshot(reference)
        try:
            call()
        except REFUSALS as exc:
            assert not (allowed and valid), (
                f"{event.value} on {reference} in {model.state} with valid input was refused: {exc}"
            )
            after = self.snapshot(reference)
            assert after == before, f"refused {event.value} on {reference} changed it: {exc}"
            return
        assert allowed, f"{event.value} succeeded on {reference} in {model.state}"
        assert valid, f"{event.value} on {reference} in {model.state} accepted invalid {args}"
        # Every event that happens is one more line of the chronology, at the event's time.
        added = self.snapshot(reference).chronology[len(before.chronology) :]
        assert [(seq, at, name) for seq, at, name, _ in added] == [
            (len(before.chronology) + 1, utc(self.now), event.value)
        ]
        self.advance_model(model, event, args, self.now)

    # -- time and the sweep ------------------------------------------------------------------

    # Time only moves forward. The sweep runs on its own rule (so time can pass unswept, like a
    # missed night or week), or straight after time passes, as the scheduler runs it.

    @rule(
        minutes=st.one_of(st.integers(1, 180), st.integers(1, 10 * 24 * 60)),
        then_sweep=st.booleans(),
    )
    def time_passes(self, minutes: int, then_sweep: bool) -> None:
        # In UTC: adding to a Europe/London datetime is wall-clock arithmetic, which goes back an
        # hour across the end of BST.
        self.now = (utc(self.now) + timedelta(minutes=minutes)).astimezone(LONDON)
        if then_sweep:
            self.sweep(200)

    @rule(
        kind=st.sampled_from([None, *(kind.value for kind in DeadlineKind)]),
        extra_minutes=st.integers(0, 90),
        then_sweep=st.booleans(),
    )
    def time_reaches_the_next_deadline(
        self, kind: str | None, extra_minutes: int, then_sweep: bool
    ) -> None:
        """Jump to the next pending deadline (of one kind, or any), where the sweep has work."""
        query = select(func.min(Deadline.due_at)).where(
            Deadline.status == DeadlineStatus.PENDING.value, Deadline.due_at > self.now
        )
        if kind is not None:
            query = query.where(Deadline.kind == kind)
        with self.service.sessions() as session:
            due = session.scalar(query)
        if due is not None:
            self.now = (due + timedelta(minutes=extra_minutes)).astimezone(LONDON)
        if then_sweep:
            self.sweep(200)

    @rule(batch_size=st.sampled_from([200, 1]))
    def sweep(self, batch_size: int) -> None:
        """Run the sweep as of now (in batches of one, too), and replay its transitions."""
        known = {ref: len(self.snapshot(ref).chronology) for ref in self.models}
        result = sweeper.run_once(self.service, self.now, batch_size=batch_size)
        assert result.failed == 0, result.summary()
        assert result.deferred == 0, result.summary()
        with self.service.sessions() as session:
            left = session.scalars(
                select(Deadline).where(
                    Deadline.status == DeadlineStatus.PENDING.value, Deadline.due_at <= self.now
                )
            ).all()
            assert not left, f"pending after a sweep at {self.now}: {[d.kind for d in left]}"
            for reference, model in self.models.items():
                challenge = session.scalars(
                    select(Challenge).where(Challenge.reference == reference)
                ).one()
                new = session.scalars(
                    select(ChronologyEntry)
                    .where(
                        ChronologyEntry.challenge_id == challenge.id,
                        ChronologyEntry.seq > known[reference],
                    )
                    .order_by(ChronologyEntry.seq)
                ).all()
                for entry in new:
                    assert entry.who == SYSTEM and entry.occurred_at == utc(self.now)
                    if entry.event in SWEEP_EVENTS:
                        self.advance_model(model, Event(entry.event), {}, entry.occurred_at)
                stage = challenge.current_stage
                if challenge.state.endswith(Status.AWAITING_RESPONSE.value):
                    assert stage is not None and stage.due_at is not None
                    assert stage.due_at > self.now, (
                        f"{reference} still awaits a response due {stage.due_at} after the sweep"
                    )

    # -- raising -----------------------------------------------------------------------------

    @initialize(
        start=st.sampled_from(STARTS),
        first=st.lists(st.tuples(st.booleans(), st.integers(1, 4)), min_size=1, max_size=3),
    )
    def some_challenges_are_raised(self, start: datetime, first: list[tuple[bool, int]]) -> None:
        """Every example starts with a challenge or more, so the events have something to act on."""
        self.now = start
        for urgent, level in first:
            self.raise_challenge(urgent, level, START_REASONS[0])
        assert len(self.models) == len(first)

    @rule(
        urgent=st.booleans(), start_level=st.integers(1, 4), reason=st.sampled_from(START_REASONS)
    )
    def raise_challenge(self, urgent: bool, start_level: int, reason: str | None) -> None:
        valid = start_level == 1 or reason is not None
        before = self.count_challenges()
        try:
            reference = self.service.raise_challenge(
                raise_request(urgent=urgent, start_level=start_level, start_reason=reason), self.now
            )
        except REFUSALS as exc:
            assert not valid, f"a valid raise was refused: {exc}"
            assert self.count_challenges() == before
            return
        assert valid, f"a raise at level {start_level} without a reason succeeded"
        assert reference not in self.models
        self.raised += 1
        model = self.models[reference] = Model()
        self.advance_model(model, Event.RAISE, {"target_level": start_level}, self.now)

    # -- the user events ---------------------------------------------------------------------
    # One rule per event (made by `_event_rule`) picks a challenge, three times in four one whose
    # state allows the event if there is one, and calls the event's `do_` method; so does
    # `allowed_events_follow`, with one of the events allowed in the challenge's state.

    acknowledge = _event_rule(Event.ACKNOWLEDGE)
    respond = _event_rule(Event.RESPOND)
    accept = _event_rule(Event.ACCEPT)
    escalate = _event_rule(Event.ESCALATE)
    pause = _event_rule(Event.PAUSE)
    resume = _event_rule(Event.RESUME)
    extend = _event_rule(Event.EXTEND)
    withdraw = _event_rule(Event.WITHDRAW)
    resolve = _event_rule(Event.RESOLVE)
    outcome = _event_rule(Event.OUTCOME)
    reopen = _event_rule(Event.REOPEN)
    close = _event_rule(Event.CLOSE)

    def pick(self, data: st.DataObject, event: Event) -> str:
        references = list(self.models)
        if data.draw(st.sampled_from(AIM), label="aim at a challenge that allows it"):
            references = [
                ref
                for ref in references
                if event.value in allowed_events(self.protocol, self.models[ref].state)
            ] or references
        return data.draw(st.sampled_from(references), label="challenge")

    @rule(data=st.data())
    def allowed_events_follow(self, data: st.DataObject) -> None:
        """One to four events in a row on one challenge, each allowed in the state it is in.

        Most random events are refused; this keeps challenges moving through their levels and
        reaches what needs two steps (pause then resume, outcome "no" then reopen).
        """
        reference = data.draw(st.sampled_from(list(self.models)), label="challenge")
        for _ in range(data.draw(st.integers(1, 4), label="events")):
            allowed = allowed_events(self.protocol, self.models[reference].state)
            if not allowed:
                return
            name = data.draw(st.sampled_from(allowed), label="event")
            arguments = {
                key: data.draw(strategy, label=key) for key, strategy in ARGUMENTS[name].items()
            }
            getattr(self, f"do_{name}")(reference, **arguments)

    def do_acknowledge(self, reference: str) -> None:
        stages = self.models[reference].stages
        valid = bool(stages) and not stages[-1].acknowledged
        self.attempt(
            reference,
            Event.ACKNOWLEDGE,
            lambda: self.service.acknowledge(reference, SOCIAL_WORKER, self.now),
            {},
            valid,
        )

    def do_respond(self, reference: str, kind: str) -> None:
        self.attempt(
            reference,
            Event.RESPOND,
            lambda: self.service.respond(
                reference,
                TEAM_MANAGER,
                kind,
                "Threshold reconsidered",
                ["Strategy discussion | Morgan | 2026-12-11"],
                self.now,
            ),
            {},
            kind in RESPONSE_KINDS[:-1],
        )

    def do_accept(self, reference: str, outcome: str, life: str) -> None:
        resolution = Resolution(outcome, "Assessment allocated", life, True)
        self.attempt(
            reference,
            Event.ACCEPT,
            lambda: self.service.accept(reference, SCHOOL_DSL, resolution, self.now),
            {},
            resolution_valid(resolution),
        )

    def do_escalate(self, reference: str, to_level: int | None) -> None:
        model = self.models[reference]
        current = model.level or model.resolved_level or 0
        target = current + 1 if to_level is None else to_level
        self.attempt(
            reference,
            Event.ESCALATE,
            lambda: self.service.escalate(
                reference, SCHOOL_DSL, "Risk increasing", self.now, to_level=to_level
            ),
            {"target_level": target},
            current < target <= self.protocol.top_level,
        )

    def do_pause(self, reference: str, agreed_by: str) -> None:
        self.attempt(
            reference,
            Event.PAUSE,
            lambda: self.service.pause(
                reference, SOCIAL_WORKER, agreed_by, "Awaiting strategy discussion", self.now
            ),
            {},
            agreed_by != SOCIAL_WORKER,
        )

    def do_resume(self, reference: str) -> None:
        before = self.snapshot(reference)
        self.attempt(
            reference,
            Event.RESUME,
            lambda: self.service.resume(reference, SOCIAL_WORKER, self.now),
            {},
            True,
        )
        after = self.snapshot(reference)
        if after.state != before.state:
            # The business time that was left when the clock stopped is given back in full
            # (PROTOCOL.md §3): the pause takes nothing from the responder, and adds nothing.
            paused, resumed = before.stages[-1], after.stages[-1]
            assert paused.paused_at is not None and paused.due_at is not None
            assert resumed.due_at is not None and resumed.paused_at is None
            owed = self.calendar.business_time_between(paused.paused_at, paused.due_at)
            given = self.calendar.business_time_between(self.now, resumed.due_at)
            assert given == owed, f"{reference}: paused with {owed} left, resumed with {given}"

    def do_extend(self, reference: str, days: int, agreed_by: str) -> None:
        until: date = self.calendar.local_date(self.now) + timedelta(days=days)
        state = self.models[reference].state
        valid = agreed_by != SOCIAL_WORKER and self.calendar.is_working_day(until)
        if valid:
            closing = self.calendar.closing(until)
            current = self.current_due(reference)
            valid = closing > self.now and not (
                state.endswith(Status.AWAITING_RESPONSE.value)
                and current is not None
                and closing <= current
            )
        self.attempt(
            reference,
            Event.EXTEND,
            lambda: self.service.extend(
                reference, SOCIAL_WORKER, agreed_by, until, "Waiting for health records", self.now
            ),
            {},
            valid,
        )

    def do_withdraw(self, reference: str) -> None:
        self.attempt(
            reference,
            Event.WITHDRAW,
            lambda: self.service.withdraw(reference, SCHOOL_DSL, "Family moved away", self.now),
            {},
            True,
        )

    def do_resolve(self, reference: str, outcome: str, life: str) -> None:
        resolution = Resolution(outcome, "Agreed at panel", life, False)
        self.attempt(
            reference,
            Event.RESOLVE,
            lambda: self.service.resolve(reference, BUSINESS_MANAGER, resolution, self.now),
            {},
            resolution_valid(resolution),
        )

    def do_outcome(self, reference: str, improved: bool) -> None:
        self.attempt(
            reference,
            Event.OUTCOME,
            lambda: self.service.answer_outcome(reference, SCHOOL_DSL, improved, None, self.now),
            {"improved": improved},
            True,
        )

    def do_reopen(self, reference: str) -> None:
        self.attempt(
            reference,
            Event.REOPEN,
            lambda: self.service.reopen(reference, SCHOOL_DSL, "Still missing school", self.now),
            {},
            True,
        )

    def do_close(self, reference: str) -> None:
        self.attempt(
            reference,
            Event.CLOSE,
            lambda: self.service.close(reference, SCHOOL_DSL, "Nothing more to do", self.now),
            {"closed_reason": "closed"},
            True,
        )

    # -- the invariants ----------------------------------------------------------------------

    @invariant()
    def the_database_keeps_every_invariant(self) -> None:
        with self.service.sessions() as session:
            challenges = session.scalars(
                select(Challenge)
                .options(selectinload(Challenge.stages), selectinload(Challenge.chronology))
                .order_by(Challenge.id)
            ).all()
            pending = session.scalars(
                select(Deadline).where(Deadline.status == DeadlineStatus.PENDING.value)
            ).all()
        assert len(challenges) == self.raised
        assert {c.reference for c in challenges} == set(self.models)
        for challenge in challenges:
            self.check(challenge, [d for d in pending if d.challenge_id == challenge.id])

    def check(self, challenge: Challenge, pending: list[Deadline]) -> None:
        ref, state = challenge.reference, challenge.state
        # (1) one open level per open challenge, at the challenge's level, and it is the last.
        open_stages = [s for s in challenge.stages if s.ended_at is None]
        if state.startswith("level_"):
            assert len(open_stages) == 1, f"{ref} in {state} has {len(open_stages)} open stages"
            assert open_stages[0].level == challenge.level == split_state(state)[0]
            assert open_stages[0] is challenge.stages[-1]
        else:
            assert not open_stages, f"{ref} in {state} still has an open stage"
        # (2) nothing pending on a finished challenge.
        if split_state(state)[1] in FINISHED:
            assert not pending, f"{ref} is {state} with pending {[d.kind for d in pending]}"
        # (3) due instants in business hours on working days.
        for stage in challenge.stages:
            assert stage.due_at is not None
            assert self.calendar.in_business_hours(stage.due_at), (
                f"{ref} level {stage.level} due {stage.due_at} outside business hours"
            )
        response_due = [d for d in pending if d.kind == DeadlineKind.RESPONSE_DUE.value]
        for deadline in response_due:
            assert self.calendar.in_business_hours(deadline.due_at), (
                f"{ref} response deadline {deadline.due_at} outside business hours"
            )
        # ... and the clock that runs is the stage's: one response deadline, at its due instant,
        # while (and only while) a response is awaited.
        if state.endswith(Status.AWAITING_RESPONSE.value):
            assert [d.due_at for d in response_due] == [challenge.stages[-1].due_at], (
                f"{ref} in {state}: response deadlines {[d.due_at for d in response_due]}"
            )
        else:
            assert not response_due, f"{ref} in {state} has a pending response deadline"
        # (4) the chronology only grows, and stays in order.
        entries = [chronology_key(e) for e in challenge.chronology]
        previous = self.seen.get(ref, [])
        assert entries[: len(previous)] == previous, f"{ref}'s chronology was rewritten"
        assert [seq for seq, *_ in entries] == list(range(1, len(entries) + 1))
        times = [occurred_at for _, occurred_at, *_ in entries]
        assert times == sorted(times), f"{ref}'s chronology is out of order"
        self.seen[ref] = entries
        # (5) the database agrees with the model.
        model = self.models[ref]
        assert (state, challenge.level, challenge.resolved_level) == (
            model.state,
            model.level,
            model.resolved_level,
        )
        assert [stage_key(s) for s in challenge.stages] == [s.key() for s in model.stages]


def machine_for(
    registry: ProtocolRegistry, databases: SqliteDatabases | PostgresDatabases
) -> type[ChallengeLifecycles]:
    protocol = registry.for_partnership("devon")

    class Lifecycles(ChallengeLifecycles):
        pass

    Lifecycles.registry = registry
    Lifecycles.databases = databases
    Lifecycles.protocol = protocol
    Lifecycles.calendar = protocol.calendar()
    return Lifecycles


def test_it_has_a_rule_for_every_user_event() -> None:
    user_events = {e.value for e in Event if e not in SWEEP_ONLY} - {Event.RAISE.value}
    assert user_events <= set(ARGUMENTS)
    assert all(hasattr(ChallengeLifecycles, f"do_{name}") for name in user_events)
    assert all(callable(getattr(ChallengeLifecycles, name)) for name in user_events)


def test_it_keeps_every_invariant_under_random_events_on_sqlite(
    sqlite_template: Path, registry: ProtocolRegistry, tmp_path: Path
) -> None:
    run_state_machine_as_test(
        machine_for(registry, SqliteDatabases(sqlite_template, tmp_path)), settings=SQLITE_SETTINGS
    )


@pytest.mark.postgres
def test_it_keeps_every_invariant_under_random_events_on_postgresql(
    postgres_schema: tuple[Engine, str], registry: ProtocolRegistry
) -> None:
    engine, _ = postgres_schema
    run_state_machine_as_test(
        machine_for(registry, PostgresDatabases(engine)), settings=POSTGRES_SETTINGS
    )
