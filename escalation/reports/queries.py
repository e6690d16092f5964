"""The partnership report's SQL: every figure counted and grouped by the database.

Nothing here loads a challenge: each query returns counts per group (organisation, level,
category, local date…), and durations in working days come from grouping by the pair of local
dates a duration runs between, so Python works out a few thousand date pairs with the
partnership's calendar, never a row per challenge. No query selects a child's reference,
initials, year of birth or any free text; repeat children are counted inside the database.

Local dates (Europe/London) and working days are `queries_dates`'s. Periods are filtered by UTC
instants (local midnight to local midnight), so the database can use an index on the
partnership and the instant. `prepare` makes every query of one report read one snapshot.

Grouping by an expression is always done over the plain columns of a CTE (`_count_by`):
PostgreSQL, with server-side parameters, cannot match an expression holding parameters in SELECT
to the same expression in GROUP BY. Several groupings of the same rows share one CTE, so a year
of a million challenges is read once for them, not once each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from escalation.casework.base import UTCDateTime
from escalation.casework.models import Challenge, ChronologyEntry, Organisation, Stage
from escalation.reports.figures import (
    Checks,
    Figures,
    OpenNow,
    Org,
    Raised,
    Repeats,
    Resolved,
    Timeliness,
)
from escalation.reports.queries_dates import local_date, working_days
from escalation.rules.states import AWAITING, NOT_CONFIRMED, Event
from escalation.rules.workdays import LONDON, Calendar


@dataclass(frozen=True)
class Scope:
    """What a report covers: partnerships, the period as UTC instants, and "now"."""

    partnerships: tuple[str, ...]
    open_states: tuple[str, ...]  # `level_<n>.…` states of their protocols
    start: datetime  # local midnight starting the period's first day, in UTC
    end: datetime  # local midnight after the period's last day, in UTC
    as_of: datetime

    def ours(self) -> ColumnElement[bool]:
        return Challenge.partnership.in_(self.partnerships)

    def during(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.start, column < self.end)

    @property
    def now(self) -> ColumnElement[datetime]:
        return literal(self.as_of, UTCDateTime())


def gather(session: Session, scope: Scope, calendars: Mapping[str, Calendar]) -> Figures:
    """Every figure of the report, in one session (so one snapshot, where the caller asks)."""
    acknowledgement, response = timeliness(session, scope, calendars)
    return Figures(
        organisations=organisations(session),
        raisers=raisers(session, scope),
        open_now=open_now(session, scope, calendars),
        raised=raised(session, scope),
        repeats=repeats(session, scope),
        resolved=resolved(session, scope, calendars),
        escalations=escalations(session, scope),
        acknowledgement=acknowledgement,
        response=response,
        checks=outcome_checks(session, scope),
    )


def prepare(session: Session) -> None:
    """PostgreSQL: every query of the report reads one snapshot, so its tables agree with each
    other (SQLite's transaction is one already). Grouping a year of a million challenges spills
    to disk within the default 4 MB of working memory, and compiling each query (JIT) costs more
    than it saves on queries of a second or less: both are set for this transaction only."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    session.execute(text("SET LOCAL jit = off"))


# --- Queries ---------------------------------------------------------------------------------


def _count_by(
    session: Session, source: Any, where: Sequence[ColumnElement[bool]], *groupings: Sequence[Any]
) -> list[list[tuple[Any, ...]]]:
    """For each grouping (a list of columns), rows of (*values, count): the rows of `source`
    matching `where`, counted per distinct value of those columns.

    The rows are read once however many groupings there are: one CTE (PostgreSQL computes a
    CTE used more than once only once), then one GROUP BY per grouping, joined by UNION ALL.
    Every branch has every column (NULL where it does not group by it), so each position keeps
    one type on both databases.
    """
    columns: list[Any] = []
    for grouping in groupings:
        columns += [c for c in grouping if not any(c is seen for seen in columns)]
    rows = select(*(c.label(f"c{i}") for i, c in enumerate(columns)))
    table = rows.select_from(source).where(*where).cte("report_rows")
    chosen = [[_position(columns, column) for column in grouping] for grouping in groupings]
    branches = [
        select(
            literal_column(str(n)),
            *(
                table.c[i] if i in keys else cast(null(), table.c[i].type)
                for i in range(len(columns))
            ),
            func.count(),
        ).group_by(*(table.c[i] for i in keys))
        for n, keys in enumerate(chosen)
    ]
    out: list[list[tuple[Any, ...]]] = [[] for _ in groupings]
    for row in session.execute(union_all(*branches) if len(branches) > 1 else branches[0]):
        n = int(row[0])
        out[n].append((*(row[1 + i] for i in chosen[n]), row[-1]))
    return out


def _position(columns: list[Any], column: Any) -> int:
    return next(i for i, seen in enumerate(columns) if seen is column)


def organisations(session: Session) -> dict[int, Org]:
    """The whole directory (a few hundred rows): a challenge may be raised by an organisation
    of another partnership, e.g. a Devon school teaching a Plymouth child."""
    rows = session.execute(
        select(Organisation.id, Organisation.name, Organisation.type, Organisation.partnership)
    ).all()
    return {row.id: Org(row.name, row.type, row.partnership) for row in rows}


def raisers(session: Session, scope: Scope) -> set[int]:
    """The scope's organisations that raised a challenge in the period, in any partnership."""
    query = (
        select(Challenge.raising_org_id)
        .join(Organisation, Organisation.id == Challenge.raising_org_id)
        .where(Organisation.partnership.in_(scope.partnerships), scope.during(Challenge.raised_at))
        .distinct()
    )
    return set(session.scalars(query))


def open_now(session: Session, scope: Scope, calendars: Mapping[str, Calendar]) -> OpenNow:
    """Open challenges (state `level_<n>.…`) by level, overdue now, and by age.

    Overdue is the rule of `store._is_overdue` and the digest: awaiting a response and the current
    stage due before `as_of`. The current stage of an open challenge is its one stage not ended.
    """
    awaiting = or_(*(Challenge.state.like(f"level\\_%.{s}", escape="\\") for s in AWAITING))
    overdue = and_(awaiting, Stage.due_at < scope.now)
    source = Challenge.__table__.outerjoin(
        Stage.__table__, and_(Stage.challenge_id == Challenge.id, Stage.ended_at.is_(None))
    )
    day = local_date(session, Challenge.raised_at)
    [rows] = _count_by(
        session,
        source,
        [scope.ours(), Challenge.state.in_(scope.open_states)],
        [Challenge.partnership, Challenge.level, day, overdue],
    )
    today = scope.as_of.astimezone(LONDON).date()
    ages = working_days(calendars, [(p, 0, raised, today, n) for p, _, raised, _, n in rows])
    by_level: Counter[int] = Counter()
    overdue_by_level: Counter[int] = Counter()
    for _, level, _, late, n in rows:
        by_level[level] += n
        overdue_by_level[level] += n if late else 0
    return OpenNow(by_level, overdue_by_level, ages.get(0, Counter()))


def raised(session: Session, scope: Scope) -> Raised:
    """Challenges whose raised_at falls in the period, counted four ways in one read."""
    by_org, by_receiver, by_category, by_need = _count_by(
        session,
        Challenge,
        [scope.ours(), scope.during(Challenge.raised_at)],
        [Challenge.raising_org_id],
        [Challenge.responding_org_id, Challenge.responding_team],
        [Challenge.category],
        [Challenge.need_raiser_view, Challenge.need_decision],
    )
    return Raised(
        by_org=Counter({org: n for org, n in by_org}),
        by_receiver=Counter({(org, team): n for org, team, n in by_receiver}),
        by_category=Counter({category: n for category, n in by_category}),
        by_need=Counter({(raiser, decision): n for raiser, decision, n in by_need}),
    )


def repeats(session: Session, scope: Scope) -> Repeats:
    """Child references (as recorded, per partnership) with several challenges, counted in SQL:
    no reference ever leaves the database."""
    in_period = case((Challenge.raised_at >= scope.start, 1), else_=0)
    per_child = (
        select(func.sum(in_period).label("period"), func.count().label("ever"))
        .where(scope.ours(), Challenge.raised_at < scope.end)
        .group_by(Challenge.partnership, Challenge.child_ref)
        .subquery()
    )

    def children(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            func.count(), children(per_child.c.period >= 2), children(per_child.c.ever >= 2)
        ).where(per_child.c.period > 0)
    ).one()
    return Repeats(int(row[0]), int(row[1]), int(row[2]))


