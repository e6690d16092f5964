"""The SMTP mailer: sends a batch of outbox rows over a few reused aiosmtplib connections.

`SmtpMailer.send_batch(rows)` never raises for a delivery problem: it returns one `Outcome` per
row, keyed by the row's id, and the dispatcher decides what to record.

- `SENT`: the server accepted the message for every recipient (detail "250 <server text>").
- `PERMANENT`: a 5xx reply about this message (recipient refused, DATA rejected), or a message
  that cannot be sent at all as it stands (e.g. an address that needs SMTPUTF8 on a server
  without it). Retrying would fail the same way.
- `TEMPORARY`: 4xx replies, timeouts, dropped or refused connections, and every failure that is
  not the message's fault: failing to connect, to STARTTLS or to log in (even with a 5xx), and a
  refused sender (MAIL FROM is the same for every message, so it is a configuration problem; a
  permanent outcome would silently drop safeguarding mail that a fixed configuration delivers).

Connections: the rows are dealt round-robin into at most `settings.connections` shares; each
share is sent sequentially over one connection. When a connection breaks (disconnect, timeout,
socket error), the row in flight is TEMPORARY (it may have been delivered: the re-send carries
the same Message-ID) and the share reconnects ONCE and continues; if the first connect or that
single reconnect fails, or the connection breaks again, the rest of the share is TEMPORARY
without being attempted. A 4xx/5xx reply keeps the connection (aiosmtplib resets the envelope).

`detail` holds the SMTP code and the server's text, or a description of the connection error,
never any message content; it is cut to `DETAIL_LIMIT` characters.

`send_batch` uses `asyncio.run`, so it must be called from synchronous code (no running loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib

from escalation.config import ConfigError

# Delivery and Outcome live in escalation.mailer (shared with FileMailer and the dispatcher);
# they are re-exported here so `from escalation.smtp import Delivery, Outcome` is the same class.
from escalation.mailer import Delivery, Outcome, envelope_sender, message_bytes
from escalation.models import OutboxMessage

__all__ = [
    "Delivery",
    "Outcome",
    "SmtpMailer",
    "SmtpSettings",
    "parse_smtp_url",
]

log = logging.getLogger(__name__)

URL_VARIABLE = "ESCALATION_SMTP_URL"
PASSWORD_FILE_VARIABLE = "ESCALATION_SMTP_PASSWORD_FILE"
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
DETAIL_LIMIT = 300
_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)  # never in a log line
    use_tls: bool  # smtps://: TLS from the first byte
    start_tls: bool  # smtp://...?starttls=true: STARTTLS required
    timeout: float = 30
    connections: int = 4


def parse_smtp_url(url: str, password_file: str | None = None) -> SmtpSettings:
    """Settings from `smtp[s]://[user[:password]@]host[:port][?starttls=..&connections=..&timeout=..]`.

    Error messages never repeat the URL, which may hold a password.
    """

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"{URL_VARIABLE}: {problem}")

    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise fail(f"not a URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise fail(f"unknown scheme {parts.scheme!r}; expected smtp:// or smtps://")
    host = parts.hostname
    if not host:
        raise fail("no host; expected e.g. smtp://mail.example.org:587?starttls=true")
    try:
        port = parts.port
    except ValueError as exc:
        raise fail("bad port; expected a number from 1 to 65535") from exc
    if port == 0:
        raise fail("bad port; expected a number from 1 to 65535")
    if parts.path not in ("", "/") or parts.fragment:
        raise fail("unexpected path or fragment after the host")

    start_tls, connections, timeout = False, 4, 30.0
    seen: set[str] = set()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in seen:
            raise fail(f"{key} given twice")
        seen.add(key)
        if key == "starttls":
            if value.lower() in _TRUE:
                start_tls = True
            elif value.lower() in _FALSE:
                start_tls = False
            else:
                raise fail(f"bad starttls value {value!r}; expected true or false")
        elif key == "connections":
            if not value.isdigit() or not 1 <= int(value) <= 100:
                raise fail(f"bad connections value {value!r}; expected a whole number 1-100")
            connections = int(value)
        elif key == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                timeout = -1.0
            if not 0 < timeout <= 3600:
                raise fail(f"bad timeout value {value!r}; expected seconds, more than 0")
        else:
            raise fail(f"unknown option {key!r}; expected starttls, connections or timeout")
    if start_tls and scheme == "smtps":
        raise fail("starttls cannot be used with smtps://, which is TLS from the start")

    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password_file is not None:
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(
                f"{PASSWORD_FILE_VARIABLE}: cannot read {password_file!r}: {reason}"
            ) from exc
        if not password:
            raise ConfigError(f"{PASSWORD_FILE_VARIABLE}: {password_file!r} is empty")
    if password is not None and username is None:
        raise fail("a password is given but no user name; expected smtp://user@host")

    return SmtpSettings(
        host=host,
        port=port or DEFAULT_PORTS[scheme],
        username=username,
        password=password,
        use_tls=scheme == "smtps",
        start_tls=start_tls,
        timeout=timeout,
        connections=connections,
    )


class _ConnectionBroken(Exception):
    """The connection cannot be used any more; carries the outcome of the row in flight."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


