"""The record's SQL: challenges and their references, the directory, deadlines and the sweep's
claim, the chronology, and the outbox rows an event queues. (The sweep's batch is read in
`store_batch`, job runs in `store_jobs`; the mail part's SQL is in `mail.store`.)

The functions that take a `batch` (the sweep's, from `store_batch.load_batch`) answer from it,
and change it, for the challenges it holds; without one, or for another challenge, they use SQL.

PostgreSQL: rows that are about to change are locked with FOR UPDATE, and the sweep claims the
challenges that have due deadlines with FOR UPDATE SKIP LOCKED so several sweepers share the work
without waiting on each other. SQLite ignores both clauses; there every transaction begins
IMMEDIATE (see `db`), which serialises writers instead.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Select, Table, func, select, update
from sqlalchemy.orm import Session, selectinload

from escalation.casework import intake
from escalation.casework.base import dialect_insert
from escalation.casework.models import (
    Challenge,
    ChronologyEntry,
    Contact,
    Deadline,
    Organisation,
    ReferenceCounter,
)
from escalation.casework.models_service import OutboxMessage
from escalation.errors import NotFound
from escalation.rules.planner import DeadlineStatus

if TYPE_CHECKING:
    from escalation.casework.store_batch import Batch


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
    insert = dialect_insert(session)
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


def organisations(
    session: Session, partnership: str | None = None, known: Sequence[str] = ()
) -> Sequence[Organisation]:
    """The directory's organisations, of one partnership if given. A partnership not `known`
    (the protocols' partnerships) is refused, listing the known ones: an empty answer would
    look like a directory that lost its rows."""
    query = select(Organisation).options(selectinload(Organisation.contacts))
    if partnership is not None:
        partnership = intake.partnership("partnership", partnership, sorted(known))
        query = query.where(Organisation.partnership == partnership)
    return session.scalars(query.order_by(Organisation.partnership, Organisation.name)).all()


def organisation_in(session: Session, partnership: str, name: str) -> Organisation | None:
    """The partnership's organisation with this name (case-insensitive), if there is one."""
    return session.scalars(
        select(Organisation).where(
            Organisation.partnership == partnership, func.lower(Organisation.name) == name.lower()
        )
    ).first()


def contact_at(session: Session, organisation_id: int, role: str, email: str) -> Contact | None:
    return session.scalars(
        select(Contact).where(
            Contact.organisation_id == organisation_id, Contact.role == role, Contact.email == email
        )
    ).one_or_none()


def cancel_pending(
    session: Session,
    challenge_id: int,
    now: datetime,
    kinds: Iterable[str] | None = None,
    batch: Batch | None = None,
) -> None:
    wanted = None if kinds is None else set(kinds)
    if batch is not None and challenge_id in batch.pending:
        # The batch holds every pending deadline of its challenges: cancel them in memory and
        # let the flush write them together, instead of one UPDATE per transition.
        for deadline in batch.pending[challenge_id]:
            if deadline.status == DeadlineStatus.PENDING.value and (
                wanted is None or deadline.kind in wanted
            ):
                deadline.status, deadline.processed_at = DeadlineStatus.CANCELLED.value, now
        return
    statement = (
        update(Deadline)
        .where(
            Deadline.challenge_id == challenge_id, Deadline.status == DeadlineStatus.PENDING.value
        )
        .values(status=DeadlineStatus.CANCELLED.value, processed_at=now)
    )
    if wanted is not None:
        statement = statement.where(Deadline.kind.in_(sorted(wanted)))
    session.execute(statement.execution_options(synchronize_session=False))


def add_deadline(session: Session, deadline: Deadline, batch: Batch | None = None) -> None:
    session.add(deadline)
    if batch is not None and deadline.challenge_id in batch.pending:
        batch.pending[deadline.challenge_id].append(deadline)


def pending_deadlines(session: Session, challenge_id: int) -> Sequence[Deadline]:
    return session.scalars(
        select(Deadline)
        .where(
            Deadline.challenge_id == challenge_id, Deadline.status == DeadlineStatus.PENDING.value
        )
        .order_by(Deadline.due_at, Deadline.id)
    ).all()


class Claim(NamedTuple):
    """What one claim locked: its challenges, and every due deadline of theirs, in due order."""

    challenge_ids: list[int]
    deadlines: Sequence[Deadline]


def claim_due(
    session: Session, now: datetime, limit: int, passed_over: Collection[int] = ()
) -> Claim:
    """Lock the challenges of up to `limit` pending deadlines due by `now`, oldest first, and
    read every due deadline of those challenges, oldest first (`passed_over` ids left out).

    A sweeper claims challenges, not deadlines: a challenge's deadlines must be applied in due
    order, and a lapse cancels the reminders still pending. Claiming deadline rows one by one
    with SKIP LOCKED let a sweeper skip a challenge's reminder while another sweeper held the
    challenge, then, that sweeper having committed meanwhile, claim the same challenge's lapse:
    the reminder ended cancelled instead of recorded as skipped. So only the challenge row is
    locked (anything another transaction holds is skipped, so sweepers never wait on each
    other), and its due deadlines are read afresh once it is held: the second statement sees
    whatever the previous holder committed, and nobody changes a challenge's deadlines without
    holding its row. A claim may name a challenge whose due deadlines another sweeper finished
    just before; it then brings no deadline of it, and the caller simply claims again. The
    challenges are locked by the claim itself, never one by one while applying: that let two
    sweepers take the same challenges in opposite orders and deadlock.
    """
    due = (Deadline.status == DeadlineStatus.PENDING.value) & (Deadline.due_at <= now)
    # Passed-over ids are left out here, not in SQL: a long simulation can defer more of them
    # than a statement may have parameters. At most len(passed_over) of the rows are theirs.
    claimed = session.execute(
        select(Deadline.id, Deadline.challenge_id)
        .join(Challenge, Challenge.id == Deadline.challenge_id)
        .where(due)
        .order_by(Deadline.due_at, Deadline.id)
        .limit(limit + len(passed_over))
        .with_for_update(of=Challenge, skip_locked=True)
    ).all()
    ids = list(dict.fromkeys(row.challenge_id for row in claimed if row.id not in passed_over))
    if not ids:
        return Claim([], [])
    deadlines = session.scalars(
        select(Deadline)
        .where(due, Deadline.challenge_id.in_(ids))
        .order_by(Deadline.due_at, Deadline.id)
    ).all()
    return Claim(ids, [deadline for deadline in deadlines if deadline.id not in passed_over])


class Tail(NamedTuple):
    """The last chronology entry of a challenge: the next entry follows it."""

    seq: int
    occurred_at: datetime


def last_chronology(session: Session, challenge_id: int, batch: Batch | None = None) -> Tail | None:
    if batch is not None and challenge_id in batch.tails:
        return batch.tails[challenge_id]
    row = session.execute(
        select(ChronologyEntry.seq, ChronologyEntry.occurred_at)
        .where(ChronologyEntry.challenge_id == challenge_id)
        .order_by(ChronologyEntry.seq.desc())
        .limit(1)
    ).one_or_none()
    return Tail(row.seq, row.occurred_at) if row is not None else None


def chronology(session: Session, challenge_id: int) -> Sequence[ChronologyEntry]:
    return session.scalars(
        select(ChronologyEntry)
        .where(ChronologyEntry.challenge_id == challenge_id)
        .order_by(ChronologyEntry.seq)
    ).all()


def every_entry(session: Session) -> Sequence[tuple[ChronologyEntry, str]]:
    """Every chronology entry with its challenge's reference, in the order they happened."""
    rows = session.execute(
        select(ChronologyEntry, Challenge.reference)
        .join(Challenge, Challenge.id == ChronologyEntry.challenge_id)
        .order_by(ChronologyEntry.occurred_at, ChronologyEntry.id)
    ).all()
    return [(entry, reference) for entry, reference in rows]


def challenge_states(session: Session) -> Sequence[tuple[str, str]]:
    """Every challenge's reference and state, by reference."""
    rows = session.execute(
        select(Challenge.reference, Challenge.state).order_by(Challenge.reference)
    ).all()
    return [(reference, state) for reference, state in rows]


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


def insert_outbox(session: Session, values: dict[str, Any], batch: Batch | None = None) -> None:
    """Queue one outbox row; a repeated idempotency key is ignored. In a batch, the rows wait
    for `store_batch.end_batch`, which inserts them all in one statement."""
    if batch is not None:
        batch.outbox.append(values)
    else:
        insert_outbox_rows(session, [values])


def insert_outbox_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    insert = dialect_insert(session)
    # The table, not the mapped class: a plain executemany, which psycopg pipelines with one
    # parsed statement, rather than one huge multi-row VALUES statement parsed on every batch.
    table: Table = OutboxMessage.__table__  # type: ignore[assignment]
    statement = insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"])
    session.execute(statement, rows)
