"""The use cases: one database transaction each, state + stages + deadlines + chronology + notices.

Every use case takes `now`, the effective time of the event (the real clock, or `--now` for
simulation); the real clock is read only to stamp `recorded_at` on chronology entries, so
backdating is always visible. An event is checked against the state machine before anything is
written, and any error rolls the whole transaction back: nothing is ever half-applied. Each use
case checks its input and names its event; firing it and writing what follows is the common
path in `recording`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from escalation.casework import intake, store, store_pins
from escalation.casework.intake import RaiseRequest, Resolution
from escalation.casework.models import Challenge, Organisation
from escalation.casework.recording import Recorder
from escalation.errors import InvalidInput, NotFound
from escalation.rules.model import Protocol
from escalation.rules.pinning import ProtocolDrifted, refuse_drifted
from escalation.rules.states import Event
from escalation.rules.workdays import utc

CLOSED_BY_HAND = "closed after the outcome check"
MAX_EXTENSION = timedelta(days=366)  # an agreed extension, not a way to park a challenge for ever


class Service(Recorder):
    """The use cases, each in its own transaction; the common path is `Recorder`'s."""

    # -- raising -----------------------------------------------------------------------------

    def raise_challenge(self, request: RaiseRequest, now: datetime) -> str:
        """Record a new challenge and open its first level; returns the new reference."""
        now = utc(now)
        with self.sessions.begin() as session:
            challenge, protocol, level = self._new_challenge(session, request, now)
            level_note = f" at level {level} — {challenge.start_reason}" if level > 1 else ""
            self._transition(
                session,
                challenge,
                protocol,
                Event.RAISE,
                challenge.raiser_name,
                now,
                {"target_level": level},
                challenge.concern_summary,
                f"Challenge raised{level_note}",
            )
            return challenge.reference

    def _new_challenge(
        self, session: Session, request: RaiseRequest, now: datetime
    ) -> tuple[Challenge, Protocol, int]:
        protocol = self._protocol_for(request.partnership)
        refuse_drifted(self.registry, protocol)
        level, reason = intake.start_level(request.start_level, request.start_reason, protocol)
        fields = _raise_fields(request, protocol, now)
        raising = _organisation(session, "raising-org", request.raising_org, request.raising_org_id)
        responding = _organisation(
            session, "responding-org", request.responding_org, request.responding_org_id
        )
        intake.responding_org(protocol, level, raising.id, responding)
        year = now.astimezone(protocol.calendar().tz).year
        challenge = Challenge(
            reference=store.next_reference(session, protocol.reference_prefix, year),
            partnership=protocol.partnership,
            protocol_id=protocol.id,
            protocol_version=protocol.version,
            state="new",
            level=None,
            raising_org_id=raising.id,
            responding_org_id=responding.id,
            raised_at=now,
            start_reason=reason,
            **fields,
        )
        session.add(challenge)
        session.flush()
        if store_pins.pin(session, protocol, now) != protocol.content_hash:
            # Pinned meanwhile by another process that read a different file: this one holds a
            # file edited in place (or its copy from before the edit).
            raise ProtocolDrifted(
                f"no new challenge can be raised on {protocol.key}: {protocol.source_file} "
                "differs from the copy pinned when the version was first used; restart the "
                "service and run `escalation workflows validate`"
            )
        return challenge, protocol, level

    def _protocol_for(self, partnership: str) -> Protocol:
        known = intake.partnership("partnership", partnership, self.registry.partnerships())
        return self.registry.for_partnership(known)

    # -- events on an existing challenge -----------------------------------------------------

    def acknowledge(self, reference: str, who: str, now: datetime) -> None:
        def check(challenge: Challenge) -> dict[str, Any]:
            stage = challenge.current_stage
            if stage is not None and stage.acknowledged_at is not None:
                raise InvalidInput(
                    "acknowledge",
                    f"level {stage.level} was already acknowledged by {stage.acknowledged_by}",
                )
            return {}

        self._event(reference, Event.ACKNOWLEDGE, who, now, check, "Challenge received")

    def respond(
        self,
        reference: str,
        who: str,
        kind: str,
        summary: str,
        actions: list[str] | tuple[str, ...],
        now: datetime,
    ) -> None:
        text = intake.text("summary", summary)
        args = {
            "kind": intake.response_kind(kind),
            "summary": text,
            "actions": intake.actions(actions),
        }
        self._event(reference, Event.RESPOND, who, now, lambda _: args, text)

    def accept(self, reference: str, who: str, resolution: Resolution, now: datetime) -> None:
        args = intake.resolution(resolution)
        self._event(
            reference,
            Event.ACCEPT,
            who,
            now,
            lambda _: args,
            f"Raiser accepts the response. Outcome: {args['statement']}",
        )

    def resolve(self, reference: str, who: str, resolution: Resolution, now: datetime) -> None:
        args = intake.resolution(resolution)
        self._event(
            reference, Event.RESOLVE, who, now, lambda _: args, f"Outcome: {args['statement']}"
        )

    def escalate(
        self, reference: str, who: str, reason: str, now: datetime, to_level: int | None = None
    ) -> None:
        reason = intake.text("reason", reason, 2000)

        def check(challenge: Challenge) -> dict[str, Any]:
            return {"reason": reason, "target_level": self._target_level(challenge, to_level)}

        self._event(reference, Event.ESCALATE, who, now, check, reason)

    def _target_level(self, challenge: Challenge, to_level: int | None) -> int:
        current = challenge.level or challenge.resolved_level or 0
        top = self.protocol_of(challenge).top_level
        target = current + 1 if to_level is None else to_level
        if target <= current or target > top:
            raise InvalidInput(
                "to-level", f"{target} is not a level above {current} (levels go up to {top})"
            )
        return target

    def pause(
        self, reference: str, requested_by: str, agreed_by: str, reason: str, now: datetime
    ) -> None:
        args = _agreement(requested_by, agreed_by) | {"reason": intake.text("reason", reason)}
        self._event(
            reference, Event.PAUSE, args["requested_by"], now, lambda _: args, args["reason"]
        )

    def resume(self, reference: str, who: str, now: datetime, note: str | None = None) -> None:
        self._event(
            reference,
            Event.RESUME,
            who,
            now,
            lambda _: {},
            intake.optional_text("note", note) or "Pause ended",
        )

    def extend(
        self,
        reference: str,
        requested_by: str,
        agreed_by: str,
        until: date,
        reason: str,
        now: datetime,
    ) -> None:
        agreement = _agreement(requested_by, agreed_by)
        why = intake.text("reason", reason)
        until = intake.within_years("until", until)
        if until > utc(now).date() + MAX_EXTENSION:
            raise InvalidInput("until", f"{until.isoformat()} is more than a year away")
        args: dict[str, Any] = {**agreement, "reason": why, "until": until}
        self._event(reference, Event.EXTEND, agreement["requested_by"], now, lambda _: args, why)

    def withdraw(self, reference: str, who: str, reason: str, now: datetime) -> None:
        reason = intake.text("reason", reason)
        self._event(reference, Event.WITHDRAW, who, now, lambda _: {"reason": reason}, reason)

    def answer_outcome(
        self, reference: str, who: str, improved: bool, note: str | None, now: datetime
    ) -> None:
        args = {
            "improved": improved,
            "closed_reason": "outcome confirmed: the child's situation has improved",
        }
        self._event(
            reference,
            Event.OUTCOME,
            who,
            now,
            lambda _: args,
            intake.optional_text("note", note)
            or "Has the child's situation improved? " + ("Yes" if improved else "No"),
        )

    def reopen(self, reference: str, who: str, reason: str, now: datetime) -> None:
        reason = intake.text("reason", reason)
        self._event(reference, Event.REOPEN, who, now, lambda _: {"reason": reason}, reason)

    def close(self, reference: str, who: str, reason: str, now: datetime) -> None:
        reason = intake.text("reason", reason)
        self._event(
            reference,
            Event.CLOSE,
            who,
            now,
            # Who and why are in the chronology entry; the column holds the kind of closure
            # (64 characters: a free-text reason would not fit, and failed on PostgreSQL).
            lambda _: {"closed_reason": CLOSED_BY_HAND},
            reason,
        )

    # -- the common path ---------------------------------------------------------------------

    def _event(
        self,
        reference: str,
        event: Event,
        who: str,
        now: datetime,
        check: Callable[[Challenge], dict[str, Any]],
        concern: str,
    ) -> None:
        who = intake.text("by", who, intake.NAME_LIMIT)
        now = utc(now)
        with self.sessions.begin() as session:
            challenge = store.load_challenge(session, reference)
            protocol = self.protocol_of(challenge)
            self.require_allowed(challenge, protocol, event)
            args = check(challenge)
            self._transition(session, challenge, protocol, event, who, now, args, concern)


