"""Bulk-fill a database with open challenges, fast, for the sweep benchmark and its tests.

    python -m bench.fill --rows 1000000 --database-url postgresql+psycopg://…/bench
                         [--due-fraction 0.01] [--now 2026-12-14T17:05] [--partnership devon]

Raising a million challenges through the service would take hours, so the filler builds one
prototype of each kind through the real `Service` and copies its rows with set-based SQL:

- the *due* prototype is raised some days before `now` (at 10:00 local, the latest such day
  whose level-1 response deadline has closed by `now`), acknowledged an hour later, and each of
  its reminders is applied at its own moment by the sweep's `apply_deadline`, as a worker running
  on time would (chronology entry, `reminders_sent`, email queued). Only its response deadline is
  left pending, and it has passed: as of `now` exactly one deadline per due challenge is
  claimable, the lapse that escalates it to level 2;
- the *future* prototype is raised an hour before `now` and acknowledged half an hour later; its
  reminder and response deadline are still to come, so a sweep at `now` leaves it alone.

Every copy gets ids of its own, a reference `<PREFIX>-<year>-<n:07d>` (numbers after the
reference counter's, which is then moved past them) and a child reference `BENCH-<n:07d>`, and
its stage, deadline and chronology rows with their foreign keys remapped (PostgreSQL: `INSERT …
SELECT … generate_series`; SQLite: the same over a recursive CTE), in chunks. Copies keep their
prototype's instants: calendar arithmetic is not redone, so a copy is exactly what the service
and an on-time sweep would have written. Outbox rows are not copied (rendered mail is large and
nothing reads old mail); the prototypes' own are marked sent. Then PostgreSQL's id sequences are
set past the copies and the tables are analysed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from importlib import resources as importlib_resources
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    Integer,
    String,
    Table,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    true,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from escalation.casework import db, directory, store, sweep
from escalation.casework.base import Base
from escalation.casework.intake import RaiseRequest
from escalation.casework.models import (
    Challenge,
    ChronologyEntry,
    Contact,
    Deadline,
    Organisation,
    ReferenceCounter,
    Stage,
)
from escalation.casework.models_service import OutboxMessage, OutboxStatus
from escalation.casework.notices import Notifier
from escalation.casework.service import Service
from escalation.mail.emails import EmailRenderer
from escalation.mail.outbox import OutboxNotifier
from escalation.resources import workflows_dir
from escalation.rules import planner
from escalation.rules.model import OrgType, Protocol, Role
from escalation.rules.planner import DeadlineKind, DeadlineStatus
from escalation.rules.registry import ProtocolRegistry, load_registry
from escalation.rules.workdays import parse_instant, to_local_iso, utc

BASE_URL = "https://escalation.bench.invalid"
RESPONDER = "Bench Responder"
ACKNOWLEDGED_AFTER = timedelta(hours=1)  # the due prototype: acknowledged an hour after raising
FUTURE_RAISED_BEFORE = timedelta(hours=1)  # the future prototype: raised an hour before `now`
CHUNK = 100_000  # copies per INSERT: bounds PostgreSQL's per-statement foreign-key trigger queue
TABLES: tuple[Table, ...] = tuple(  # in foreign-key order
    Base.metadata.tables[model.__tablename__]
    for model in (Challenge, Stage, Deadline, ChronologyEntry)
)


# Per table, the columns in which copies differ from their prototype: vary(table, p, n) with
# `p` the prototype's row (an alias of `table`) and `n` the copy number.
Vary = Callable[[Table, FromClause, ColumnElement[int]], dict[str, ColumnElement[Any]]]


@dataclass(frozen=True)
class FillResult:
    n: int  # challenges written, prototypes included
    due: int  # of which a response deadline is due (claimable) as of `now`
    seconds: float
    now: datetime
    due_raised_at: datetime | None  # when the due challenges were raised (None: none due)
    future_raised_at: datetime | None


@dataclass(frozen=True)
class _Span:
    """Where a prototype's rows sit in one table, and where its copies go."""

    first: int  # the prototype's lowest id
    stride: int  # ids one copy takes (its rows' id range, gaps included)
    free: int  # the first id no row has yet


