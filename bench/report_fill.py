"""Fill a database with two financial years of challenges for the report benchmark, fast.

Three partnerships (devon 60 %, plymouth 25 %, torbay 15 % of the challenges), each with the
bench directory (`bench.report_directory`: hundreds of raising organisations of every type,
several responding social care teams), as of `AS_OF`, Monday 12 April 2027 at noon.

For each partnership, one prototype per scenario (`bench.report_scenarios`) is run through the
real `Service` at dates worked out back from `AS_OF`; every deadline of its own is applied by
`sweep.apply_deadline` at its own moment, as a worker running on time would (reminders, lapses to
the next level, outcome checks, their reminders and closings as "outcome not confirmed"), up to
`AS_OF`. Its final state is checked. Each prototype is then copied with `bench.fill.clone`
(set-based SQL), and its copies spread over organisations, categories, levels of need, outcomes,
children and both years (`bench.report_vary`): copies of a prototype that ends with no clock
running (closed, withdrawn, overdue at level 4 with its reminders sent, …) move back by up to
two years, those with a clock running only as far as keeps every pending deadline after `AS_OF`.

The approximation, and why it is close: moving a copy by whole weeks keeps each instant's
weekday and UTC time of day (less the same 0–59 minutes for all of a copy's instants), so its
working days are the prototype's except where a bank holiday or a clock change falls
differently: a copy may have an event on a bank holiday, a working-day timescale a day shorter
or longer than the calendar would give, or a local time an hour off across a GMT/BST change.
The chronology's words still name the prototype's organisations and outcome, its `recorded_at`
stays the real clock, and references keep the prototype's year. None of that is what the report
counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine

from bench import fill
from bench.report_directory import Organisations, import_directory
from bench.report_scenarios import SCENARIOS, Scenario, Step
from bench.report_vary import CHILD_POOL, Plan, make_vary, max_weeks
from escalation.casework import db, store, sweep
from escalation.casework.intake import RaiseRequest, Resolution
from escalation.casework.service import Service
from escalation.mail.emails import EmailRenderer
from escalation.mail.outbox import OutboxNotifier
from escalation.rules.model import Protocol
from escalation.rules.planner import DeadlineStatus
from escalation.rules.registry import ProtocolRegistry
from escalation.rules.workdays import LONDON, utc

AS_OF = datetime(2027, 4, 12, 12, 0, tzinfo=LONDON)  # a Monday, after the 2026-27 year ended
WINDOW_START = date(2025, 4, 1)  # copies are raised from the start of 2025-26 on
PARTNERSHIPS = {"devon": 0.60, "plymouth": 0.25, "torbay": 0.15}
RAISER, RESPONDER, MANAGER = "Bench Raiser", "Bench Social Worker", "Bench Team Manager"
BUSINESS_MANAGER = "Bench Business Manager"


# -- the prototypes, through the real service --------------------------------------------------


@dataclass(frozen=True)
class Prototype:
    scenario: Scenario
    partnership: str
    challenge_id: int
    raised: datetime
    first_pending: datetime | None  # the earliest deadline still pending after the sweep


def build_prototype(
    service: Service, protocol: Protocol, orgs: Organisations, scenario: Scenario
) -> Prototype:
    calendar = protocol.calendar()
    today = calendar.local_date(AS_OF)
    raise_day = calendar.nth_working_day_before(today, scenario.back) if scenario.back else today

    def at(step: Step) -> datetime:
        day = calendar.nth_working_day_after(raise_day, step.day) if step.day else raise_day
        hour, minute = (int(part) for part in step.time.split(":"))
        return utc(datetime(day.year, day.month, day.day, hour, minute, tzinfo=calendar.tz))

    first, *rest = scenario.steps
    raised = at(first)
    reference = service.raise_challenge(_request(protocol, orgs, scenario, raised), raised)
    for step in rest:
        when = at(step)
        _on_time_sweep(service, reference, when)
        arg = step.arg or (scenario.outcomes or ("other",))[0]  # accept, resolve: the outcome
        _ACTIONS[step.action](service, reference, arg, when)
    _on_time_sweep(service, reference, utc(AS_OF) - scenario.sweep_lag)
    with service.sessions() as session:
        challenge = store.load_challenge(session, reference, lock=False)
        if challenge.state != scenario.expect:
            raise RuntimeError(
                f"{scenario.name} in {protocol.partnership}: {reference} ended "
                f"{challenge.state}, not {scenario.expect}"
            )
        pending = store.pending_deadlines(session, challenge.id)
        first_pending = min((d.due_at for d in pending), default=None)
        return Prototype(scenario, protocol.partnership, challenge.id, raised, first_pending)


def _request(
    protocol: Protocol, orgs: Organisations, scenario: Scenario, raised: datetime
) -> RaiseRequest:
    return fill.prototype_request(
        protocol.partnership,
        orgs.raising_name,
        orgs.responding_name,
        raised,
        raiser_name=RAISER,
        raiser_email="bench.raiser@example.org",
        urgent=scenario.urgent,
        start_level=scenario.start_level,
        start_reason="Risk to the child: benchmark data" if scenario.start_level > 1 else None,
    )


def _on_time_sweep(service: Service, reference: str, until: datetime) -> None:
    """Apply this challenge's deadlines due by `until`, each at its own moment."""
    while True:
        with service.sessions.begin() as session:
            challenge = store.load_challenge(session, reference)
            due = [d for d in store.pending_deadlines(session, challenge.id) if d.due_at <= until]
            if not due:
                return
            deadline = min(due, key=lambda d: (d.due_at, d.id))
            outcome = sweep.apply_deadline(service, session, deadline, deadline.due_at)
            if outcome is DeadlineStatus.CANCELLED:
                raise RuntimeError(f"{reference}: deadline {deadline.kind} was moot")


