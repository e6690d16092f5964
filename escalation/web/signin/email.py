"""The sign-in email: queued through the outbox like every other email, so it is sent by the
dispatcher with retries, and only its link signs anyone in."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from escalation import resources
from escalation.casework.models import Contact, Organisation
from escalation.mail.links import SIGN_IN_LIFETIME, token_hash
from escalation.mail.outbox import enqueue

KIND = "sign_in"
SERVICE_NAME = "Resolve a professional disagreement about a child"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """Built once per process: templates are compiled on first use and kept."""
    return Environment(
        loader=FileSystemLoader(resources.templates_dir() / "emails" / KIND),
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def queue_sign_in(
    session: Session, contact: Contact, organisation: Organisation, link: str, now: datetime
) -> None:
    env = _environment()
    values = {
        "name": contact.name,
        "organisation": organisation.name,
        "link": link,
        "minutes": int(SIGN_IN_LIFETIME.total_seconds() // 60),
        "service_name": SERVICE_NAME,
    }
    subject, text, html = (
        env.get_template(part).render(values) for part in ("subject.txt", "body.txt", "body.html")
    )
    domain = urlsplit(link).hostname or "localhost"
    enqueue(
        session,
        challenge_id=None,
        kind=KIND,
        idempotency_key=f"sign-in:{token_hash(link)}",
        message_id=f"<{uuid.uuid4().hex}@{domain}>",
        recipient_email=contact.email,
        recipient_name=contact.name,
        recipient_role=contact.role,
        subject=subject.strip(),
        text_body=text,
        html_body=html,
        created_at=now,
    )
