"""Who must be told what: the notices a transition produces, and the port that sends them.

A `Notice` says what happened and which sides of the dispute must hear of it; it carries no
child detail and no free text. The service hands every notice to a `Notifier` inside the same
transaction as the state change. The core engine's notifier only records the notice in the
chronology entry; the email outbox plugs in here by implementing `Notifier.queue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

from escalation.casework.models import Challenge

if TYPE_CHECKING:
    from escalation.casework.store_batch import Batch


class NoticeKind(StrEnum):
    """Every event that is announced (PROTOCOL.md §5)."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    ACKNOWLEDGEMENT_OVERDUE = "acknowledgement_overdue"
    RESPONSE_RECEIVED = "response_received"
    REMINDER = "reminder"
    OVERDUE = "overdue"
    ESCALATED_UNANSWERED = "escalated_unanswered"
    ESCALATED_BY_RAISER = "escalated_by_raiser"
    LAPSE_PROMPT = "lapse_prompt"
    LAPSE_ALERT = "lapse_alert"  # prompted, not escalated in time: the partnership is told
    RAISER_REMINDER = "raiser_reminder"
    PAUSED = "paused"
    RESUMED = "resumed"
    EXTENDED = "extended"
    WITHDRAWN = "withdrawn"
    RESOLVED = "resolved"
    OUTCOME_CHECK = "outcome_check"
    OUTCOME_REMINDER = "outcome_reminder"
    REOPENED = "reopened"
    CLOSED = "closed"


class Audience(StrEnum):
    RAISER = "raiser"  # the raising side's contacts for the level
    RESPONDER = "responder"  # the responding side's contacts for the level
    # The raiser's managers as the protocol names them: the raising side's roles at the next
    # level (emailed as the raising side; no one when there is no next level).
    RAISER_MANAGER = "raiser_manager"
    PARTNERSHIP = "partnership"  # the partnership business unit
    ADMIN = "admin"  # the partnership's administrators of this service (undeliverable alerts)


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    level: int | None
    audience: tuple[Audience, ...]
    due_at: datetime | None = None  # what the reader is asked to do, by when


class Notifier(Protocol):
    def queue(
        self,
        session: Session,
        challenge: Challenge,
        notice: Notice,
        now: datetime,
        event_key: str,
        batch: Batch | None = None,
    ) -> list[str]:
        """Queue the notice for delivery; return one line per recipient for the chronology.

        `event_key` names the event uniquely within the challenge (its chronology entry, or the
        deadline that caused it), so applying an event twice cannot queue a message twice.
        `batch` is the sweep's, when the notice comes from a batch of deadlines: read the
        directory from it and queue into it.
        """

    def alert(
        self, session: Session, challenge: Challenge, problem: str, now: datetime, event_key: str
    ) -> list[str]:
        """Alert the partnership's admins that `problem` stopped a message; lines as above."""


class RecordOnly:
    """The notifier before email delivery is configured: the chronology records the notice."""

    def queue(
        self,
        session: Session,
        challenge: Challenge,
        notice: Notice,
        now: datetime,
        event_key: str,
        batch: Batch | None = None,
    ) -> list[str]:
        return []

    def alert(
        self, session: Session, challenge: Challenge, problem: str, now: datetime, event_key: str
    ) -> list[str]:
        return []


_AUDIENCE_WORDS = {"raiser_manager": "the raiser's managers"}


def describe(notice: Notice) -> str:
    who = " and ".join(_AUDIENCE_WORDS.get(a.value, a.value) for a in notice.audience)
    return f"{notice.kind.value.replace('_', ' ')} notice to {who}"
