"""The outbox notifier: render each notice for each addressee and queue it, in the caller's
transaction, with an idempotency key and a Message-ID fixed now.

A role that the protocol addresses but the directory has no contact for is written into the
chronology ("no contact for role X at organisation Y") and the partnership's admin contacts get
an `undeliverable` alert. Only the challenge reference, organisations, level, dates and a link
reach an email: `EmailContext` has no field for anything about the child.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from escalation.casework import store
from escalation.casework.intake import column_length
from escalation.casework.models import Challenge
from escalation.casework.models_service import OutboxMessage, OutboxStatus
from escalation.casework.notices import Audience, Notice, NoticeKind
from escalation.casework.store_batch import Batch
from escalation.mail.emails import EmailContext, EmailRenderer, RenderedEmail
from escalation.mail.links import Links
from escalation.mail.recipients import Recipient, addressees, partnership_contacts
from escalation.rules.model import FollowUp, Protocol, Role
from escalation.rules.registry import ProtocolRegistry

log = logging.getLogger(__name__)


class OutboxNotifier:
    def __init__(
        self,
        registry: ProtocolRegistry,
        renderer: EmailRenderer,
        base_url: str,
        links: Callable[[Session, datetime], Links] | None = None,
    ) -> None:
        self.registry = registry
        self.renderer = renderer
        self.base_url = base_url.rstrip("/")
        # With `links`, every reader gets their own signed link that signs them in to this one
        # challenge; without (tests of rendering), the plain page address.
        self.links = links
        self.domain = urlsplit(self.base_url).hostname or "localhost"

    def queue(
        self,
        session: Session,
        challenge: Challenge,
        notice: Notice,
        now: datetime,
        event_key: str,
        batch: Batch | None = None,
    ) -> list[str]:
        protocol = self.registry.get(challenge.protocol_id, challenge.protocol_version)
        found = addressees(session, challenge, protocol, notice, batch)
        lines = []
        for recipient in found.recipients:
            key = f"{event_key}:{notice.kind}"
            link = self._link(session, challenge, recipient, key, now, notice.kind)
            context = self._context(challenge, protocol, notice, recipient, link=link)
            self._enqueue(session, challenge, context, recipient, key, now, batch)
            lines.append(f"email to {recipient.name} ({recipient.role})")
        for gap in found.gaps:
            lines.append(gap.describe())
            problem = gap.describe()
            lines.extend(
                self._alert(
                    session,
                    challenge,
                    protocol,
                    notice,
                    problem,
                    f"{event_key}:undeliverable:{gap.role}",
                    now,
                    batch,
                )
            )
        return lines

    def alert(
        self, session: Session, challenge: Challenge, problem: str, now: datetime, event_key: str
    ) -> list[str]:
        """Tell the partnership's admins that `problem` stopped a message reaching someone."""
        protocol = self.registry.get(challenge.protocol_id, challenge.protocol_version)
        notice = Notice(NoticeKind.CLOSED, challenge.level, (Audience.ADMIN,))  # level only
        return self._alert(
            session, challenge, protocol, notice, problem, f"{event_key}:undeliverable", now
        )

    def preview(
        self, session: Session, challenge: Challenge, notice: Notice
    ) -> list[tuple[Recipient, RenderedEmail]]:
        """What `queue` would send for this notice, without queueing anything."""
        protocol = self.registry.get(challenge.protocol_id, challenge.protocol_version)
        found = addressees(session, challenge, protocol, notice)
        return [
            (r, self.renderer.render(self._context(challenge, protocol, notice, r)))
            for r in found.recipients
        ]

    def _alert(
        self,
        session: Session,
        challenge: Challenge,
        protocol: Protocol,
        notice: Notice,
        problem: str,
        event_key: str,
        now: datetime,
        batch: Batch | None = None,
    ) -> list[str]:
        admins = partnership_contacts(session, challenge.partnership, Role.ADMIN, batch)
        if not admins:
            log.warning(
                "challenge %s: %s, and no admin contact to alert", challenge.reference, problem
            )
            return [f"no admin contact in {challenge.partnership} to alert"]
        for admin in admins:
            recipient = Recipient(admin.email, admin.name, admin.role, Audience.ADMIN)
            link = self._link(session, challenge, recipient, event_key, now)
            context = self._context(
                challenge, protocol, notice, recipient, "undeliverable", problem, link
            )
            self._enqueue(session, challenge, context, recipient, event_key, now, batch)
        return [f"admin alerted: {problem}"]

    def _context(
        self,
        challenge: Challenge,
        protocol: Protocol,
        notice: Notice,
        recipient: Recipient,
        kind: str | None = None,
        problem: str | None = None,
        link: str | None = None,
    ) -> EmailContext:
        level = notice.level
        stage = challenge.current_stage
        return EmailContext(
            kind=kind or notice.kind.value,
            reference=challenge.reference,
            partnership_name=protocol.partnership_name,
            raising_org=challenge.raising_org.name,
            responding_org=challenge.responding_org.name,
            level=level,
            level_name=protocol.level(level).name if level is not None else None,
            urgent=challenge.urgent,
            recipient_name=recipient.name,
            recipient_role=recipient.role,
            audience=recipient.audience.value,
            due_at=notice.due_at,
            link=link or f"{self.base_url}/challenges/{challenge.reference}",
            immediate_risk=protocol.immediate_risk,
            response_kind=stage.response_kind if stage is not None else None,
            outcome=challenge.outcome,
            problem=problem,
            then=_then(protocol, notice),
        )

    def _link(
        self,
        session: Session,
        challenge: Challenge,
        recipient: Recipient,
        key: str,
        now: datetime,
        kind: NoticeKind | None = None,
    ) -> str | None:
        if self.links is None:
            return None
        nonce_from = f"{challenge.reference}:{key}:{recipient.email.lower()}"
        # The raiser asked to decide on escalation gets a link straight to the escalation form.
        asked = kind in ESCALATE_FROM and recipient.audience is Audience.RAISER
        then = "escalate" if asked else ""
        return self.links(session, now).challenge_url(
            challenge.reference, recipient.email, now, nonce_from, then
        )

    def _enqueue(
        self,
        session: Session,
        challenge: Challenge,
        context: EmailContext,
        recipient: Recipient,
        event: str,
        now: datetime,
        batch: Batch | None,
    ) -> None:
        email = self.renderer.render(context)
        enqueue(
            session,
            batch=batch,
            challenge_id=challenge.id,
            kind=context.kind,
            idempotency_key=f"{challenge.reference}:{event}:{recipient.email.lower()}",
            message_id=f"<{uuid.uuid4().hex}@{self.domain}>",
            recipient_email=recipient.email,
            recipient_name=recipient.name,
            recipient_role=recipient.role,
            subject=email.subject,
            text_body=email.text,
            html_body=email.html,
            created_at=now,
        )


