"""The SQL of the web service's own tables: browser sessions, who an address is in the
directory, API tokens, the raise-a-challenge draft, and pruning those and the used links when they
expire. (The link key and the record of a link's first use are `mail.store`'s, which makes the
links; what the pages and the API read of the record is `web.store_challenges`.)"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.orm import Session

from escalation.casework.models import Contact, Organisation
from escalation.casework.models_service import (
    ApiToken,
    OutboxMessage,
    RaiseDraft,
    UsedLink,
    WebSession,
)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- links and sessions --------------------------------------------------------------------------


def start_session(
    session: Session,
    organisation: Organisation,
    email: str,
    name: str,
    scope_reference: str | None,
    now: datetime,
    expires_at: datetime,
) -> str:
    """A new browser session; returns the cookie's token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=digest(token),
            organisation_id=organisation.id,
            email=email.lower(),
            name=name,
            scope_reference=scope_reference,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token


def find_session(session: Session, token: str, now: datetime) -> WebSession | None:
    found = session.scalar(select(WebSession).where(WebSession.token_hash == digest(token)))
    if found is None or found.ended_at is not None or found.expires_at <= now:
        return None
    return found


def end_session(session: Session, token: str, now: datetime) -> None:
    """Sign out: the session stops working, and a half-raised challenge's answers (about a
    child) go with it."""
    found = session_id(session, token)
    if found is None:
        return
    session.execute(
        update(WebSession)
        .where(WebSession.id == found, WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    drop_draft(session, found)


# -- who someone is --------------------------------------------------------------------------------


def contacts_by_email(session: Session, email: str) -> Sequence[Contact]:
    """Every directory entry with this address (one person may hold several roles)."""
    return session.scalars(
        select(Contact)
        .where(func.lower(Contact.email) == email.strip().lower())
        .order_by(Contact.id)
    ).all()


def sign_in_emails_since(session: Session, email: str, since: datetime) -> int:
    """Sign-in emails queued to this address since `since` (a throttle, across processes)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.kind == "sign_in",
                func.lower(OutboxMessage.recipient_email) == email.strip().lower(),
                OutboxMessage.created_at > since,
            )
        )
        or 0
    )


def roles_at(session: Session, email: str, organisation_id: int) -> list[str]:
    return sorted(
        set(
            session.scalars(
                select(Contact.role).where(
                    func.lower(Contact.email) == email.lower(),
                    Contact.organisation_id == organisation_id,
                )
            )
        )
    )


# -- API tokens ------------------------------------------------------------------------------------


def create_api_token(
    session: Session, organisation: Organisation, label: str, created_by: str, now: datetime
) -> tuple[ApiToken, str]:
    token = "esc_" + secrets.token_urlsafe(32)
    row = ApiToken(
        organisation_id=organisation.id,
        label=label,
        token_hash=digest(token),
        created_at=now,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row, token


def find_api_token(session: Session, token: str) -> ApiToken | None:
    found = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    if found is None or found.revoked_at is not None:
        return None
    return found


def api_token(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def api_tokens(session: Session, partnership: str | None = None) -> Sequence[ApiToken]:
    query = select(ApiToken).join(Organisation).order_by(ApiToken.id)
    if partnership is not None:
        query = query.where(Organisation.partnership == partnership)
    return session.scalars(query).all()


# -- the raise-a-challenge draft -------------------------------------------------------------------


def session_id(session: Session, token: str) -> int | None:
    return session.scalar(select(WebSession.id).where(WebSession.token_hash == digest(token)))


def draft(session: Session, web_session_id: int) -> dict[str, Any]:
    found = session.get(RaiseDraft, web_session_id)
    return dict(found.answers) if found is not None else {}


def save_draft(
    session: Session, web_session_id: int, answers: dict[str, Any], now: datetime
) -> None:
    found = session.get(RaiseDraft, web_session_id)
    if found is None:
        session.add(RaiseDraft(web_session_id=web_session_id, answers=answers, updated_at=now))
    else:
        found.answers = answers
        found.updated_at = now


def drop_draft(session: Session, web_session_id: int) -> None:
    session.execute(delete(RaiseDraft).where(RaiseDraft.web_session_id == web_session_id))


def claim_draft(session: Session, web_session_id: int) -> dict[str, Any] | None:
    """Take the draft for raising: whoever deletes its row raises it. Two presses at once both
    read it, but on either database only one DELETE finds the row; None for the other (and
    when there is no draft)."""
    answers = draft(session, web_session_id)
    result = session.execute(delete(RaiseDraft).where(RaiseDraft.web_session_id == web_session_id))
    return answers if cast(CursorResult[Any], result).rowcount == 1 else None


# -- tidying up ------------------------------------------------------------------------------------


def prune(session: Session, now: datetime) -> dict[str, int]:
    """Forget what can no longer be used: sessions that ended or expired (with any half-raised
    challenge's answers, which are about a child) and the record of links past their expiry
    (an expired link fails on its date alone). Run daily with the digest."""
    dead = select(WebSession.id).where(
        or_(WebSession.ended_at.is_not(None), WebSession.expires_at <= now)
    )
    drafts = session.execute(delete(RaiseDraft).where(RaiseDraft.web_session_id.in_(dead)))
    sessions = session.execute(
        delete(WebSession).where(
            or_(WebSession.ended_at.is_not(None), WebSession.expires_at <= now)
        )
    )
    links = session.execute(delete(UsedLink).where(UsedLink.expires_at <= now))
    return {
        "drafts": _count(drafts),
        "sessions": _count(sessions),
        "used_links": _count(links),
    }


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
