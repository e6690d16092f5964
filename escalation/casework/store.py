"""Every SQL query the engine makes, in one place.

PostgreSQL: rows that are about to change are locked with FOR UPDATE, and the sweep claims the
challenges that have due deadlines with FOR UPDATE SKIP LOCKED so several sweepers share the work
without waiting on each other. SQLite ignores both clauses; there every transaction begins
IMMEDIATE (see `db`), which serialises writers instead.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from escalation.casework import intake
from escalation.casework.models import (
    Challenge,
    ChronologyEntry,
    Contact,
    Deadline,
    Organisation,
    OutboxMessage,
    ReferenceCounter,
)
from escalation.errors import NotFound
from escalation.rules.planner import DeadlineStatus


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


def cancel_pending(
    session: Session, challenge_id: int, now: datetime, kinds: Iterable[str] | None = None
) -> None:
    wanted = None if kinds is None else set(kinds)
    batch = batch_of(session)
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


def add_deadline(session: Session, deadline: Deadline) -> None:
    session.add(deadline)
    batch = batch_of(session)
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


def last_chronology(session: Session, challenge_id: int) -> Tail | None:
    batch = batch_of(session)
    if batch is not None and challenge_id in batch.tails:
        return batch.tails[challenge_id]
    row = session.execute(
        select(ChronologyEntry.seq, ChronologyEntry.occurred_at)
        .where(ChronologyEntry.challenge_id == challenge_id)
        .order_by(ChronologyEntry.seq.desc())
        .limit(1)
    ).one_or_none()
    return Tail(row.seq, row.occurred_at) if row is not None else None


def appended(session: Session, challenge_id: int, seq: int, occurred_at: datetime) -> None:
    """Note a chronology entry added in this session, for the batch's next `last_chronology`."""
    batch = batch_of(session)
    if batch is not None and challenge_id in batch.tails:
        batch.tails[challenge_id] = Tail(seq, occurred_at)


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


# -- the sweep's batch ---------------------------------------------------------------------------


@dataclass
class Batch:
    """What one sweep batch has read, so applying a few hundred deadlines costs a few queries.

    Valid only inside the transaction that claimed the batch: its challenges are locked (FOR
    UPDATE on PostgreSQL, the write lock on SQLite), so nobody else can append to their
    chronology or change their deadlines meanwhile. Lives in `session.info`; the functions above
    consult it when it is there and fall back to SQL when it is not.
    """

    # Strong references: the session's identity map holds objects only weakly.
    challenges: dict[int, Challenge] = field(default_factory=dict)
    tails: dict[int, Tail | None] = field(default_factory=dict)
    pending: dict[int, list[Deadline]] = field(default_factory=dict)
    contacts: dict[tuple[int, str], list[Contact]] = field(default_factory=dict)
    org_ids: set[int] = field(default_factory=set)
    by_partnership: dict[tuple[str, str], list[Contact]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)


_BATCH = "escalation.batch"


def batch_of(session: Session) -> Batch | None:
    batch = session.info.get(_BATCH)
    return batch if isinstance(batch, Batch) else None


def load_batch(session: Session, challenge_ids: Sequence[int]) -> Batch:
    """Read the claimed challenges with their stages, pending deadlines, chronology tails and
    directory contacts, in five queries, and attach the result to the session."""
    ids = sorted(set(challenge_ids))
    batch = Batch(tails=dict.fromkeys(ids), pending={i: [] for i in ids})
    challenges = session.scalars(
        select(Challenge)
        .where(Challenge.id.in_(ids))
        .options(
            selectinload(Challenge.stages),
            selectinload(Challenge.raising_org),
            selectinload(Challenge.responding_org),
        )
    ).all()
    batch.challenges = {challenge.id: challenge for challenge in challenges}
    for deadline in session.scalars(
        select(Deadline)
        .where(Deadline.challenge_id.in_(ids), Deadline.status == DeadlineStatus.PENDING.value)
        .order_by(Deadline.due_at, Deadline.id)
    ):
        batch.pending[deadline.challenge_id].append(deadline)
    last = (
        select(ChronologyEntry.challenge_id, func.max(ChronologyEntry.seq).label("seq"))
        .where(ChronologyEntry.challenge_id.in_(ids))
        .group_by(ChronologyEntry.challenge_id)
        .subquery()
    )
    for row in session.execute(
        select(ChronologyEntry.challenge_id, ChronologyEntry.seq, ChronologyEntry.occurred_at).join(
            last,
            (ChronologyEntry.challenge_id == last.c.challenge_id)
            & (ChronologyEntry.seq == last.c.seq),
        )
    ):
        batch.tails[row.challenge_id] = Tail(row.seq, row.occurred_at)
    batch.org_ids = {c.raising_org_id for c in challenges} | {
        c.responding_org_id for c in challenges
    }
    for contact in session.scalars(
        select(Contact).where(Contact.organisation_id.in_(batch.org_ids)).order_by(Contact.id)
    ):
        batch.contacts.setdefault((contact.organisation_id, contact.role), []).append(contact)
    session.info[_BATCH] = batch
    return batch


def insert_outbox(session: Session, values: dict[str, Any]) -> None:
    """Queue one outbox row; a repeated idempotency key is ignored. In a batch, the rows wait
    for `end_batch`, which inserts them all in one statement."""
    batch = batch_of(session)
    if batch is not None:
        batch.outbox.append(values)
    else:
        _insert_outbox(session, [values])


def _insert_outbox(session: Session, rows: list[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # The table, not the mapped class: a plain executemany, which psycopg pipelines with one
    # parsed statement, rather than one huge multi-row VALUES statement parsed on every batch.
    table: Table = OutboxMessage.__table__  # type: ignore[assignment]
    statement = insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"])
    session.execute(statement, rows)


def discard_batch(session: Session) -> None:
    """Forget the batch (the transaction is being rolled back), writing nothing."""
    session.info.pop(_BATCH, None)


def end_batch(session: Session) -> None:
    """Write what the batch holds back (its queued outbox rows) and detach it."""
    batch = session.info.pop(_BATCH, None)
    if isinstance(batch, Batch) and batch.outbox:
        _insert_outbox(session, batch.outbox)
