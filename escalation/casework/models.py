"""SQLAlchemy 2 models of the record: the directory, challenges, their stages, deadlines and
chronology. (The outbox, job runs and the web's tables are in `models_service`.)

The database is the single source of truth. Instants are stored in UTC on SQLite and PostgreSQL
alike through `base.UTCDateTime`. Enumerated columns are plain strings checked in Python, never
native PostgreSQL ENUMs, which Alembic cannot extend. The chronology is append-only: the ORM refuses
updates and deletes here, and the migration adds database triggers that refuse them too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

# Importing the service's tables registers them on Base.metadata too: whoever imports the
# models (create_all, the migrations, the tests' table lists) has the whole schema.
from escalation.casework import models_service  # noqa: F401
from escalation.casework.base import Base
from escalation.errors import EscalationError
from escalation.rules.planner import DeadlineStatus


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("partnership", "name", name="uq_organisation_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    partnership: Mapped[str] = mapped_column(String(64), index=True)
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="organisation", order_by="Contact.id"
    )


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("organisation_id", "role", "email", name="uq_contact"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    organisation: Mapped[Organisation] = relationship(back_populates="contacts")


class ReferenceCounter(Base):
    """The last sequence number issued per reference prefix and year."""

    __tablename__ = "reference_counters"

    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class PinnedProtocol(Base):
    """A protocol version as it was when its first challenge was raised (rules.pinning): every
    challenge on that version runs from this copy, whatever later happens to the file. Written
    once, never updated."""

    __tablename__ = "pinned_protocols"

    protocol_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_file: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    pinned_at: Mapped[datetime]


class Challenge(Base):
    __tablename__ = "challenges"
    __table_args__ = (
        Index("ix_challenges_partnership_state", "partnership", "state"),
        # The versions in use and the open challenges on each (casework.pins, migration 0009).
        Index("ix_challenges_protocol_version", "protocol_id", "protocol_version", "state"),
        # The partnership report (report_queries): each index holds the columns one of its
        # queries reads, so PostgreSQL answers it from the index alone (migration 0006). The
        # partial ones have the same condition on both databases.
        Index(
            "ix_challenges_report_raised",
            "raised_at",
            "partnership",
            "raising_org_id",
            "responding_org_id",
            "responding_team",
            "category",
            "need_raiser_view",
            "need_decision",
        ),
        Index("ix_challenges_report_child", "partnership", "child_ref", "raised_at"),
        Index(
            "ix_challenges_report_resolved",
            "partnership",
            "resolved_at",
            "resolved_level",
            "raised_at",
            "outcome",
            postgresql_where=text("resolved_at IS NOT NULL"),
            sqlite_where=text("resolved_at IS NOT NULL"),
        ),
        Index(
            "ix_challenges_report_withdrawn",
            "partnership",
            "withdrawn_at",
            postgresql_where=text("withdrawn_at IS NOT NULL"),
            sqlite_where=text("withdrawn_at IS NOT NULL"),
        ),
        Index(
            "ix_challenges_report_closed",
            "partnership",
            "closed_reason",
            "closed_at",
            postgresql_where=text("closed_at IS NOT NULL"),
            sqlite_where=text("closed_at IS NOT NULL"),
        ),
        Index(
            "ix_challenges_report_join",
            "id",
            "partnership",
            "responding_org_id",
            "outcome_improved",
            "outcome_answered_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    partnership: Mapped[str] = mapped_column(String(64))
    protocol_id: Mapped[str] = mapped_column(String(64))
    protocol_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(64))
    level: Mapped[int | None] = mapped_column(Integer)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    row_version: Mapped[int] = mapped_column(Integer, nullable=False)

    raising_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    raiser_name: Mapped[str] = mapped_column(String(200))
    raiser_email: Mapped[str | None] = mapped_column(String(320))
    responding_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    responding_team: Mapped[str | None] = mapped_column(String(200))
    responder_name: Mapped[str | None] = mapped_column(String(200))
    responder_email: Mapped[str | None] = mapped_column(String(320))

    # The child: access-controlled, never in an email or a log line.
    child_ref: Mapped[str] = mapped_column(String(64))
    child_initials: Mapped[str | None] = mapped_column(String(8))
    child_birth_year: Mapped[int | None] = mapped_column(Integer)
    siblings_affected: Mapped[int] = mapped_column(Integer, default=0)

    category: Mapped[str] = mapped_column(String(32))
    decision_what: Mapped[str] = mapped_column(Text)
    decision_date: Mapped[str | None] = mapped_column(String(10))  # ISO date
    decision_ref: Mapped[str | None] = mapped_column(String(64))
    need_raiser_view: Mapped[int | None] = mapped_column(Integer)
    need_decision: Mapped[int | None] = mapped_column(Integer)
    concern_summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    desired_outcome: Mapped[str] = mapped_column(Text)
    voice_of_child: Mapped[str] = mapped_column(Text)
    start_reason: Mapped[str | None] = mapped_column(Text)  # why it started above level 1

    raised_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_level: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(32))
    outcome_statement: Mapped[str | None] = mapped_column(Text)
    life_improvement: Mapped[str | None] = mapped_column(Text)
    recorded_on_both_files: Mapped[bool | None] = mapped_column(Boolean)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    outcome_improved: Mapped[bool | None] = mapped_column(Boolean)
    outcome_answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)

    raising_org: Mapped[Organisation] = relationship(foreign_keys=[raising_org_id])
    responding_org: Mapped[Organisation] = relationship(foreign_keys=[responding_org_id])
    stages: Mapped[list[Stage]] = relationship(back_populates="challenge", order_by="Stage.seq")
    chronology: Mapped[list[ChronologyEntry]] = relationship(
        back_populates="challenge", order_by="ChronologyEntry.seq"
    )

    # Optimistic locking: a CLI command and the sweep editing one challenge at once cannot both
    # win; the loser's transaction fails with StaleDataError and is retried or reported.
    __mapper_args__ = {"version_id_col": row_version}

    @property
    def current_stage(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    @property
    def level_acknowledged(self) -> bool:
        """Whether the level now in play has been acknowledged."""
        stage = self.current_stage
        return stage is not None and stage.ended_at is None and stage.acknowledged_at is not None


class Stage(Base):
    """One level of a challenge, from when it opened to when it ended."""

    __tablename__ = "stages"
    __table_args__ = (
        UniqueConstraint("challenge_id", "seq", name="uq_stage_seq"),
        # The partnership report (migration 0006): open levels, levels opened in a period and
        # levels escalated in one, challenge id first, to be joined to their challenges.
        Index(
            "ix_stages_open",
            "challenge_id",
            "due_at",
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        Index(
            "ix_stages_report",
            "challenge_id",
            "opened_at",
            "acknowledged_at",
            "responded_at",
            "acknowledge_due_at",
            "due_at",
            "paused_at",
            "ended_at",
        ),
        Index(
            "ix_stages_escalated",
            "challenge_id",
            "escalated_at",
            "escalation_kind",
            postgresql_where=text("escalated_at IS NOT NULL"),
            sqlite_where=text("escalated_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime | None]
    acknowledge_due_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    responded_at: Mapped[datetime | None]
    responded_by: Mapped[str | None] = mapped_column(String(200))
    response_kind: Mapped[str | None] = mapped_column(String(32))
    response_summary: Mapped[str | None] = mapped_column(Text)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    paused_at: Mapped[datetime | None]
    paused_remaining_seconds: Mapped[int | None] = mapped_column(Integer)
    escalated_at: Mapped[datetime | None]
    escalated_by: Mapped[str | None] = mapped_column(String(200))
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    escalation_kind: Mapped[str | None] = mapped_column(String(16))  # raiser | unanswered
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))

    challenge: Mapped[Challenge] = relationship(back_populates="stages")


class Deadline(Base):
    """A moment the sweep must act on; computed instants are stored, never recomputed silently."""

    __tablename__ = "deadlines"
    __table_args__ = (Index("ix_deadlines_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id"), index=True)
    stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id"))
    # Set with the Stage object, so a new stage and its deadlines are inserted in one flush.
    stage: Mapped[Stage | None] = relationship()
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    # A reminder whose moment has gone (the response deadline it announces has passed) is
    # recorded as skipped rather than sent late, so a missed week does not send stale reminders.
    expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=DeadlineStatus.PENDING.value)
    processed_at: Mapped[datetime | None]
    detail: Mapped[str | None] = mapped_column(String(200))


class ChronologyEntry(Base):
    """One line of the append-only chronology: when, who, factual concern, action, impact."""

    __tablename__ = "chronology"
    __table_args__ = (
        UniqueConstraint("challenge_id", "seq", name="uq_chronology_seq"),
        # The report's outcome-check answers (migration 0006): about one entry in ten.
        Index(
            "ix_chronology_outcome",
            "challenge_id",
            "occurred_at",
            postgresql_where=text("event = 'outcome'"),
            sqlite_where=text("event = 'outcome'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]  # the effective time (may be simulated with --now)
    recorded_at: Mapped[datetime]  # the real clock when it was written: backdating shows
    who: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(32))
    level: Mapped[int | None] = mapped_column(Integer)
    concern: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    impact: Mapped[str] = mapped_column(Text)

    challenge: Mapped[Challenge] = relationship(back_populates="chronology")


class ChronologyIsAppendOnly(EscalationError):
    """An attempt to change or delete a chronology entry."""


@event.listens_for(ChronologyEntry, "before_update")
@event.listens_for(ChronologyEntry, "before_delete")
def _refuse_change(mapper: Mapper[Any], connection: Any, target: ChronologyEntry) -> None:
    raise ChronologyIsAppendOnly(
        f"chronology entry {target.seq} of challenge {target.challenge_id} cannot be changed "
        "or deleted: the chronology is append-only"
    )
