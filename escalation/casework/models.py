"""SQLAlchemy 2 models: the directory, challenges, their stages, deadlines and chronology.

The database is the single source of truth. Instants are stored in UTC on SQLite and PostgreSQL
alike through `UTCDateTime` (SQLite would otherwise store whatever offset it is given and hand
back naive values). Enumerated columns are plain strings checked in Python, never native
PostgreSQL ENUMs, which Alembic cannot extend. The chronology is append-only: the ORM refuses
updates and deletes here, and the migration adds database triggers that refuse them too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from escalation.errors import EscalationError
from escalation.rules.planner import DeadlineStatus


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; naive values are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; instants must be aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


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


class Challenge(Base):
    __tablename__ = "challenges"
    __table_args__ = (
        Index("ix_challenges_partnership_state", "partnership", "state"),
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


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting to be sent (or retried after a temporary failure)
    SENT = "sent"
    FAILED = "failed"  # permanent failure: recorded in the chronology and alerted
    DISMISSED = "dismissed"  # failed, and someone has told the person another way


class OutboxMessage(Base):
    """A rendered email, written in the same transaction as the event that caused it.

    The idempotency key (challenge, event, recipient) is unique, so an event that is applied
    twice cannot queue a message twice; the Message-ID is fixed here, at enqueue time, so a
    message re-sent after a crash carries the same Message-ID and can be recognised downstream.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int | None] = mapped_column(ForeignKey("challenges.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    recipient_email: Mapped[str] = mapped_column(String(320))
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_role: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(400))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)  # the whole message, built at enqueue
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


class ChronologyIsAppendOnly(EscalationError):
    """An attempt to change or delete a chronology entry."""


@event.listens_for(ChronologyEntry, "before_update")
@event.listens_for(ChronologyEntry, "before_delete")
def _refuse_change(mapper: Mapper[Any], connection: Any, target: ChronologyEntry) -> None:
    raise ChronologyIsAppendOnly(
        f"chronology entry {target.seq} of challenge {target.challenge_id} cannot be changed "
        "or deleted: the chronology is append-only"
    )


class JobRun(Base):
    """One run of the sweep, the dispatcher or the digest, by any process: what `health` reads."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_ok_finished", "job", "ok", "finished_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(16))  # sweep | dispatch | digest
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)


class AppSecret(Base):
    """A secret the service made for itself, shared by every process through the database.

    `link_key` signs the links in emails and the CSRF tokens; keeping it here means a worker on
    one machine and the web service on another agree without configuration. ESCALATION_SECRET_KEY
    overrides it.
    """

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, this row only its SHA-256.

    `organisation_id` and `email` say who it is (their roles are the directory's contacts with
    that email at that organisation, read on every request, so a change to the directory takes
    effect at once). `scope_reference` is set when they came from a challenge's email link: the
    session then reaches that one challenge and nothing else.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    scope_reference: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class RaiseDraft(Base):
    """The answers of a challenge being raised, page by page, until it is submitted.

    Kept on the server (never in a cookie: the answers are about a child), one per browser
    session, deleted when the challenge is raised or the session ends.
    """

    __tablename__ = "raise_drafts"

    web_session_id: Mapped[int] = mapped_column(
        ForeignKey("web_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class UsedLink(Base):
    """A sign-in or challenge link that has been used: a second use finds this row and fails."""

    __tablename__ = "used_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # sign-in | challenge
    used_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # after this the link fails anyway: the row may be pruned


class ApiToken(Base):
    """A partner system's key to the JSON API, acting for one organisation; only its hash."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]
    organisation: Mapped[Organisation] = relationship()
