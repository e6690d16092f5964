"""The SQL of pinned protocol versions (rules.pinning): storing a version's content the first time
a challenge is raised on it, reading the stored copies back, and counting who runs on each."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escalation.casework.base import dialect_insert
from escalation.casework.models import Challenge, PinnedProtocol
from escalation.rules.model import Protocol
from escalation.rules.pinning import PinnedCopy
from escalation.rules.states import FINISHED

FINISHED_STATES = sorted(status.value for status in FINISHED)


def pin(session: Session, protocol: Protocol, now: datetime) -> str:
    """Store `protocol`'s content unless its version is pinned already; the stored hash.

    Two processes raising the first challenges on a version at once agree on one copy (the
    insert does nothing on a conflict); a caller whose content differs from the returned hash
    holds a file edited since the version was pinned. A protocol built in code rather than
    read from a file (tests, tools) has no content: nothing is pinned for it."""
    if not protocol.content_hash:
        return ""
    insert = dialect_insert(session)
    session.execute(
        insert(PinnedProtocol)
        .values(
            protocol_id=protocol.id,
            version=protocol.version,
            source_file=protocol.source_file,
            content=protocol.content,
            content_hash=protocol.content_hash,
            pinned_at=now,
        )
        .on_conflict_do_nothing(index_elements=["protocol_id", "version"])
    )
    stored = session.scalar(
        select(PinnedProtocol.content_hash).where(
            PinnedProtocol.protocol_id == protocol.id, PinnedProtocol.version == protocol.version
        )
    )
    assert stored is not None
    return stored


def pinned_copies(session: Session) -> list[PinnedCopy]:
    rows = session.scalars(
        select(PinnedProtocol).order_by(PinnedProtocol.protocol_id, PinnedProtocol.version)
    )
    return [
        PinnedCopy(row.protocol_id, row.version, row.source_file, row.content, row.content_hash)
        for row in rows
    ]


def versions_in_use(session: Session) -> Sequence[tuple[str, int]]:
    """Every (protocol id, version) some challenge, open or finished, was raised on."""
    statement = select(Challenge.protocol_id, Challenge.protocol_version).distinct()
    return [(row[0], row[1]) for row in session.execute(statement)]


def unpinned_in_use(session: Session) -> Sequence[tuple[str, int]]:
    """Versions challenges run on with no pinned copy: raised before versions were pinned."""
    pinned = {(c.protocol_id, c.version) for c in pinned_copies(session)}
    return sorted(set(versions_in_use(session)) - pinned)


def open_challenges_by_version(
    session: Session, protocol_ids: Collection[str] | None = None
) -> dict[tuple[str, int], int]:
    """How many open challenges run on each (protocol id, version), of `protocol_ids` if given."""
    statement = (
        select(Challenge.protocol_id, Challenge.protocol_version, func.count())
        .where(Challenge.state.not_in(FINISHED_STATES))
        .group_by(Challenge.protocol_id, Challenge.protocol_version)
    )
    if protocol_ids is not None:
        statement = statement.where(Challenge.protocol_id.in_(sorted(protocol_ids)))
    return {(row[0], row[1]): row[2] for row in session.execute(statement)}