def fill(
    engine: Engine,
    registry: ProtocolRegistry,
    n: int,
    due_fraction: float,
    now: datetime,
    partnership: str = "devon",
    *,
    notifier: Notifier | None = None,
) -> FillResult:
    """Write `n` open level-1 challenges, round(n × due_fraction) of them due as of `now`.

    The directory must hold the partnership's organisations (a school or other raising agency
    and a social care team). `notifier` is what the prototypes' emails go through (default: the
    outbox, as in production).
    """
    if n < 1 or not 0.0 <= due_fraction <= 1.0:
        raise ValueError(f"need n >= 1 and 0 <= due_fraction <= 1, got {n}, {due_fraction}")
    began = time.perf_counter()
    now = utc(now)
    due = round(n * due_fraction)
    sessions = db.session_factory(engine)
    if notifier is None:
        notifier = OutboxNotifier(registry, EmailRenderer(), BASE_URL)
    service = Service(sessions, registry, notifier)
    protocol = registry.for_partnership(partnership)
    with sessions() as session:
        make_request = _requester(session, partnership)
    groups: list[tuple[int, int]] = []  # (prototype id, challenges it stands for)
    due_raised = future_raised = None
    if due:
        due_raised = _due_raise_instant(protocol, now)
        groups.append((_due_prototype(service, make_request, due_raised, now), due))
    if n - due:
        future_raised = now - FUTURE_RAISED_BEFORE
        groups.append((_future_prototype(service, make_request, future_raised, now), n - due))
    with engine.begin() as connection:
        skip_foreign_key_triggers(connection)
        for prototype, count in groups:
            clone(connection, prototype, count - 1)
        mark_prototype_mail_sent(connection, [p for p, _ in groups])
        reset_sequences(connection)
    analyse(engine)
    return FillResult(n, due, time.perf_counter() - began, now, due_raised, future_raised)


# -- the prototypes, through the real service --------------------------------------------------


def _requester(session: Session, partnership: str) -> Callable[[datetime], RaiseRequest]:
    organisations = session.scalars(
        select(Organisation)
        .where(Organisation.partnership == partnership)
        .order_by(Organisation.id)
    ).all()
    raising = next(
        (o for o in organisations if o.type not in (OrgType.SOCIAL_CARE, OrgType.PARTNERSHIP)),
        None,
    )
    responding = next((o for o in organisations if o.type == OrgType.SOCIAL_CARE), None)
    if raising is None or responding is None:
        raise ValueError(
            f"the directory needs a raising agency and a social care team in {partnership!r}"
        )
    raiser = session.scalars(
        select(Contact)
        .where(Contact.organisation_id == raising.id)
        .order_by((Contact.role == Role.DSL.value).desc(), Contact.id)
    ).first()
    raising_name, responding_name = raising.name, responding.name

    def make(raised: datetime) -> RaiseRequest:
        return prototype_request(
            partnership,
            raising_name,
            responding_name,
            raised,
            raiser_name=raiser.name if raiser else "Bench Raiser",
            raiser_email=raiser.email if raiser else None,
        )

    return make


def prototype_request(
    partnership: str, raising: str, responding: str, raised: datetime, **overrides: Any
) -> RaiseRequest:
    """The benchmark prototypes' challenge: fictional, the same for every fill."""
    fields: dict[str, Any] = dict(
        partnership=partnership,
        raising_org=raising,
        raiser_name="Bench Raiser",
        responding_org=responding,
        child_ref="BENCH-PROTOTYPE",
        child_initials="BP",
        child_birth_year=raised.year - 10,
        category="threshold",
        decision="Referral judged below threshold (benchmark data)",
        decision_date=(raised - timedelta(days=7)).date().isoformat(),
        concern="Benchmark data: attendance falling; disclosures at school",
        desired_outcome="A social work assessment",
        voice_of_child="Benchmark data: the child says they are frightened at home",
        need_raiser_view=4,
        need_decision=2,
    )
    return RaiseRequest(**(fields | overrides))


def _due_raise_instant(protocol: Protocol, now: datetime) -> datetime:
    """10:00 local on the latest day whose level-1 response deadline closed before `now`."""
    calendar = protocol.calendar()
    today = calendar.local_date(now)
    for back in range(1, 90):
        raised = datetime.combine(today - timedelta(days=back), clock_time(10), calendar.tz)
        if planner.plan_stage(protocol, 1, False, raised).due_at < now:
            return utc(raised)
    raise ValueError(f"no level-1 deadline closes within 90 days before {to_local_iso(now)}")


