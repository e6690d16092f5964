"""The dispatcher: send pending outbox messages, then record what happened.

Each batch claims pending rows due for an attempt (FOR UPDATE SKIP LOCKED on PostgreSQL; the
transaction's BEGIN IMMEDIATE on SQLite), hands them to the mailer, and records every outcome
in the same transaction:
- sent: marked sent;
- temporary failure (4xx, timeout, dropped or refused connection): retried later with
  exponential backoff, until the message is older than the retry limit;
- permanent failure (5xx, a refused recipient), or out of retries: marked failed, written into
  the challenge's chronology, and the partnership's admin contacts are alerted.
A crash between sending and committing leaves the batch's rows pending, so they are sent again
with the same Message-ID (at least once; SMTP receivers can recognise the repeat by its
Message-ID). Nothing is dropped. To keep that repeat small, a mailer with connections (SMTP)
is held open for the whole run and given batches of one message per connection: each batch is
committed as soon as the server has answered its messages, so a crash re-sends at most the one
message each connection had in flight, and the next run records those first (they keep their
place at the head of the queue). The file mailer takes whole batches: a re-send overwrites the
same file. One transaction per connection, each committing its own message, measured slower
on two cores than these batches (threads, each with an event loop, contend for the GIL).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Event
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session

from escalation.casework import store
from escalation.casework.models_service import OutboxMessage, OutboxStatus
from escalation.casework.service import Service
from escalation.errors import InvalidInput
from escalation.mail.mailer import Delivery, Outcome
from escalation.mail.store import claim_pending, failed_messages

log = logging.getLogger(__name__)
DISPATCHER = "system (dispatcher)"
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
DEFAULT_RETRY_LIMIT = timedelta(hours=48)
# A message queued long before the dispatcher first ran (an outage, a missed night) still gets
# this many attempts before a temporary failure is taken as final.
MIN_ATTEMPTS = 3
NO_OUTCOME = Outcome(Delivery.TEMPORARY, "no outcome reported")


class Mailer(Protocol):
    def send_batch(self, rows: Sequence[OutboxMessage]) -> dict[int, Outcome]: ...


class Connections(Mailer, Protocol):
    """Open connections: at most `in_flight` messages of a batch are on the wire at once
    (None: no connection is usable, so none is)."""

    @property
    def in_flight(self) -> int | None: ...


@runtime_checkable
class ConnectingMailer(Mailer, Protocol):
    """A mailer whose connections can stay open across batches (`SmtpMailer`)."""

    def connected(self) -> AbstractContextManager[Connections]: ...


@dataclass
class DispatchResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, … minutes after each failed attempt, at most an hour."""
    delay: timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(delay, LONGEST_RETRY)


def dispatch_once(
    service: Service,
    mailer: Mailer,
    now: datetime,
    batch_size: int = 100,
    retry_limit: timedelta = DEFAULT_RETRY_LIMIT,
    stop: Event | None = None,
) -> DispatchResult:
    """Send everything pending as of `now`, batch by batch, and record every outcome.

    `batch_size` bounds the rows claimed per transaction; a mailer with connections gets
    fewer, one per connection (see the module docstring). When `stop` is set the dispatcher
    returns after the batch in hand has been recorded.
    """
    result = DispatchResult()
    opened: AbstractContextManager[Connections | None] = (
        mailer.connected() if isinstance(mailer, ConnectingMailer) else nullcontext()
    )
    with opened as connections:
        sender = mailer if connections is None else connections
        while stop is None or not stop.is_set():
            in_flight = None if connections is None else connections.in_flight
            size = batch_size if in_flight is None else min(batch_size, in_flight)
            with service.sessions.begin() as session:
                batch = claim_pending(session, now, size)
                if not batch:
                    break
                outcomes = sender.send_batch(batch)
                for row in batch:
                    outcome = outcomes.get(row.id, NO_OUTCOME)
                    _record(service, session, row, outcome, now, retry_limit, result)
    if result.sent or result.retrying or result.failed:
        log.info(
            "dispatch: %d sent, %d to retry, %d failed", result.sent, result.retrying, result.failed
        )
    return result