def resolved(session: Session, scope: Scope, calendars: Mapping[str, Calendar]) -> Resolved:
    """Challenges whose (latest) resolved_at falls in the period, and those withdrawn in it."""
    durations, outcomes = _count_by(
        session,
        Challenge,
        [scope.ours(), scope.during(Challenge.resolved_at)],
        [
            Challenge.partnership,
            Challenge.resolved_level,
            local_date(session, Challenge.raised_at),
            local_date(session, Challenge.resolved_at),
        ],
        [Challenge.outcome],
    )
    withdrawn = session.scalar(
        select(func.count()).where(scope.ours(), scope.during(Challenge.withdrawn_at))
    )
    return Resolved(
        working_days(calendars, durations),
        Counter({outcome: n for outcome, n in outcomes}),
        int(withdrawn or 0),
    )


def escalations(session: Session, scope: Scope) -> Counter[tuple[int, str]]:
    """Levels escalated in the period (escalated_at), by receiving organisation and kind."""
    [rows] = _count_by(
        session,
        Stage.__table__.join(Challenge.__table__),
        [scope.ours(), scope.during(Stage.escalated_at)],
        [Challenge.responding_org_id, Stage.escalation_kind],
    )
    return Counter({(org, kind): n for org, kind, n in rows})


def timeliness(
    session: Session, scope: Scope, calendars: Mapping[str, Calendar]
) -> tuple[Timeliness, Timeliness]:
    """Levels opened in the period, by receiving organisation, as acknowledged and as answered
    (one read for both). A response counts as the acknowledgement when none came before it."""
    opened = local_date(session, Stage.opened_at)
    partnership, org = Challenge.partnership, Challenge.responding_org_id
    acknowledged = func.coalesce(Stage.acknowledged_at, Stage.responded_at)
    ack = (
        _status(scope, acknowledged, Stage.acknowledge_due_at),
        local_date(session, acknowledged),
    )
    answer = (
        _status(scope, Stage.responded_at, Stage.due_at),
        local_date(session, Stage.responded_at),
    )
    rows = _count_by(
        session,
        Stage.__table__.join(Challenge.__table__),
        [scope.ours(), scope.during(Stage.opened_at)],
        [partnership, org, ack[0], opened, ack[1]],
        [partnership, org, answer[0], opened, answer[1]],
    )
    return _timeliness(calendars, rows[0]), _timeliness(calendars, rows[1])