def _due_prototype(
    service: Service, make: Callable[[datetime], RaiseRequest], raised: datetime, now: datetime
) -> int:
    reference = service.raise_challenge(make(raised), raised)
    service.acknowledge(reference, RESPONDER, raised + ACKNOWLEDGED_AFTER)
    with service.sessions.begin() as session:
        challenge = store.load_challenge(session, reference)
        for deadline in store.pending_deadlines(session, challenge.id):
            if deadline.kind == DeadlineKind.RESPONSE_DUE.value:
                if deadline.due_at >= now:
                    raise RuntimeError(f"{reference}: response due {deadline.due_at} >= now")
                continue
            # What an on-time sweep did at this deadline's moment.
            outcome = sweep.apply_deadline(service, session, deadline, deadline.due_at)
            if outcome is not DeadlineStatus.DONE:
                raise RuntimeError(f"{reference}: {deadline.kind} was {outcome}, not done")
        return challenge.id


def _future_prototype(
    service: Service, make: Callable[[datetime], RaiseRequest], raised: datetime, now: datetime
) -> int:
    reference = service.raise_challenge(make(raised), raised)
    service.acknowledge(reference, RESPONDER, raised + (now - raised) / 2)
    with service.sessions() as session:
        challenge = store.load_challenge(session, reference, lock=False)
        early = [d.kind for d in store.pending_deadlines(session, challenge.id) if d.due_at <= now]
        if early:
            raise RuntimeError(f"{reference}: {early} already due at {to_local_iso(now)}")
        return challenge.id


# -- the copies, in set-based SQL --------------------------------------------------------------


def clone(connection: Connection, prototype: int, copies: int, vary: Vary | None = None) -> None:
    """Write `copies` copies of the challenge `prototype` and of its stages, deadlines and
    chronology, with ids, references and foreign keys of their own.

    Copies are numbered n = 0 … copies - 1; `vary(table, p, n)` may give, per table, SQL
    expressions over the prototype's row `p` and `n` for columns that should differ from copy
    to copy (an organisation, a shifted instant); by default only the child reference does.
    """
    if copies <= 0:
        return
    spans = {table.name: _span(connection, table, prototype) for table in TABLES}
    reference = connection.execute(
        select(Challenge.reference).where(Challenge.id == prototype)
    ).scalar_one()
    prefix, year, _ = reference.rsplit("-", 2)
    counter = (ReferenceCounter.prefix == prefix) & (ReferenceCounter.year == int(year))
    first_number = connection.execute(select(ReferenceCounter.last).where(counter)).scalar_one() + 1
    for start in range(0, copies, CHUNK):
        series = _series(connection, start, min(start + CHUNK, copies) - 1)
        for table in TABLES:
            _insert_copies(
                connection, table, prototype, spans, series, (prefix, year, first_number), vary
            )
    last = first_number + copies - 1
    connection.execute(update(ReferenceCounter).where(counter).values(last=last))


def mark_prototype_mail_sent(connection: Connection, prototypes: Sequence[int]) -> None:
    """The prototypes' queued emails were for the copies too: none of it is to be sent."""
    connection.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.challenge_id.in_(prototypes),
            OutboxMessage.status == OutboxStatus.PENDING.value,
        )
        .values(status=OutboxStatus.SENT.value, sent_at=OutboxMessage.created_at, attempts=1)
    )


def skip_foreign_key_triggers(connection: Connection) -> bool:
    """Spare PostgreSQL its per-row foreign-key triggers for the copies, where allowed.

    The copies' keys are right by construction (tests/casework/test_sweep_exactly_once.py checks
    them),
    and the triggers cost more than half of the fill. `session_replication_role` needs the
    privilege to set it (a superuser, or GRANT SET on PostgreSQL 15+); without it the fill is
    only slower. SET LOCAL ends with the fill's transaction.
    """
    if connection.dialect.name != "postgresql":
        return False
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
    except DBAPIError:
        return False
    return True


def _span(connection: Connection, table: Table, prototype: int) -> _Span:
    owner = table.c.id if table.name == "challenges" else table.c.challenge_id
    # The prototype's few ids, not min() and max() in SQL: PostgreSQL may answer max(id) WHERE
    # challenge_id = … by walking the primary key down through every copy made so far.
    ids = connection.scalars(select(table.c.id).where(owner == prototype)).all()
    top = connection.execute(select(func.max(table.c.id))).scalar_one()
    return _Span(min(ids), max(ids) - min(ids) + 1, top + 1)


