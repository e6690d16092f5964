"""Turning an outbox row into an RFC 5322 message, and the file mailer of the embedded default.

With no SMTP server configured, every message is written as an `.eml` file into the outbox
folder, named by its outbox id, so nothing is ever dropped and a re-send after a crash overwrites
the same file rather than adding a second one. (The SMTP mailer with aiosmtplib is the next
step of the notifications work.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from enum import StrEnum
from pathlib import Path

from escalation.models import OutboxMessage


class Delivery(StrEnum):
    """What became of one message handed to a mailer."""

    SENT = "sent"
    TEMPORARY = "temporary"  # 4xx, timeout, dropped or refused connection: try again later
    PERMANENT = "permanent"  # 5xx or a refused recipient: do not try again


@dataclass(frozen=True)
class Outcome:
    delivery: Delivery
    detail: str  # the server's reply or the error; never any part of the message


def message_bytes(row: OutboxMessage, sender: str) -> bytes:
    """The message ready for the wire: multipart/alternative, text then HTML, UTF-8.

    Built once, when the message is queued, and stored with it: the older `email.mime` API with
    the compat32 policy is about four times cheaper than EmailMessage, and sending stored bytes
    skips flattening, which is where a dispatcher's CPU went.
    """
    if row.raw is not None:
        return row.raw
    message = MIMEMultipart("alternative")
    message["From"] = sender
    message["To"] = formataddr((row.recipient_name, row.recipient_email), charset="utf-8")
    # A Header object (not its encoded text) so that folding a long subject stays correct.
    message["Subject"] = Header(row.subject, "utf-8")  # type: ignore[assignment]
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created_at)
    message.attach(MIMEText(row.text_body, "plain", "utf-8"))
    message.attach(MIMEText(row.html_body, "html", "utf-8"))
    return message.as_bytes()


def envelope_sender(sender: str) -> str:
    return parseaddr(sender)[1]


class FileMailer:
    """Writes each message to `<folder>/<outbox id>.eml`, atomically."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send_batch(self, rows: Sequence[OutboxMessage]) -> dict[int, Outcome]:
        outcomes = {}
        for row in rows:
            try:
                path = self.send(row)
            except OSError as exc:  # a full or missing disk is worth another try
                outcomes[row.id] = Outcome(Delivery.TEMPORARY, f"cannot write: {exc.strerror}")
            else:
                outcomes[row.id] = Outcome(Delivery.SENT, f"written to {path.name}")
        return outcomes

    def send(self, row: OutboxMessage) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{row.id:08d}.eml"
        partial = target.with_suffix(".eml.partial")
        partial.write_bytes(message_bytes(row, self.sender))
        partial.replace(target)  # a crash leaves a .partial file, never half a message
        return target
