"""The dispatcher: send pending outbox messages, then mark them sent. Record first, send later.

Each batch claims pending rows due for an attempt (FOR UPDATE SKIP LOCKED on PostgreSQL) and
marks each one sent only after the mailer has accepted it, in the same transaction. A crash
between sending and committing leaves the row pending, so it is sent again with the same
Message-ID (at-least-once; the file mailer overwrites the same file, SMTP receivers can
de-duplicate by Message-ID). Nothing is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from escalation.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


class Mailer(Protocol):
    def send(self, row: OutboxMessage) -> object: ...


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0


def claim_pending(session: Session, now: datetime, limit: int) -> Sequence[OutboxMessage]:
    return session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING.value, OutboxMessage.next_attempt_at <= now
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()


def dispatch_once(
    sessions: sessionmaker[Session], mailer: Mailer, now: datetime, batch_size: int = 100
) -> DispatchResult:
    """Send everything pending as of `now`, batch by batch."""
    result = DispatchResult()
    while True:
        with sessions.begin() as session:
            batch = claim_pending(session, now, batch_size)
            if not batch:
                return result
            for row in batch:
                mailer.send(row)
                row.status, row.sent_at = OutboxStatus.SENT.value, now
                row.attempts += 1
                result.sent += 1
        log.info("dispatch: %d sent", result.sent)
