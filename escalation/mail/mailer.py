"""Turning an outbox row into an RFC 5322 message, and the file mailer of the embedded default.

With no SMTP server configured, every message is written as an `.eml` file into the outbox
folder, named by its outbox id, so nothing is ever dropped and a re-send after a crash overwrites
the same file rather than adding a second one. (The SMTP mailer with aiosmtplib is the next
step of the notifications work.)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import format_datetime, formataddr, parseaddr
from enum import StrEnum
from pathlib import Path

from escalation.casework.models_service import OutboxMessage


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
    """The message ready for the wire: multipart/alternative, text then HTML, UTF-8, base64.

    Built when the message is sent, from the parts stored at enqueue; the same row always
    gives the same bytes (the boundary comes from the Message-ID), so a re-send after a crash
    is identical. Rows queued by earlier versions carry their bytes in `raw`. It is written out
    directly rather than through `email.mime`, whose generator cost about 1.5 ms a message; the
    shape is fixed, names are RFC 2047-encoded by `formataddr`, the subject by `_subject`, and
    the boundary cannot occur in base64 text ("=_" is not in its alphabet).
    """
    if row.raw is not None:
        return row.raw
    boundary = f"=_{hashlib.sha1(row.message_id.encode()).hexdigest()}"
    headers = [
        f"From: {_from_header(sender)}",
        f"To: {_mailbox(row.recipient_name, row.recipient_email)}",
        f"Subject: {_subject(_one_line(row.subject))}",
        f"Message-ID: {row.message_id}",
        f"Date: {format_datetime(row.created_at)}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    parts = [_part(boundary, "plain", row.text_body), _part(boundary, "html", row.html_body)]
    return "\n".join([*headers, "", *parts, f"--{boundary}--", ""]).encode("ascii")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _one_line(text: str) -> str:
    """No CR, LF or other control character can reach a header: each would start a new one."""
    return _CONTROL.sub(" ", text).strip()


def _mailbox(name: str, address: str) -> str:
    """`Name <address>`, the name RFC 2047-encoded if need be, the domain in IDNA.

    Raises ValueError for an address that cannot be written in a header at all (a control
    character, or a non-ASCII local part, which needs SMTPUTF8): the mailers treat that as a
    permanent failure of that one message.
    """
    if _CONTROL.search(address) or " " in address.strip():
        raise ValueError(f"{address!r} is not a deliverable address")
    local, _, domain = address.strip().rpartition("@")
    if not local.isascii():
        raise ValueError(f"{address!r} has a non-ASCII local part (needs SMTPUTF8)")
    ascii_domain = domain.encode("idna").decode("ascii")
    return formataddr((_one_line(name), f"{local}@{ascii_domain}"), charset="utf-8")


def _subject(subject: str) -> str:
    """The Subject header's value, folded at 78 columns; non-ASCII as RFC 2047 base64 words."""
    if subject.isascii() and "=?" not in subject:
        return _fold(subject.split(" "))
    chunks = [""]
    for char in subject:  # at most 45 bytes an encoded word: 60 characters of base64
        if len((chunks[-1] + char).encode("utf-8")) > 45:
            chunks.append("")
        chunks[-1] += char
    # Whitespace between encoded words is dropped by readers, so the spaces only fold.
    return _fold([f"=?utf-8?b?{base64.b64encode(c.encode()).decode()}?=" for c in chunks])


def _fold(words: list[str]) -> str:
    lines, line, width = [], "", len("Subject: ")
    for word in words:
        if line and width + len(line) + 1 + len(word) > 78:
            lines.append(line)
            line, width = word, 1
        else:
            line = f"{line} {word}" if line else word
    return "\n ".join([*lines, line])


def _part(boundary: str, subtype: str, body: str) -> str:
    encoded = base64.encodebytes(body.encode("utf-8")).decode("ascii").rstrip("\n")
    return (
        f'--{boundary}\nContent-Type: text/{subtype}; charset="utf-8"\n'
        f"Content-Transfer-Encoding: base64\n\n{encoded}"
    )


@functools.lru_cache(maxsize=8)
def _from_header(sender: str) -> str:
    # The sender is the same for every message of a run; parsing it cost about as much as the
    # rest of the headers together.
    return _mailbox(*parseaddr(sender))


@functools.lru_cache(maxsize=8)
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
            except (ValueError, UnicodeError) as exc:  # an address no header can carry
                outcomes[row.id] = Outcome(Delivery.PERMANENT, f"cannot be sent: {exc}")
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
