"""The common path of every change to a challenge: fire the event on the state machine, apply
its effects, queue its notices and write its chronology entry, in the caller's transaction.

`Recorder` is the part of the service that the use cases (`service`), the sweep and the
dispatcher share. The chronology is kept in order: an entry is never written with an effective
time before the last one's. The real clock is read only to stamp `recorded_at`, so backdating is
always visible.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from escalation.casework import store
from escalation.casework.effects import HANDLERS, Context
from escalation.casework.models import Challenge, ChronologyEntry
from escalation.casework.notices import Notifier, RecordOnly, describe
from escalation.casework.store_batch import Batch
from escalation.errors import EventNotAllowed, InvalidInput
from escalation.rules.machine import Subject, allowed_events, fire
from escalation.rules.model import Protocol
from escalation.rules.registry import ProtocolRegistry
from escalation.rules.states import SYSTEM, Event, split_state

log = logging.getLogger(__name__)


def real_clock() -> datetime:
    return datetime.now(UTC)


class Recorder:
    """What every change to a challenge goes through, whoever makes it."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: ProtocolRegistry,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = real_clock,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.notifier: Notifier = notifier or RecordOnly()
        self.clock = clock

    def protocol_of(self, challenge: Challenge) -> Protocol:
        return self.registry.get(challenge.protocol_id, challenge.protocol_version)

    def require_allowed(self, challenge: Challenge, protocol: Protocol, event: Event) -> None:
        allowed = allowed_events(
            protocol, challenge.state, acknowledged=challenge.level_acknowledged
        )
        if event.value not in allowed_events(protocol, challenge.state, include_sweep=True):
            raise EventNotAllowed(challenge.reference, event.value, challenge.state, allowed)

    def _transition(
        self,
        session: Session,
        challenge: Challenge,
        protocol: Protocol,
        event: Event,
        who: str,
        now: datetime,
        args: dict[str, Any],
        concern: str,
        action: str | None = None,
        batch: Batch | None = None,
    ) -> None:
        """Fire `event`, apply its effects, queue its notices and write its chronology entry."""
        last = store.last_chronology(session, challenge.id, batch)
        _require_in_order(challenge, last, now)
        subject = Subject(state=challenge.state, resolved_level=challenge.resolved_level)
        if not fire(protocol, subject, event, **args):
            raise EventNotAllowed(
                challenge.reference,
                event.value,
                challenge.state,
                allowed_events(
                    protocol, challenge.state, acknowledged=challenge.level_acknowledged
                ),
            )
        ctx = Context(session, challenge, protocol, event, now, who, args, batch)
        for effect in subject.effects:
            HANDLERS[effect.kind](ctx, effect)
        before, challenge.state = challenge.state, subject.state
        level, _ = split_state(subject.state)
        challenge.level = level if level is not None else challenge.level
        for notice in ctx.notices:
            ctx.actions.append(describe(notice))
            event_key = f"entry{(last.seq + 1) if last else 1}"
            queued = self.notifier.queue(session, challenge, notice, now, event_key, batch)
            ctx.actions.extend(queued)
        self._append(
            session,
            challenge,
            last,
            now,
            who,
            event,
            concern,
            "; ".join(([action] if action else []) + ctx.actions),
            "; ".join(ctx.impacts) or "none recorded",
            batch,
        )
        log.info(
            "challenge %s: %s, %s -> %s", challenge.reference, event.value, before, challenge.state
        )

    def _append(
        self,
        session: Session,
        challenge: Challenge,
        last: store.Tail | None,
        now: datetime,
        who: str,
        event: Event | str,
        concern: str,
        action: str,
        impact: str,
        batch: Batch | None,
    ) -> None:
        seq = (last.seq + 1) if last else 1
        session.add(
            ChronologyEntry(
                challenge_id=challenge.id,
                seq=seq,
                occurred_at=now,
                recorded_at=self.clock(),
                who=who,
                event=str(event),
                level=challenge.level,
                concern=concern,
                action=action,
                impact=impact,
            )
        )
        if batch is not None:
            batch.appended(challenge.id, seq, now)

    def record(
        self,
        session: Session,
        challenge: Challenge,
        now: datetime,
        who: str,
        event: str,
        concern: str,
        action: str,
        impact: str,
        batch: Batch | None = None,
    ) -> None:
        """A chronology entry with no transition (reminders, skipped reminders)."""
        last = store.last_chronology(session, challenge.id, batch)
        _require_in_order(challenge, last, now)
        self._append(session, challenge, last, now, who, event, concern, action, impact, batch)

    def transition(
        self,
        session: Session,
        challenge: Challenge,
        event: Event,
        now: datetime,
        args: dict[str, Any],
        concern: str,
        batch: Batch | None = None,
    ) -> None:
        """The sweep's entry point: fire a system event inside the sweep's transaction."""
        protocol = self.protocol_of(challenge)
        self._transition(
            session, challenge, protocol, event, SYSTEM, now, args, concern, batch=batch
        )


def _require_in_order(challenge: Challenge, last: store.Tail | None, now: datetime) -> None:
    if last is not None and now < last.occurred_at:
        raise InvalidInput(
            "now",
            f"{now.isoformat()} is before the last entry in "
            f"{challenge.reference}'s chronology ({last.occurred_at.isoformat()}); "
            "the chronology is kept in order",
        )