def _status(scope: Scope, done: Any, due: Any) -> ColumnElement[str]:
    """on_time, late, missed (nothing by the due time, the clock running) or pending (not yet
    due, paused, or the level ended before it was due)."""
    return case(
        (and_(done.is_not(None), or_(due.is_(None), done <= due)), "on_time"),
        (done.is_not(None), "late"),
        (
            and_(Stage.paused_at.is_(None), due < func.coalesce(Stage.ended_at, scope.now)),
            "missed",
        ),
        else_="pending",
    )


def _timeliness(calendars: Mapping[str, Calendar], rows: list[tuple[Any, ...]]) -> Timeliness:
    counts: Counter[tuple[int, str]] = Counter()
    for _, org, state, _, _, n in rows:
        counts[(org, state)] += n
    timed = [(p, org, opened, end, n) for p, org, _, opened, end, n in rows if end is not None]
    return Timeliness(counts, working_days(calendars, timed))


def outcome_checks(session: Session, scope: Scope) -> Checks:
    """Outcome-check answers given in the period, and checks closed unanswered in it.

    Answers are read from the chronology: reopening after a "no" clears the challenge's own
    answer fields, and a "no" that led to a reopened challenge must still count. An answer is a
    "yes" when the challenge records a "yes" given at that same instant (a "yes" closes it).
    """
    yes = and_(
        Challenge.outcome_improved.is_(True),
        Challenge.outcome_answered_at == ChronologyEntry.occurred_at,
    )
    answers = session.execute(
        select(func.count(), func.coalesce(func.sum(case((yes, 1), else_=0)), 0))
        .select_from(ChronologyEntry)
        .join(Challenge, Challenge.id == ChronologyEntry.challenge_id)
        .where(
            scope.ours(),
            ChronologyEntry.event == Event.OUTCOME.value,
            scope.during(ChronologyEntry.occurred_at),
        )
    ).one()
    unconfirmed = session.scalar(
        select(func.count()).where(
            scope.ours(),
            Challenge.closed_reason == NOT_CONFIRMED,
            scope.during(Challenge.closed_at),
        )
    )
    total, confirmed = int(answers[0]), int(answers[1])
    return Checks(confirmed, total - confirmed, int(unconfirmed or 0))