def _detail(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


def _reply(code: int, message: str) -> str:
    return _detail(f"{code} {message}")


def _by_code(code: int, detail: str) -> Outcome:
    delivery = Delivery.PERMANENT if 500 <= code <= 599 else Delivery.TEMPORARY
    return Outcome(delivery, detail)


def _connection_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return _detail(f"timed out: {exc}" if str(exc) else "timed out")
    if isinstance(exc, ConnectionRefusedError) or isinstance(exc.__cause__, ConnectionRefusedError):
        return _detail(f"connection refused: {exc}")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return _detail(f"connection lost: {exc}")
    return _detail(f"connection failed: {type(exc).__name__}: {exc}")


class SmtpMailer:
    """Sends outbox rows through one SMTP server; see the module docstring for the rules."""

    def __init__(self, settings: SmtpSettings, sender: str) -> None:
        self.settings = settings
        self.sender = sender

    def send_batch(self, rows: Sequence[OutboxMessage]) -> dict[int, Outcome]:
        if not rows:
            return {}
        return asyncio.run(self.send_batch_async(rows))

    async def send_batch_async(self, rows: Sequence[OutboxMessage]) -> dict[int, Outcome]:
        count = max(1, min(self.settings.connections, len(rows)))
        shares = [list(rows[i::count]) for i in range(count)]
        outcomes: dict[int, Outcome] = {}
        await asyncio.gather(*(self._send_share(share, outcomes) for share in shares))
        for row in rows:  # belt and braces: every row has an outcome
            outcomes.setdefault(row.id, Outcome(Delivery.TEMPORARY, "not attempted"))
        return outcomes

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            timeout=s.timeout,
        )

    async def _connect(self) -> aiosmtplib.SMTP | str:
        """A connected (and logged-in) client, or the reason there is none."""
        client = self._client()
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            # Greeting, EHLO, STARTTLS or AUTH refused: the server's or our configuration's
            # fault, never the message's, so the rows stay TEMPORARY even on a 5xx.
            return _reply(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return _connection_error(exc)
        return client

    async def _send_share(self, share: list[OutboxMessage], outcomes: dict[int, Outcome]) -> None:
        reconnects_left = 1
        client = await self._connect()
        position = 0
        try:
            while position < len(share):
                if isinstance(client, str):
                    for row in share[position:]:
                        outcomes[row.id] = Outcome(Delivery.TEMPORARY, client)
                    log.warning(
                        "smtp: %d message(s) not attempted: %s", len(share) - position, client
                    )
                    return
                row = share[position]
                try:
                    outcomes[row.id] = await self._send_one(client, row)
                    position += 1
                except _ConnectionBroken as broken:
                    outcomes[row.id] = broken.outcome
                    position += 1
                    client.close()
                    if reconnects_left and position < len(share):
                        reconnects_left -= 1
                        client = await self._connect()
                    else:
                        client = f"not attempted after: {broken.outcome.detail}"
        finally:
            if not isinstance(client, str):
                await self._quit(client)

    async def _send_one(self, client: aiosmtplib.SMTP, row: OutboxMessage) -> Outcome:
        try:
            raw = message_bytes(row, self.sender)
            errors, response = await client.sendmail(
                envelope_sender(self.sender), [row.recipient_email], raw
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
            worst = max(refused, key=lambda r: 500 <= r.code <= 599)
            return _by_code(worst.code, _reply(worst.code, worst.message))
        except aiosmtplib.SMTPSenderRefused as exc:
            return Outcome(Delivery.TEMPORARY, "sender refused: " + _reply(exc.code, exc.message))
        except aiosmtplib.SMTPResponseException as exc:
            outcome = _by_code(exc.code, _reply(exc.code, exc.message))
            if exc.code == 421 or not client.is_connected:  # 421: the server is closing
                raise _ConnectionBroken(outcome) from exc
            return outcome
        except (aiosmtplib.SMTPNotSupported, ValueError) as exc:
            # e.g. a non-ASCII address and no SMTPUTF8: cannot be sent to this server as is.
            return Outcome(Delivery.PERMANENT, _detail(f"cannot be sent: {exc}"))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise _ConnectionBroken(Outcome(Delivery.TEMPORARY, _connection_error(exc))) from exc
        except Exception as exc:  # a bug must not lose the batch's other outcomes
            log.error("smtp: unexpected %s sending outbox %d", type(exc).__name__, row.id)
            detail = _detail(f"unexpected error: {type(exc).__name__}")
            raise _ConnectionBroken(Outcome(Delivery.TEMPORARY, detail)) from exc
        if errors:  # some recipients refused, others accepted (not with one recipient a row)
            worst_code = max(r.code for r in errors.values())
            texts = "; ".join(f"{a}: {r.code} {r.message}" for a, r in errors.items())
            return _by_code(worst_code, _detail(texts))
        return Outcome(Delivery.SENT, _reply(250, response))

    @staticmethod
    async def _quit(client: aiosmtplib.SMTP) -> None:
        try:
            await client.quit()
        except Exception:  # the messages are sent; a failed goodbye changes nothing
            client.close()
