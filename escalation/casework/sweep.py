"""The sweep: apply every deadline due as of `now`, once.

It claims the challenges of pending deadlines due by `now`, oldest first, in batches (FOR UPDATE
SKIP LOCKED on the challenge rows on PostgreSQL, so several sweepers share the work; SQLite
serialises writers), and applies every due deadline of each claimed challenge in due order, so
a lapse never overtakes the reminder before it: four sweepers record what one records. A batch
of `batch_size` due deadlines can therefore bring a few more, the later ones of its challenges.
Each deadline is applied with its transition, chronology entry and queued notices, and marked
done, so running the sweep again finds nothing to do.

Catching up after a missed night or week: a reminder whose moment has passed (the deadline it
announced is gone) is recorded as skipped, not sent late; a lapse escalates once, and the new
level's clock starts now, when the escalation is applied, so nobody is hit by a cascade of lapses
that nobody was told about.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from escalation.casework import store, store_batch
from escalation.casework.models import Challenge, Deadline
from escalation.casework.notices import Audience, Notice, NoticeKind, describe
from escalation.casework.service import Service
from escalation.errors import EscalationError, InvalidInput
from escalation.rules.model import FollowUp
from escalation.rules.planner import DeadlineKind, DeadlineStatus
from escalation.rules.registry import ProtocolRegistry
from escalation.rules.states import FINISHED, NOT_CONFIRMED, SYSTEM, Event, Status, split_state
from escalation.rules.workdays import to_local_iso, utc

log = logging.getLogger(__name__)
_WARNED: set[str] = set()
_TRANSIENT = frozenset({"40P01", "40001", "55P03"})  # deadlock, serialisation, lock not available
_RETRIES = 5


@dataclass
class SweepResult:
    now: datetime
    claimed: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    deferred: int = 0
    failed: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "now": to_local_iso(self.now),
            "claimed": self.claimed,
            "applied": dict(self.applied),
            "skipped": self.skipped,
            "deferred": self.deferred,
            "failed": self.failed,
            "warnings": self.warnings,
        }

    def add(self, other: SweepResult) -> None:
        self.claimed += other.claimed
        self.applied.update(other.applied)
        self.skipped += other.skipped
        self.deferred += other.deferred
        self.failed += other.failed

    def summary(self) -> str:
        applied = ", ".join(
            f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(self.applied.items())
        )
        return (
            f"sweep as of {to_local_iso(self.now)}: {self.claimed} due, "
            f"{sum(self.applied.values())} applied ({applied or 'nothing'}), "
            f"{self.skipped} skipped as past, {self.deferred} deferred, {self.failed} failed"
        )


def run_once(
    service: Service, now: datetime, batch_size: int = 200, stop: threading.Event | None = None
) -> SweepResult:
    """Apply everything due as of `now`; safe to run again, and beside other sweepers.

    When `stop` is set (SIGTERM to the worker) the sweep returns after the batch in hand has
    committed; what is left stays due for the next run.
    """
    result = SweepResult(utc(now), warnings=coverage_warnings_for(service.registry, now))
    for warning in result.warnings:
        if warning not in _WARNED:  # once per process, not once per sweep of a long-lived worker
            _WARNED.add(warning)
            log.warning("holiday data: %s", warning)
    passed_over: set[int] = set()
    retries = 0
    while True:
        batch_result = SweepResult(result.now)
        try:
            more = _run_batch(service, batch_result, passed_over, batch_size)
        except OperationalError as exc:
            # A deadlock or serialisation failure rolls the whole batch back: nothing of it
            # was applied, so it is safe to claim again. Anything else is a real error.
            if getattr(exc.orig, "sqlstate", None) not in _TRANSIENT or retries >= _RETRIES:
                raise
            retries += 1
            log.warning("sweep batch rolled back (%s); claiming again", type(exc.orig).__name__)
            continue
        retries = 0
        result.add(batch_result)
        if not more or (stop is not None and stop.is_set()):
            return result


class _OneAtATime(Exception):
    """A deadline of a batch applied all at once failed: apply that batch one by one."""


def _run_batch(
    service: Service, result: SweepResult, passed_over: set[int], batch_size: int
) -> bool:
    """Claim and apply one batch in one transaction; False when nothing was due.

    The batch is first applied all at once: read in a handful of queries, written in one
    flush. If any of its deadlines fails, that transaction rolls back and the batch is applied
    again one deadline at a time, each in a savepoint, so one bad deadline cannot hold up the
    others and is recorded as failed or deferred on its own.
    """
    for together in (True, False):
        attempt = SweepResult(result.now)
        try:
            with service.sessions.begin() as session:
                more = _apply_batch(service, session, attempt, passed_over, batch_size, together)
        except _OneAtATime:
            continue
        result.add(attempt)
        return more
    raise AssertionError("unreachable: the one-at-a-time pass does not raise _OneAtATime")


def _apply_batch(
    service: Service,
    session: Session,
    result: SweepResult,
    passed_over: set[int],
    batch_size: int,
    together: bool,
) -> bool:
    claim = store.claim_due(session, result.now, batch_size, passed_over)
    if not claim.deadlines:
        # Nothing due, or only challenges another sweeper finished while this one claimed.
        return bool(claim.challenge_ids)
    if not together:
        for deadline in claim.deadlines:
            _apply_one(service, session, deadline, result, passed_over)
        return True
    # If a deadline fails, the batch (and the emails it holds) goes with the rolled-back
    # transaction: nothing of it was written.
    batch = store_batch.load_batch(session, claim.challenge_ids)
    for deadline in claim.deadlines:
        result.claimed += 1
        outcome = _apply_together(service, session, deadline, result.now, batch)
        _count(result, deadline, outcome)
    store_batch.end_batch(session, batch)
    return True


def _apply_together(
    service: Service, session: Session, deadline: Deadline, now: datetime, batch: store_batch.Batch
) -> DeadlineStatus:
    try:
        return apply_deadline(service, session, deadline, now, batch)
    except EscalationError as exc:
        raise _OneAtATime() from exc


def coverage_warnings_for(registry: ProtocolRegistry, now: datetime) -> list[str]:
    """Holiday-data warnings for every loaded protocol, each said once."""
    warnings: list[str] = []
    for protocol in registry.all():
        calendar = protocol.calendar()
        for warning in calendar.coverage_warnings(calendar.local_date(now)):
            if warning not in warnings:
                warnings.append(warning)
    return warnings


def _apply_one(
    service: Service,
    session: Session,
    deadline: Deadline,
    result: SweepResult,
    passed_over: set[int],
) -> None:
    result.claimed += 1
    savepoint = session.begin_nested()
    try:
        outcome = apply_deadline(service, session, deadline, result.now)
        savepoint.commit()
    except InvalidInput as exc:
        # An event was recorded with a later --now than this sweep's: leave it for a later run.
        savepoint.rollback()
        passed_over.add(deadline.id)
        result.deferred += 1
        log.warning("deadline %s deferred: %s", deadline.id, exc)
        return
    except EscalationError as exc:
        savepoint.rollback()  # marked failed below: no longer pending, so never claimed again
        deadline.status, deadline.processed_at = DeadlineStatus.FAILED.value, result.now
        deadline.detail = type(exc).__name__
        result.failed += 1
        log.error("deadline %s (%s) failed: %s", deadline.id, deadline.kind, type(exc).__name__)
        return
    _count(result, deadline, outcome)


def _count(result: SweepResult, deadline: Deadline, outcome: DeadlineStatus) -> None:
    if outcome == DeadlineStatus.SKIPPED:
        result.skipped += 1
    elif outcome == DeadlineStatus.DONE:
        result.applied[deadline.kind] += 1


def apply_deadline(
    service: Service,
    session: Session,
    deadline: Deadline,
    now: datetime,
    batch: store_batch.Batch | None = None,
) -> DeadlineStatus:
    """Act on one claimed deadline; returns DONE or SKIPPED (or CANCELLED if moot).

    With the sweep's `batch` (which holds the deadline's challenge), read from it and change it.
    """
    if batch is not None:
        # Loaded with the batch, and cancellations within it are made on these same objects.
        challenge = batch.challenges[deadline.challenge_id]
    else:
        challenge = store.load_challenge_by_id(session, deadline.challenge_id)
        # An earlier deadline of this batch may have cancelled this one (cancel_pending is a
        # bulk UPDATE that leaves the claimed objects' status stale): read it again.
        session.refresh(deadline)
    if deadline.status != DeadlineStatus.PENDING.value:
        return DeadlineStatus.CANCELLED
    deadline.processed_at = now
    if split_state(challenge.state)[1] in FINISHED:
        deadline.status = DeadlineStatus.CANCELLED.value
        return DeadlineStatus.CANCELLED
    if deadline.expires_at is not None and deadline.expires_at <= now:
        deadline.status = DeadlineStatus.SKIPPED.value
        _record_skip(service, session, challenge, deadline, now, batch)
        return DeadlineStatus.SKIPPED
    deadline.status = DeadlineStatus.DONE.value  # before the action, which cancels what is pending
    _ACTIONS[DeadlineKind(deadline.kind)](service, session, challenge, deadline, now, batch)
    return DeadlineStatus.DONE


_SKIPPED_NOTICE = {DeadlineKind.ACKNOWLEDGEMENT_DUE.value: "acknowledgement-overdue notice"}


def _record_skip(
    service: Service,
    session: Session,
    challenge: Challenge,
    deadline: Deadline,
    now: datetime,
    batch: store_batch.Batch | None,
) -> None:
    what = _SKIPPED_NOTICE.get(deadline.kind, deadline.kind.replace("_", " "))
    service.record(
        session,
        challenge,
        now,
        SYSTEM,
        f"{deadline.kind}_skipped",
        f"{what.capitalize()} due {to_local_iso(deadline.due_at)} was not sent",
        "Skipped: the sweep ran after the deadline it announced had passed",
        "none: a later step of the protocol has already taken over",
        batch,
    )


Action = Callable[[Service, Session, Challenge, Deadline, datetime, store_batch.Batch | None], None]


def _remind(kind: NoticeKind, audience: tuple[Audience, ...], concern: str) -> Action:
    def act(
        service: Service,
        session: Session,
        challenge: Challenge,
        deadline: Deadline,
        now: datetime,
        batch: store_batch.Batch | None,
    ) -> None:
        stage = challenge.current_stage
        due = stage.due_at if stage is not None and stage.ended_at is None else None
        if kind is NoticeKind.REMINDER and stage is not None:
            stage.reminders_sent += 1
        notice = Notice(kind, challenge.level, audience, due)
        key = f"deadline{deadline.id}"
        queued = service.notifier.queue(session, challenge, notice, now, key, batch)
        lines = [describe(notice), *queued]
        by = f"; due by {to_local_iso(due)}" if due else ""
        service.record(
            session,
            challenge,
            now,
            SYSTEM,
            kind.value,
            concern.format(level=challenge.level),
            "; ".join(lines),
            f"{deadline.detail or kind.value}{by}",
            batch,
        )

    return act


def _fire(event: Event, concern: str, **args: str) -> Action:
    def act(
        service: Service,
        session: Session,
        challenge: Challenge,
        deadline: Deadline,
        now: datetime,
        batch: store_batch.Batch | None,
    ) -> None:
        text = concern.format(due=to_local_iso(deadline.due_at), level=challenge.level)
        service.transition(session, challenge, event, now, {"reason": text, **args}, text, batch)

    return act


def _follow_up(
    service: Service,
    session: Session,
    challenge: Challenge,
    deadline: Deadline,
    now: datetime,
    batch: store_batch.Batch | None,
) -> None:
    """`on_lapse: prompt, then …`: the raiser was prompted and has not escalated in time."""
    protocol = service.registry.get(challenge.protocol_id, challenge.protocol_version)
    level, status = split_state(challenge.state)
    rule = protocol.level(level).lapse_follow_up if level is not None else None
    if rule is None or status is not Status.LAPSE_PROMPT:
        # Planned for a level whose protocol (as this process reads it) has no follow-up, or a
        # challenge no longer waiting on the raiser: failed, for a person, not applied blind.
        raise EscalationError(
            f"lapse follow-up of {challenge.reference}: {protocol.key} level {level} has no "
            f"follow-up, or the challenge is {challenge.state}"
        )
    act = _ESCALATE_AFTER_PROMPT if rule.action is FollowUp.ESCALATE else _ALERT_AFTER_PROMPT
    act(service, session, challenge, deadline, now, batch)


_ESCALATE_AFTER_PROMPT = _fire(
    Event.LAPSE, "Level {level} lapsed and the raiser has not escalated: risen as the protocol says"
)
_ALERT_AFTER_PROMPT = _remind(
    NoticeKind.LAPSE_ALERT,
    (Audience.PARTNERSHIP, Audience.RAISER, Audience.RAISER_MANAGER),
    "Level {level} lapsed unanswered and the raiser has not escalated",
)

_ACTIONS = {
    DeadlineKind.ACKNOWLEDGEMENT_DUE: _remind(
        NoticeKind.ACKNOWLEDGEMENT_OVERDUE,
        (Audience.RESPONDER,),
        "Level {level} challenge not yet acknowledged",
    ),
    DeadlineKind.REMINDER: _remind(
        NoticeKind.REMINDER, (Audience.RESPONDER,), "No response yet at level {level}"
    ),
    DeadlineKind.OVERDUE_REMINDER: _remind(
        NoticeKind.OVERDUE,
        (Audience.RESPONDER, Audience.RAISER, Audience.PARTNERSHIP),
        "Level {level} response is overdue",
    ),
    DeadlineKind.RAISER_REMINDER: _remind(
        NoticeKind.RAISER_REMINDER,
        (Audience.RAISER,),
        "The raiser has not yet accepted, escalated, reopened or closed",
    ),
    DeadlineKind.OUTCOME_REMINDER: _remind(
        NoticeKind.OUTCOME_REMINDER, (Audience.RAISER,), "The outcome check has not been answered"
    ),
    DeadlineKind.RESPONSE_DUE: _fire(Event.LAPSE, "No response at level {level} by {due}"),
    DeadlineKind.OUTCOME_CHECK: _fire(
        Event.REQUEST_OUTCOME, "Outcome check due: has the child's situation improved?"
    ),
    DeadlineKind.LAPSE_FOLLOW_UP: _follow_up,
    DeadlineKind.OUTCOME_CLOSE: _fire(
        Event.CLOSE, "Outcome check not answered by {due}", closed_reason=NOT_CONFIRMED
    ),
}
