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

Connections: a batch's rows are dealt round-robin over at most `settings.connections`
connections; each connection sends its share one message after another. `send_batch` opens
fresh connections and closes them before it returns; `connected()` keeps them open across
batches for the dispatcher, which hands it one message per connection at a time. When a
connection breaks (disconnect, timeout, socket error), the row in flight is TEMPORARY (it may
have been delivered: the re-send carries the same Message-ID) and the connection reconnects
ONCE, at its next message (a delivery since renews that); if a connect or that reconnect
fails, or it breaks again, it gives up and its further rows are TEMPORARY without being
attempted (with `connected()`, later batches go to the connections that have not given up).
A 4xx/5xx reply keeps the connection (aiosmtplib resets the envelope).

`detail` holds the SMTP code and the server's text, or a description of the connection error,
never any message content; it is cut to `DETAIL_LIMIT` characters.

`send_batch` and `connected` run their own event loop, so they must be called from synchronous
code (no running loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib

from escalation.casework.models_service import OutboxMessage
from escalation.config import ConfigError

# Delivery and Outcome live in escalation.mail.mailer (shared with FileMailer and the dispatcher);
# they are re-exported here so `from escalation.mail.smtp import Delivery, Outcome` is the same
# class.
from escalation.mail.mailer import Delivery, Outcome, envelope_sender, message_bytes

__all__ = [
    "Delivery",
    "Outcome",
    "SmtpConnections",
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


# A kept connection unused this long is checked with a NOOP before its next message.
IDLE_CHECK_SECONDS = 1.0


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
        """Send `rows` over fresh connections, closed again before returning."""
        if not rows:
            return {}
        return asyncio.run(self.send_batch_async(rows))

    async def send_batch_async(self, rows: Sequence[OutboxMessage]) -> dict[int, Outcome]:
        lanes = [_Lane(self) for _ in range(self.settings.connections)]
        try:
            return await _send_over(lanes, rows)
        finally:
            await asyncio.gather(*(lane.close() for lane in lanes))

    @contextmanager
    def connected(self) -> Iterator[SmtpConnections]:
        """Connections kept open across batches until the block ends (the dispatcher's run).

        The dispatcher sends one message per connection at a time and records each small
        batch before the next, so a crash re-sends at most one message per connection.
        """
        with asyncio.Runner() as runner:
            connections = SmtpConnections(self, runner)
            try:
                yield connections
            finally:
                runner.run(connections.close())

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
            outcome = Outcome(
                Delivery.TEMPORARY, "sender refused: " + _reply(exc.code, exc.message)
            )
            if 400 <= exc.code <= 499 or not client.is_connected:
                # A server may refuse more mail on a connection (Exchange's messages-per-
                # connection limit) and keep it open: a kept connection would then refuse every
                # message of the run. A new one is the remedy; two refusals running give up.
                raise _ConnectionBroken(outcome) from exc
            return outcome
        except aiosmtplib.SMTPResponseException as exc:
            outcome = _by_code(exc.code, _reply(exc.code, exc.message))
            # 421: the server is closing. Another 4xx at DATA is about this message (greylisting,
            # a full queue): the connection carries on.
            if exc.code == 421 or not client.is_connected:
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


class SmtpConnections:
    """The connections of one `SmtpMailer.connected()` block; a mailer for the dispatcher."""

    def __init__(self, mailer: SmtpMailer, runner: asyncio.Runner) -> None:
        self.runner = runner
        self.lanes = [_Lane(mailer) for _ in range(mailer.settings.connections)]

    @property
    def in_flight(self) -> int | None:
        """Messages one batch should hold: one per connection that has not given up; None
        once all have, since nothing more goes on the wire (the rest of the run is recorded
        TEMPORARY in the caller's usual batches, not one by one)."""
        return sum(lane.gave_up is None for lane in self.lanes) or None

    def send_batch(self, rows: Sequence[OutboxMessage]) -> dict[int, Outcome]:
        if not rows:
            return {}
        return self.runner.run(_send_over(self.lanes, rows))

    async def close(self) -> None:
        await asyncio.gather(*(lane.close() for lane in self.lanes))


async def _send_over(lanes: list[_Lane], rows: Sequence[OutboxMessage]) -> dict[int, Outcome]:
    """Deal `rows` round-robin over the lanes still usable (all, if none is) and send."""
    usable = [lane for lane in lanes if lane.gave_up is None] or lanes
    count = max(1, min(len(usable), len(rows)))
    outcomes: dict[int, Outcome] = {}
    await asyncio.gather(
        *(lane.send_all(rows[i::count], outcomes) for i, lane in enumerate(usable[:count]))
    )
    for row in rows:  # belt and braces: every row has an outcome
        outcomes.setdefault(row.id, Outcome(Delivery.TEMPORARY, "not attempted"))
    return outcomes


class _Lane:
    """One connection and the messages sent over it, one after another, across batches.

    It connects when first needed. When it breaks, it reconnects once, at the next message; a
    message delivered since renews that. If a connect fails, or it breaks twice running, it
    gives up: later messages are TEMPORARY without being attempted.
    """

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self.client: aiosmtplib.SMTP | None = None
        self.reconnect_allowed = True
        self.gave_up: str | None = None
        self.used_at = time.monotonic()

    async def send_all(self, rows: Sequence[OutboxMessage], outcomes: dict[int, Outcome]) -> None:
        for row in rows:
            outcomes[row.id] = await self.send(row)

    async def send(self, row: OutboxMessage) -> Outcome:
        await self._check_idle()
        if self.client is None and self.gave_up is None:
            client = await self.mailer._connect()
            if isinstance(client, str):
                self._give_up(client)
            else:
                self.client = client
        if self.client is None:
            return Outcome(Delivery.TEMPORARY, self.gave_up or "not attempted")
        try:
            outcome = await self.mailer._send_one(self.client, row)
        except _ConnectionBroken as broken:
            self.client.close()
            self.client = None
            if not self.reconnect_allowed:
                self._give_up(f"not attempted after: {broken.outcome.detail}")
            self.reconnect_allowed = False
            return broken.outcome
        self.used_at = time.monotonic()
        if outcome.delivery is Delivery.SENT:
            self.reconnect_allowed = True
        return outcome

    async def _check_idle(self) -> None:
        """A kept connection idle for a while (the database held the dispatcher up) may have
        been dropped by the server's idle timeout: find out with a NOOP, before a message is
        charged an attempt for it, and start afresh without counting it as a break."""
        client = self.client
        if client is None or time.monotonic() - self.used_at < IDLE_CHECK_SECONDS:
            return
        try:
            if client.is_connected:
                await client.noop()
                return
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        client.close()
        self.client = None

    def _give_up(self, reason: str) -> None:
        self.gave_up = reason
        log.warning(
            "smtp: a connection gave up; its further messages are not attempted: %s", reason
        )

    async def close(self) -> None:
        if self.client is not None:
            await SmtpMailer._quit(self.client)
            self.client = None
