"""The service's own tables, beside the record (`models`): the email outbox, the worker's job runs,
and what the web service and the links in emails keep (generated secrets, browser sessions, the
answers of a challenge being raised, used links and API tokens).

None of them is a challenge's history: an outbox row is the rendered email an event queued, the
rest is the service's working state. Enumerated columns are plain strings, as in `models`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from escalation.casework.base import Base

if TYPE_CHECKING:
    from escalation.casework.models import Organisation


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