def _record(
    service: Service,
    session: Session,
    row: OutboxMessage,
    outcome: Outcome,
    now: datetime,
    retry_limit: timedelta,
    result: DispatchResult,
) -> None:
    row.attempts += 1
    row.last_error = None if outcome.delivery is Delivery.SENT else outcome.detail[:500]
    if outcome.delivery is Delivery.SENT:
        row.status, row.sent_at = OutboxStatus.SENT.value, now
        result.sent += 1
        return
    in_window = now - row.created_at < retry_limit or row.attempts < MIN_ATTEMPTS
    if outcome.delivery is Delivery.TEMPORARY and in_window:
        row.next_attempt_at = now + backoff(row.attempts)
        result.retrying += 1
        return
    row.status = OutboxStatus.FAILED.value
    result.failed += 1
    log.warning("outbox %s (%s) failed: %s", row.id, row.kind, outcome.detail)
    record_failure(service, session, row, now)


def record_failure(service: Service, session: Session, row: OutboxMessage, now: datetime) -> None:
    """The failure becomes a visible chronology event and an alert to the partnership's admins."""
    if row.challenge_id is None:
        return
    challenge = store.load_challenge_by_id(session, row.challenge_id)
    last = store.last_chronology(session, challenge.id)
    when = max(now, last.occurred_at) if last else now  # keep the chronology in order
    lines = []
    if row.kind != "undeliverable":  # never alert about an alert: that could loop
        problem = f"an email to {row.recipient_name} ({row.recipient_role}) was not delivered"
        lines = service.notifier.alert(session, challenge, problem, when, f"outbox{row.id}")
    service.record(
        session,
        challenge,
        when,
        DISPATCHER,
        "email_failed",
        f"The {row.kind.replace('_', ' ')} email to {row.recipient_name} "
        f"({row.recipient_role}) could not be delivered",
        "; ".join([f"marked failed after {row.attempts} attempt(s): {row.last_error}", *lines]),
        "this person has not been told by email; contact them another way",
    )


def retry(session: Session, now: datetime, message_id: int | None) -> int:
    """Put one failed message (or every failed one) back in the queue; returns how many.

    The attempt count starts again, so a re-queued message gets MIN_ATTEMPTS more tries even
    when it is older than the retry limit; its creation time (the email's Date) is kept.
    """
    rows = failed_messages(session, message_id)
    for row in rows:
        row.status, row.next_attempt_at, row.attempts = OutboxStatus.PENDING.value, now, 0
    return len(rows)


def dismiss(
    service: Service, session: Session, now: datetime, message_id: int, who: str, how: str
) -> OutboxMessage:
    """Mark a failed message as dealt with another way, in the challenge's chronology.

    A failed message keeps `escalation health` unhealthy until it is delivered (`retry`) or
    dismissed: someone has to have told the person, and the record says who and how.
    """
    row = session.get(OutboxMessage, message_id, with_for_update=True)
    if row is None or row.status != OutboxStatus.FAILED.value:
        state = "no outbox message" if row is None else f"message is {row.status}, not failed"
        raise InvalidInput("message", f"{message_id}: {state}; only a failed email is dismissed")
    row.status = OutboxStatus.DISMISSED.value
    if row.challenge_id is not None:
        challenge = store.load_challenge_by_id(session, row.challenge_id)
        last = store.last_chronology(session, challenge.id)
        service.record(
            session,
            challenge,
            max(now, last.occurred_at) if last else now,
            who,
            "email_failure_dismissed",
            f"The {row.kind.replace('_', ' ')} email to {row.recipient_name} "
            f"({row.recipient_role}) that could not be delivered was dealt with another way",
            how,
            "the email will not be sent again",
        )
    return row