def enqueue(session: Session, *, batch: Batch | None = None, **values: Any) -> None:
    """Insert one pending outbox row; a repeated idempotency key is ignored. In the sweep's
    `batch`, the row waits for the batch's end, which inserts them all at once.

    The row holds the rendered parts and a fixed Message-ID; the dispatcher builds the wire
    bytes from them (`mailer.message_bytes`, deterministic, so a re-send is byte-identical).
    Building them here too would double what a sweep writes for every email it queues.

    `values` are OutboxMessage columns: challenge_id (None for mail about no one challenge,
    like the digest), kind, idempotency_key, message_id, recipient_email/_name/_role, subject,
    text_body, html_body, created_at.
    """
    values["subject"] = _fitted(values["subject"])
    values.setdefault("status", OutboxStatus.PENDING.value)
    values.setdefault("attempts", 0)
    values.setdefault("next_attempt_at", values["created_at"])
    store.insert_outbox(session, values, batch)


def _then(protocol: Protocol, notice: Notice) -> str | None:
    """For a prompt to escalate: what the protocol does if nobody has decided by its due time."""
    if notice.kind is not NoticeKind.LAPSE_PROMPT or notice.level is None:
        return None
    rule = protocol.level(notice.level).lapse_follow_up
    if rule is None:
        return None
    return "escalate" if rule.action is FollowUp.ESCALATE else "alert"


SUBJECT_LIMIT = column_length(OutboxMessage, "subject")
ESCALATE_FROM = frozenset({NoticeKind.LAPSE_PROMPT, NoticeKind.LAPSE_ALERT})


def _fitted(subject: str) -> str:
    """Two organisations' names of the longest the directory allows overflow the subject
    column (PostgreSQL would refuse the whole raise): shorten it, the reference first in it."""
    return subject if len(subject) <= SUBJECT_LIMIT else subject[: SUBJECT_LIMIT - 1] + "…"
