"""Every SQL statement of the mail part: the outbox's claims and reads, the directory's contacts
a notice is addressed to, the service's own secrets and the record of used links.

The outbox rows themselves are written by `casework.store.insert_outbox`, in the transaction of
the event that caused them (the sweep's batch writes them together at its end).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from escalation.casework.base import dialect_insert
from escalation.casework.models import Contact, Organisation
from escalation.casework.models_service import AppSecret, OutboxMessage, OutboxStatus, UsedLink
from escalation.rules.model import OrgType

# -- the outbox ----------------------------------------------------------------------------------


def claim_pending(session: Session, now: datetime, limit: int) -> Sequence[OutboxMessage]:
    """Lock up to `limit` pending messages due for an attempt by `now`, in due order."""
    return session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING.value, OutboxMessage.next_attempt_at <= now
        )
        # Due order, from the (status, next_attempt_at) index: ordering by id alone made SQLite
        # read and sort every due row for each small batch. Rows left pending by a crash
        # keep their place at the head and are recorded first.
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()


def outbox_messages(session: Session, status: str | None = None) -> Sequence[OutboxMessage]:
    """Every outbox message, oldest first, or only those with `status`."""
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if status:
        query = query.where(OutboxMessage.status == status)
    return session.scalars(query).all()


def failed_messages(session: Session, message_id: int | None = None) -> Sequence[OutboxMessage]:
    """Every failed message, or the one with `message_id` if it failed."""
    query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED.value)
    if message_id is not None:
        query = query.where(OutboxMessage.id == message_id)
    return session.scalars(query).all()


def queued_keys(session: Session, keys: Collection[str]) -> set[str]:
    """Those of these idempotency keys that a message already carries."""
    return set(
        session.scalars(
            select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(keys))
        )
    )


def count_message_ids(session: Session, message_ids: Collection[str]) -> int:
    """How many messages carry these Message-IDs."""
    count = select(func.count()).where(OutboxMessage.message_id.in_(message_ids))
    return int(session.scalar(count) or 0)


def last_outbox_id(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0))) or 0


def queued_after(session: Session, after_id: int, created_at: datetime) -> int:
    """Messages newer than `after_id` stamped with `created_at` (what one sweep queued)."""
    query = select(func.count()).where(
        OutboxMessage.id > after_id, OutboxMessage.created_at == created_at
    )
    return session.scalar(query) or 0


def undelivered_since(session: Session, before: datetime) -> tuple[dict[str, int], int | None]:
    """Messages created before `before` and still failed or pending: their count by status, and
    the id of the oldest."""
    failing = and_(
        OutboxMessage.created_at < before,
        OutboxMessage.status.in_([OutboxStatus.FAILED.value, OutboxStatus.PENDING.value]),
    )
    counts = select(OutboxMessage.status, func.count()).where(failing)
    by_status = {s: n for s, n in session.execute(counts.group_by(OutboxMessage.status))}
    oldest = session.scalar(
        select(OutboxMessage.id)
        .where(failing)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(1)
    )
    return by_status, oldest


# -- who a notice is addressed to ----------------------------------------------------------------


def partnership_contacts(session: Session, partnership: str, role: str) -> Sequence[Contact]:
    """Contacts with `role` in the partnership's own business unit(s)."""
    return session.scalars(
        select(Contact)
        .join(Organisation)
        .where(
            Organisation.partnership == partnership,
            Organisation.type == OrgType.PARTNERSHIP.value,
            Contact.role == role,
        )
        .order_by(Contact.id)
    ).all()


def contacts_with_role(session: Session, organisation_id: int, role: str) -> Sequence[Contact]:
    return session.scalars(
        select(Contact)
        .where(Contact.organisation_id == organisation_id, Contact.role == role)
        .order_by(Contact.id)
    ).all()


# -- secrets and used links ----------------------------------------------------------------------


def secret(session: Session, name: str, now: datetime) -> str:
    """The named secret, made on first use; two processes racing to make it agree on one."""
    found = session.get(AppSecret, name)
    if found is not None:
        return found.value
    insert = dialect_insert(session)
    session.execute(
        insert(AppSecret)
        .values(name=name, value=secrets.token_hex(32), created_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    value = session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    assert value is not None
    return value


def use_link(
    session: Session, token_hash: str, purpose: str, expires_at: datetime, now: datetime
) -> bool:
    """Record a link's first use; False if it was used before (in this or another process)."""
    try:
        with session.begin_nested():
            session.add(
                UsedLink(token_hash=token_hash, purpose=purpose, used_at=now, expires_at=expires_at)
            )
    except IntegrityError:
        return False
    return True