def _series(connection: Connection, first: int, last: int) -> FromClause:
    """The copy numbers first..last as a one-column (n) table."""
    if connection.dialect.name == "postgresql":
        return func.generate_series(first, last).table_valued("n").render_derived(name="g")
    numbers = select(literal(first, Integer).label("n")).cte("g", recursive=True)
    return numbers.union_all(select(numbers.c.n + 1).where(numbers.c.n < last))


def _insert_copies(
    connection: Connection,
    table: Table,
    prototype: int,
    spans: dict[str, _Span],
    series: FromClause,
    numbering: tuple[str, str, int],  # reference prefix, year, number of copy 0
    vary: Vary | None,
) -> None:
    prefix, year, first_number = numbering
    p = table.alias("p")
    n: ColumnElement[int] = series.c.n

    def moved(column: Column[Any], target: str) -> ColumnElement[int]:
        span = spans[target]
        return span.free + n * span.stride + (column - span.first)

    number = first_number + n
    if connection.dialect.name == "postgresql":
        digits: ColumnElement[str] = func.lpad(cast(number, String), 7, "0")
    else:
        digits = func.printf("%07d", number)
    owner = p.c.id if table.name == "challenges" else p.c.challenge_id
    span = spans[table.name]
    mine = p.c.id.between(span.first, span.first + span.stride - 1) & (owner == prototype)
    overrides: dict[str, ColumnElement[Any]] = {"id": moved(p.c.id, table.name)}
    if table.name == "challenges":
        overrides["reference"] = literal(f"{prefix}-{year}-", String) + digits
        overrides["child_ref"] = literal("BENCH-", String) + digits
    else:
        overrides["challenge_id"] = moved(p.c.challenge_id, "challenges")
    if table.name == "deadlines":
        overrides["stage_id"] = moved(p.c.stage_id, "stages")
    if vary is not None:
        overrides.update(vary(table, p, n))
    names = [column.name for column in table.c]
    rows = (
        select(*(overrides.get(name, p.c[name]).label(name) for name in names))
        .select_from(p.join(series, true()))
        .where(mine)  # by id range too: the primary key finds them, whatever the statistics say
    )
    connection.execute(insert(table).from_select(names, rows))


def reset_sequences(connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        return  # SQLite's INTEGER PRIMARY KEY takes max(rowid) + 1
    for table in TABLES:
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT max(id) FROM {table.name}))"
            )
        )


def analyse(engine: Engine, vacuum: bool = False) -> None:
    """Fresh planner statistics; with `vacuum`, PostgreSQL's visibility map too, so index-only
    scans read no table pages, as on a database autovacuum keeps up with."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        return
    # Every table of the schema (not of the database: a test's schema shares it with others),
    # the directory's too: with none analysed since its import, PostgreSQL took devon's 461
    # organisations for 1 and joined them to a year of challenges row by row (15 s, not 0.1 s).
    names = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM (ANALYZE) {names}" if vacuum else f"ANALYZE {names}"))


# -- the command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fill", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, required=True, help="challenges to write")
    parser.add_argument("--database-url", required=True, help="SQLAlchemy URL; migrated first")
    parser.add_argument("--due-fraction", type=float, default=0.01)
    parser.add_argument(
        "--now", help="ISO-8601 (Europe/London without an offset); default: the real clock"
    )
    parser.add_argument("--partnership", default="devon")
    args = parser.parse_args(argv)
    now = parse_instant(args.now) if args.now else datetime.now(UTC)
    engine = db.make_engine(args.database_url)
    try:
        db.upgrade(engine)
        registry = load_registry(workflows_dir())
        sessions = db.session_factory(engine)
        with sessions() as session:
            empty = session.scalar(select(func.count()).select_from(Organisation)) == 0
        if empty:
            sample = importlib_resources.files("escalation") / "sample_directory.csv"
            with importlib_resources.as_file(sample) as path:
                directory.import_csv(sessions, path, registry.partnerships())
        result = fill(engine, registry, args.rows, args.due_fraction, now, args.partnership)
    finally:
        engine.dispose()
    print(
        f"rows {result.n} due {result.due} seconds {result.seconds:.1f} "
        f"({result.n / result.seconds:,.0f} challenges/s) now {to_local_iso(result.now)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
