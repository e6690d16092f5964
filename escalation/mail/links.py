"""Signed links: the one-time sign-in link and the per-reader challenge link in every email.

A link carries a payload signed with the service's key (itsdangerous, HMAC-SHA1 over JSON): who
it is for (an email address), what it opens (a challenge reference, or nothing for a full
sign-in), when it expires, and a nonce. Nothing is written when a link is made — the sweep makes
one for every email it queues — and its first use records the link's hash (`used_links`), so a
second use, a forged signature or a past expiry are all refused.

Challenge links are deterministic (their nonce comes from the email's idempotency key), so a
sweep applied in a batch and one applied a challenge at a time write identical emails.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from escalation.mail import store as store_mail

SIGN_IN_LIFETIME = timedelta(minutes=30)
CHALLENGE_LINK_LIFETIME = timedelta(days=28)


class Purpose(StrEnum):
    SIGN_IN = "sign-in"  # a full sign-in as the contact, asked for on the sign-in page
    CHALLENGE = "challenge"  # from an email: that one challenge only


# The event forms an email link may open directly: "escalate", from a prompt to escalate.
ONE_CLICK = ("escalate",)


class LinkRefused(Exception):
    """A link that is forged, expired or already used; the message says which, for the page."""


@dataclass(frozen=True)
class LinkClaim:
    purpose: Purpose
    email: str
    organisation_id: int | None  # sign-in links: the organisation the reader signs in for
    reference: str | None  # challenge links: the one challenge it opens
    expires_at: datetime
    next_path: str | None  # sign-in links: the page they were on when asked to sign in
    token_hash: str
    then: str | None = None  # challenge links: the event form it opens (ONE_CLICK), if any


class Links:
    """Makes and reads signed link tokens; `key` is the service's secret (see store_mail.secret)."""

    def __init__(self, key: str, base_url: str) -> None:
        self.key = key
        self._sign_in = URLSafeSerializer(key, salt=Purpose.SIGN_IN.value)
        self._challenge = URLSafeSerializer(key, salt=Purpose.CHALLENGE.value)
        self.base_url = base_url.rstrip("/")

    def sign_in_url(
        self, email: str, organisation_id: int, now: datetime, next_path: str = ""
    ) -> str:
        expires = int((now + SIGN_IN_LIFETIME).timestamp())
        payload = {
            "e": email.lower(),
            "o": organisation_id,
            "x": expires,
            "n": secrets.token_hex(8),
        }
        if next_path:
            payload["p"] = next_path
        token = self._sign_in.dumps(payload)
        return f"{self.base_url}/sign-in/{token}"

    def challenge_url(
        self, reference: str, email: str, now: datetime, nonce_from: str, then: str = ""
    ) -> str:
        """A link to the challenge; with `then` (one of ONE_CLICK), straight to that event's
        form once the reader is signed in (the form still asks them to confirm)."""
        expires = int((now + CHALLENGE_LINK_LIFETIME).timestamp())
        nonce = hashlib.sha256(nonce_from.encode()).hexdigest()[:16]
        payload: dict[str, str | int] = {
            "r": reference,
            "e": email.lower(),
            "x": expires,
            "n": nonce,
        }
        if then:
            assert then in ONE_CLICK, then
            payload["t"] = then
        token = self._challenge.dumps(payload)
        return f"{self.base_url}/l/{token}"

    def read(self, purpose: Purpose, token: str, now: datetime) -> LinkClaim:
        """The claim in a token, or LinkRefused if it is forged or expired (use is checked by
        the caller, against `used_links`, in the transaction that signs the reader in)."""
        serializer = self._sign_in if purpose is Purpose.SIGN_IN else self._challenge
        try:
            data = serializer.loads(token)
            expires_at = datetime.fromtimestamp(int(data["x"]), UTC)
            claim = LinkClaim(
                purpose=purpose,
                email=str(data["e"]),
                organisation_id=int(data["o"]) if purpose is Purpose.SIGN_IN else None,
                reference=str(data["r"]) if purpose is Purpose.CHALLENGE else None,
                expires_at=expires_at,
                next_path=str(data["p"]) if "p" in data else None,
                token_hash=token_hash(token),
                then=str(data["t"]) if data.get("t") in ONE_CLICK else None,
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            raise LinkRefused("This link is not valid. It may have been copied wrongly.") from None
        if now >= claim.expires_at:
            raise LinkRefused("This link has expired.")
        return claim


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_source(base_url: str, key: str | None = None) -> Callable[[Session, datetime], Links]:
    """Links for a process: with the configured key, or the database's own (made on first use,
    then kept for the life of the process)."""
    made: list[Links] = []

    def links(session: Session, now: datetime) -> Links:
        if not made:
            made.append(Links(key or store_mail.secret(session, "link_key", now), base_url))
        return made[0]

    return links