def _resolution(outcome: str) -> Resolution:
    return Resolution(
        outcome,
        "Agreed plan (benchmark data)",
        "Seen weekly by a social worker; attendance plan with school (benchmark data)",
        True,
    )


Action = Callable[[Service, str, str, datetime], None]
_ACTIONS: dict[str, Action] = {
    "ack": lambda s, ref, arg, now: s.acknowledge(ref, RESPONDER, now),
    "respond": lambda s, ref, arg, now: s.respond(
        ref, RESPONDER, arg, "Benchmark response", ["Strategy discussion | Bench Manager"], now
    ),
    "accept": lambda s, ref, arg, now: s.accept(ref, RAISER, _resolution(arg), now),
    "resolve": lambda s, ref, arg, now: s.resolve(ref, BUSINESS_MANAGER, _resolution(arg), now),
    "escalate": lambda s, ref, arg, now: s.escalate(ref, RAISER, "No change for the child", now),
    "withdraw": lambda s, ref, arg, now: s.withdraw(ref, RAISER, "Resolved by discussion", now),
    "outcome": lambda s, ref, arg, now: s.answer_outcome(ref, RAISER, arg == "yes", None, now),
    "close": lambda s, ref, arg, now: s.close(ref, RAISER, "No further action possible", now),
    "reopen": lambda s, ref, arg, now: s.reopen(ref, RAISER, "Situation not improved", now),
    "pause": lambda s, ref, arg, now: s.pause(ref, MANAGER, RAISER, "Strategy discussion", now),
    "resume": lambda s, ref, arg, now: s.resume(ref, MANAGER, now),
}

# -- the whole fill ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFill:
    rows: int  # challenges written, prototypes included
    prototypes: int
    seconds_prototypes: float
    seconds_copies: float
    by_scenario: dict[str, int]


def counts(rows: int) -> dict[tuple[str, str], int]:
    """Challenges per (partnership, scenario), at least 1 each, adding up to `rows`."""
    total = sum(s.share for s in SCENARIOS)
    wanted = {
        (p, s.name): max(1, round(rows * share * s.share / total))
        for p, share in PARTNERSHIPS.items()
        for s in SCENARIOS
    }
    largest = max(wanted, key=lambda key: wanted[key])
    wanted[largest] += rows - sum(wanted.values())
    if wanted[largest] < 1:
        raise ValueError(f"{rows} rows are too few for {len(wanted)} prototypes")
    return wanted


def fill_report_data(engine: Engine, registry: ProtocolRegistry, rows: int) -> ReportFill:
    """Import the bench directory, build the prototypes and copy them: `rows` challenges."""
    began = time.perf_counter()
    organisations = import_directory(engine, registry)
    notifier = OutboxNotifier(registry, EmailRenderer(), fill.BASE_URL)
    service = Service(db.session_factory(engine), registry, notifier)
    wanted = counts(rows)
    plans: list[Plan] = []
    index = 1
    for partnership in PARTNERSHIPS:
        protocol = registry.for_partnership(partnership)
        for scenario in SCENARIOS:
            prototype = build_prototype(service, protocol, organisations[partnership], scenario)
            copies = wanted[partnership, scenario.name] - 1
            weeks = max_weeks(
                prototype.raised,
                prototype.first_pending,
                utc(AS_OF),
                WINDOW_START,
                scenario.max_shift_weeks,
            )
            plans.append(
                Plan(prototype.challenge_id, partnership, scenario.outcomes, copies, index, weeks)
            )
            index += copies
    built = time.perf_counter()
    dialect = engine.dialect.name
    with engine.begin() as connection:
        fill.skip_foreign_key_triggers(connection)
        for plan in plans:
            pool = CHILD_POOL * sum(c for (p, _), c in wanted.items() if p == plan.partnership)
            vary = make_vary(plan, organisations[plan.partnership], dialect, pool)
            fill.clone(connection, plan.prototype, plan.copies, vary)
        fill.mark_prototype_mail_sent(connection, [plan.prototype for plan in plans])
        fill.reset_sequences(connection)
    fill.analyse(engine, vacuum=True)
    by_scenario: dict[str, int] = {}
    for (_, name), count in wanted.items():
        by_scenario[name] = by_scenario.get(name, 0) + count
    return ReportFill(rows, len(plans), built - began, time.perf_counter() - built, by_scenario)
