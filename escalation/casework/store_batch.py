"""The sweep's batch: the rows of a few hundred claimed challenges, read in five queries, and the
outbox rows their deadlines queue, written in one statement at the end.

The sweep builds a `Batch` with `load_batch` and passes it explicitly to everything that applies
a deadline of it (the service, the effects, the notifier); the store functions that take a
`batch` answer from it instead of issuing one query per deadline. `end_batch` writes what it
holds back. A batch whose transaction is rolled back is simply dropped: nothing of it was
written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from escalation.casework.models import Challenge, ChronologyEntry, Contact, Deadline
from escalation.casework.store import Tail, insert_outbox_rows
from escalation.rules.planner import DeadlineStatus


@dataclass
class Batch:
    """What one sweep batch has read, so applying a few hundred deadlines costs a few queries.

    Valid only inside the transaction that claimed the batch: its challenges are locked (FOR
    UPDATE on PostgreSQL, the write lock on SQLite), so nobody else can append to their
    chronology or change their deadlines meanwhile.
    """

    # Strong references: the session's identity map holds objects only weakly.
    challenges: dict[int, Challenge] = field(default_factory=dict)
    tails: dict[int, Tail | None] = field(default_factory=dict)
    pending: dict[int, list[Deadline]] = field(default_factory=dict)
    contacts: dict[tuple[int, str], list[Contact]] = field(default_factory=dict)
    org_ids: set[int] = field(default_factory=set)
    by_partnership: dict[tuple[str, str], list[Contact]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def appended(self, challenge_id: int, seq: int, occurred_at: datetime) -> None:
        """Note a chronology entry added meanwhile, for the next `store.last_chronology`."""
        if challenge_id in self.tails:
            self.tails[challenge_id] = Tail(seq, occurred_at)


def load_batch(session: Session, challenge_ids: Sequence[int]) -> Batch:
    """Read the claimed challenges with their stages, pending deadlines, chronology tails and
    directory contacts, in five queries."""
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
    _load_tails(session, batch, ids)
    batch.org_ids = {c.raising_org_id for c in challenges} | {
        c.responding_org_id for c in challenges
    }
    for contact in session.scalars(
        select(Contact).where(Contact.organisation_id.in_(batch.org_ids)).order_by(Contact.id)
    ):
        batch.contacts.setdefault((contact.organisation_id, contact.role), []).append(contact)
    return batch


def _load_tails(session: Session, batch: Batch, ids: list[int]) -> None:
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


def end_batch(session: Session, batch: Batch) -> None:
    """Write what the batch holds back: its queued outbox rows, in one statement."""
    if batch.outbox:
        insert_outbox_rows(session, batch.outbox)