def _organisation(
    session: Session, field: str, name: str, organisation_id: int | None = None
) -> Organisation:
    """The named organisation; a miss names the option, e.g. `raising-org: no organisation …`."""
    if organisation_id is not None:
        found = session.get(Organisation, organisation_id)
        if found is None:
            raise NotFound(f"{field}: no organisation with id {organisation_id}")
        return found
    try:
        return store.find_organisation(session, intake.text(field, name))
    except NotFound as exc:
        raise NotFound(f"{field}: {exc}") from None


def _agreement(requested_by: str, agreed_by: str) -> dict[str, str]:
    requested = intake.text("requested-by", requested_by, intake.NAME_LIMIT)
    agreed = intake.text("agreed-by", agreed_by, intake.NAME_LIMIT)
    if requested.casefold() == agreed.casefold():
        raise InvalidInput(
            "agreed-by",
            "must be someone other than the person asking: the other "
            "side (or the partnership at level 4) agrees",
        )
    return {"requested_by": requested, "agreed_by": agreed}


def _raise_fields(request: RaiseRequest, protocol: Protocol, now: datetime) -> dict[str, Any]:
    today = now.astimezone(protocol.calendar().tz).date()
    if request.siblings_affected < 0:
        raise InvalidInput("siblings-affected", "must be 0 or more")
    return {
        "raiser_name": intake.line("raiser-name", request.raiser_name),
        "raiser_email": intake.email("raiser-email", request.raiser_email),
        "responding_team": intake.optional_line("responding-team", request.responding_team),
        "responder_name": intake.optional_line("responder-name", request.responder_name),
        "responder_email": intake.email("responder-email", request.responder_email),
        "child_ref": intake.text("child-ref", request.child_ref, intake.REFERENCE_LIMIT),
        "child_initials": intake.initials(request.child_initials),
        "child_birth_year": intake.birth_year(request.child_birth_year, now),
        "siblings_affected": request.siblings_affected,
        "category": intake.category(request.category),
        "decision_what": intake.text("decision", request.decision),
        "decision_date": intake.past_date("decision-date", request.decision_date, today),
        "decision_ref": intake.optional_text(
            "decision-ref", request.decision_ref, intake.REFERENCE_LIMIT
        ),
        "need_raiser_view": intake.need_level(
            "need-raiser-view", request.need_raiser_view, protocol
        ),
        "need_decision": intake.need_level("need-decision", request.need_decision, protocol),
        "concern_summary": intake.text("concern", request.concern),
        "evidence": intake.optional_text("evidence", request.evidence),
        "desired_outcome": intake.text("desired-outcome", request.desired_outcome),
        "voice_of_child": intake.text("voice-of-child", request.voice_of_child),
        "urgent": bool(request.urgent),
    }
