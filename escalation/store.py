"""Every SQL query the engine makes, in one place.

PostgreSQL: rows that are about to change are locked with FOR UPDATE, and the sweep claims due
deadlines with FOR UPDATE SKIP LOCKED so several sweepers share the work without waiting on each
other. SQLite ignores both clauses; there every transaction begins IMMEDIATE (see `db`), which
serialises writers instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from escalation.errors import NotFound
from escalation.models import Challenge, ChronologyEntry, Deadline, Organisation, ReferenceCounter
from escalation.planner import DeadlineStatus


def load_challenge(session: Session, reference: str, lock: bool = True) -> Challenge:
    query: Select[Challenge] = select(Challenge).where(Challenge.reference == reference)
    if lock:
        query = query.with_for_update(of=Challenge)
    query = query.options(
        selectinload(Challenge.stages),
        selectinload(Challenge.raising_org),
        selectinload(Challenge.responding_org),
    )
    challenge = session.scalars(query).one_or_none()
    if challenge is None:
        raise NotFound(f"no challenge with reference {reference!r}")
    return challenge


def load_challenge_by_id(session: Session, challenge_id: int) -> Challenge:
    query = (
        select(Challenge)
        .where(Challenge.id == challenge_id)
        .with_for_update(of=Challenge)
        .options(selectinload(Challenge.stages))
    )
    return session.scalars(query).one()


def next_reference(session: Session, prefix: str, year: int) -> str:
    """The next reference like DSCP-2026-00042; safe when several writers allocate at once."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = (
        insert(ReferenceCounter)
        .values(prefix=prefix, year=year, last=1)
        .on_conflict_do_update(
            index_elements=["prefix", "year"], set_={"last": ReferenceCounter.last + 1}
        )
        .returning(ReferenceCounter.last)
    )
    number = session.execute(upsert).scalar_one()
    return f"{prefix}-{year}-{number:05d}"


def find_organisation(session: Session, name: str) -> Organisation:
    """The organisation with this exact name (case-insensitive), in any partnership."""
    matches = session.scalars(
        select(Organisation).where(func.lower(Organisation.name) == name.strip().lower())
    ).all()
    if not matches:
        raise NotFound(
            f"no organisation named {name!r} in the directory "
            "(see `escalation orgs list`; import with `escalation orgs import`)"
        )
    if len(matches) > 1:
        where = ", ".join(sorted(org.partnership for org in matches))
        raise NotFound(f"{name!r} names organisations in several partnerships ({where})")
    return matches[0]


def organisations(session: Session, partnership: str | None = None) -> Sequence[Organisation]:
    query = select(Organisation).options(selectinload(Organisation.contacts))
    if partnership:
        query = query.where(Organisation.partnership == partnership)
    return session.scalars(query.order_by(Organisation.partnership, Organisation.name)).all()


def cancel_pending(
    session: Session, challenge_id: int, now: datetime, kinds: Iterable[str] | None = None
) -> None:
    statement = (
        update(Deadline)
        .where(
            Deadline.challenge_id == challenge_id, Deadline.status == DeadlineStatus.PENDING.value
        )
        .values(status=DeadlineStatus.CANCELLED.value, processed_at=now)
    )
    if kinds is not None:
        statement = statement.where(Deadline.kind.in_(list(kinds)))
    session.execute(statement.execution_options(synchronize_session=False))


def pending_deadlines(session: Session, challenge_id: int) -> Sequence[Deadline]:
    return session.scalars(
        select(Deadline)
        .where(
            Deadline.challenge_id == challenge_id, Deadline.status == DeadlineStatus.PENDING.value
        )
        .order_by(Deadline.due_at, Deadline.id)
    ).all()


def claim_due(session: Session, now: datetime, limit: int) -> Sequence[Deadline]:
    """Lock up to `limit` pending deadlines due by `now` and their challenges, oldest first.

    The challenge is locked in the same statement and anything another transaction holds is
    skipped, so sweepers never wait on each other: locking challenges one by one while applying
    deadlines let two sweepers take the same challenges in opposite orders and deadlock.
    """
    return session.scalars(
        select(Deadline)
        .join(Challenge, Challenge.id == Deadline.challenge_id)
        .where(Deadline.status == DeadlineStatus.PENDING.value, Deadline.due_at <= now)
        .order_by(Deadline.due_at, Deadline.id)
        .limit(limit)
        .with_for_update(of=(Deadline, Challenge), skip_locked=True)
    ).all()


def last_chronology(session: Session, challenge_id: int) -> ChronologyEntry | None:
    return session.scalars(
        select(ChronologyEntry)
        .where(ChronologyEntry.challenge_id == challenge_id)
        .order_by(ChronologyEntry.seq.desc())
        .limit(1)
    ).one_or_none()


def chronology(session: Session, challenge_id: int) -> Sequence[ChronologyEntry]:
    return session.scalars(
        select(ChronologyEntry)
        .where(ChronologyEntry.challenge_id == challenge_id)
        .order_by(ChronologyEntry.seq)
    ).all()


def list_challenges(
    session: Session, open_only: bool, partnership: str | None, overdue_at: datetime | None
) -> Sequence[Challenge]:
    query = select(Challenge).options(
        selectinload(Challenge.stages),
        selectinload(Challenge.raising_org),
        selectinload(Challenge.responding_org),
    )
    if open_only or overdue_at is not None:
        query = query.where(Challenge.state.like("level\\_%", escape="\\"))
    if partnership:
        query = query.where(Challenge.partnership == partnership)
    challenges = session.scalars(query.order_by(Challenge.raised_at, Challenge.id)).all()
    if overdue_at is None:
        return challenges
    return [c for c in challenges if _is_overdue(c, overdue_at)]


def _is_overdue(challenge: Challenge, now: datetime) -> bool:
    stage = challenge.current_stage
    awaiting = challenge.state.endswith(("awaiting_response", "overdue", "lapse_prompt"))
    return bool(awaiting and stage and stage.due_at and stage.due_at < now)
