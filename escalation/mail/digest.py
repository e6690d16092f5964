"""The partnership digest (issue 4, point 3): each working day, per partnership, one email to
each of its partnership contacts with counts and references only, never a child's details.

It owns deciding who gets a digest today and queueing it through the outbox, in one transaction
per partnership; the figures and their SQL are in `escalation.mail.digest_figures`, the email's
shape and templates in `escalation.mail.digest_email`. A partnership with no partnership contact is
logged and reported, and the others still get theirs.

Exactly once: each email's idempotency key is `digest:<partnership>:<local date>:<email>`, so
a second run on the same UK date (a retry, a second worker, the repeated hour of the autumn
clock change) queues nothing new.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from escalation.casework.models import Contact
from escalation.casework.service import Service
from escalation.config import DIGEST_DAYS
from escalation.errors import EscalationError, InvalidInput
from escalation.mail import store as store_mail
from escalation.mail.digest_email import DIGEST, DigestContext
from escalation.mail.digest_figures import WORKING_DAYS_AHEAD, Figures, compute_figures
from escalation.mail.outbox import OutboxNotifier, enqueue
from escalation.mail.recipients import partnership_contacts
from escalation.rules.model import Protocol, Role
from escalation.rules.workdays import to_local_iso, utc

log = logging.getLogger(__name__)
QUEUED, ALREADY_QUEUED, NOT_WORKING_DAY, NO_CONTACT = (
    "queued", "already queued", "not a working day", "no partnership contact",
)  # fmt: skip


# --- Results ---------------------------------------------------------------------------------


@dataclass
class PartnershipDigest:
    """What happened for one partnership; the figures are filled only when they were computed."""

    partnership: str
    local_date: date
    outcome: str = QUEUED
    recipients: int = 0
    queued: int = 0
    open_by_level: dict[int, int] = field(default_factory=dict)
    overdue: int = 0
    due_soon: int = 0
    undeliverable: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "partnership": self.partnership,
            "local_date": self.local_date.isoformat(),
            "outcome": self.outcome,
            "recipients": self.recipients,
            "queued": self.queued,
        }
        if self.outcome == QUEUED:
            data["open_by_level"] = {str(level): n for level, n in self.open_by_level.items()}
            data.update(overdue=self.overdue, due_soon=self.due_soon)
            data.update(undeliverable=self.undeliverable, failed=self.failed)
        return data


@dataclass
class DigestResult:
    now: datetime
    days: str
    partnerships: list[PartnershipDigest] = field(default_factory=list)
    queued: int = 0
    skipped_not_working_day: list[str] = field(default_factory=list)
    no_contact: list[str] = field(default_factory=list)
    already_queued: list[str] = field(default_factory=list)

    def add(self, digest: PartnershipDigest) -> None:
        self.partnerships.append(digest)
        self.queued += digest.queued
        lists = {
            NOT_WORKING_DAY: self.skipped_not_working_day,
            NO_CONTACT: self.no_contact,
            ALREADY_QUEUED: self.already_queued,
        }
        if digest.outcome in lists:
            lists[digest.outcome].append(digest.partnership)

    def as_dict(self) -> dict[str, object]:
        return {
            "now": to_local_iso(self.now),
            "days": self.days,
            "queued": self.queued,
            "skipped_not_working_day": self.skipped_not_working_day,
            "no_contact": self.no_contact,
            "already_queued": self.already_queued,
            "partnerships": [digest.as_dict() for digest in self.partnerships],
        }

    def summary(self) -> str:
        sent = [f"{d.partnership} {d.queued}" for d in self.partnerships if d.outcome == QUEUED]
        return (
            f"digest as of {to_local_iso(self.now)} ({self.days}): {self.queued} queued "
            f"({', '.join(sent) or 'none'}); already queued: {_names(self.already_queued)}; "
            f"not a working day: {_names(self.skipped_not_working_day)}; "
            f"no partnership contact: {_names(self.no_contact)}"
        )


def _names(partnerships: list[str]) -> str:
    return ", ".join(partnerships) or "none"


# --- Sending ---------------------------------------------------------------------------------


def send_digests(service: Service, now: datetime, days: str = "working") -> DigestResult:
    """Queue today's digest for every partnership, once per contact and UK date.

    `days` is "working" (only on a working day of the partnership's calendar: no weekends, bank
    holidays or closure days) or "daily". One transaction per partnership.
    """
    notifier = service.notifier
    if not isinstance(notifier, OutboxNotifier):
        raise EscalationError(
            "the partnership digest is queued as email: the service needs the outbox notifier "
            f"(escalation.mail.outbox.OutboxNotifier), not {type(notifier).__name__}"
        )
    if days not in DIGEST_DAYS:
        raise InvalidInput("days", f"{days!r} is not one of {', '.join(DIGEST_DAYS)}")
    result = DigestResult(utc(now), days)
    for partnership in service.registry.partnerships():
        protocol = service.registry.for_partnership(partnership)
        result.add(_send_one(service, notifier, protocol, result.now, days))
    log.info("%s", result.summary())
    return result


def _send_one(
    service: Service, notifier: OutboxNotifier, protocol: Protocol, now: datetime, days: str
) -> PartnershipDigest:
    calendar = protocol.calendar()
    digest = PartnershipDigest(protocol.partnership, calendar.local_date(now))
    if days == "working" and not calendar.is_working_day(digest.local_date):
        digest.outcome = NOT_WORKING_DAY
        return digest
    with service.sessions.begin() as session:
        contacts = _unique(partnership_contacts(session, protocol.partnership, Role.PARTNERSHIP))
        digest.recipients = len(contacts)
        if not contacts:
            log.warning("digest: %s has no partnership contact to send it to", protocol.partnership)
            digest.outcome = NO_CONTACT
            return digest
        waiting = _not_yet_queued(session, contacts, protocol.partnership, digest.local_date)
        if not waiting:
            digest.outcome = ALREADY_QUEUED
            return digest
        figures = compute_figures(session, protocol, notifier.base_url, now, days)
        _record(digest, figures)
        digest.queued = _queue(session, notifier, protocol, figures, waiting, now)
    return digest


def digest_key(partnership: str, local_date: date, email: str) -> str:
    return f"{DIGEST}:{partnership}:{local_date.isoformat()}:{email.lower()}"


def _unique(contacts: Sequence[Contact]) -> list[Contact]:
    """One digest per address, even if it is listed for two business units."""
    seen: dict[str, Contact] = {}
    for contact in contacts:
        seen.setdefault(contact.email.lower(), contact)
    return list(seen.values())


def _not_yet_queued(
    session: Session, contacts: list[Contact], partnership: str, local_date: date
) -> list[Contact]:
    keys = {digest_key(partnership, local_date, c.email): c for c in contacts}
    done = store_mail.queued_keys(session, keys)
    return [contact for key, contact in keys.items() if key not in done]


def _queue(
    session: Session,
    notifier: OutboxNotifier,
    protocol: Protocol,
    figures: Figures,
    contacts: list[Contact],
    now: datetime,
) -> int:
    made: list[str] = []
    for contact in contacts:
        email = notifier.renderer.digest.render(_context(protocol, figures, contact, now))
        made.append(f"<{uuid.uuid4().hex}@{notifier.domain}>")
        enqueue(
            session,
            challenge_id=None,
            kind=DIGEST,
            idempotency_key=digest_key(protocol.partnership, figures.local_date, contact.email),
            message_id=made[-1],
            recipient_email=contact.email,
            recipient_name=contact.name,
            recipient_role=contact.role,
            subject=email.subject,
            text_body=email.text,
            html_body=email.html,
            created_at=now,
        )
    # A worker racing this one may have queued some first (enqueue ignores a repeated key):
    # count only the rows carrying the Message-IDs made here.
    return store_mail.count_message_ids(session, made)


def _context(
    protocol: Protocol, figures: Figures, contact: Contact, now: datetime
) -> DigestContext:
    return DigestContext(
        partnership_name=protocol.partnership_name,
        recipient_name=contact.name,
        recipient_role=contact.role,
        as_of=now,
        period_start=figures.period_start,
        due_soon_until=figures.due_soon_until,
        working_days_ahead=WORKING_DAYS_AHEAD,
        levels=figures.levels,
        overdue=figures.overdue,
        due_soon=figures.due_soon,
        undeliverable=figures.undeliverable,
        failed=figures.failed,
        has_admin_contact=figures.has_admin_contact,
        link=figures.link,
        immediate_risk=protocol.immediate_risk,
    )


def _record(digest: PartnershipDigest, figures: Figures) -> None:
    digest.open_by_level = {level.number: level.open for level in figures.levels}
    digest.overdue, digest.due_soon = figures.overdue.total, figures.due_soon.total
    digest.undeliverable, digest.failed = figures.undeliverable.total, figures.failed.total
