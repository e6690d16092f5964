"""The SMTP mailer against a real aiosmtpd server on 127.0.0.1, and the SMTP URL parser."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from escalation.casework.models_service import OutboxMessage
from escalation.config import ConfigError
from escalation.mail.smtp import Delivery, Outcome, SmtpMailer, SmtpSettings, parse_smtp_url
from tests.smtp_sink import SmtpSink, free_port

SENDER = "Case Resolution Protocol <no-reply@partnership.test>"
SECRET_BODY = "Concern summary that must never reach an outcome detail"


def row(n: int, email: str | None = None) -> OutboxMessage:
    at = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
    return OutboxMessage(
        id=n,
        kind="raised",
        idempotency_key=f"challenge-1:raised:{n}",
        message_id=f"<outbox-{n}@test>",
        recipient_email=email or f"person{n}@example.org",
        recipient_name=f"Person {n}",
        recipient_role="responder",
        subject=f"Challenge CRP-2025-{n:04d}",
        text_body=f"Plain text {n}. {SECRET_BODY}",
        html_body=f"<p>HTML {n}. {SECRET_BODY}</p>",
        status="pending",
        attempts=0,
        created_at=at,
        next_attempt_at=at,
    )


Recorder = SmtpSink


@pytest.fixture
def serve(smtp_server: Callable[..., int]) -> Callable[[Recorder], SmtpSettings]:
    def start(handler: Recorder) -> SmtpSettings:
        return SmtpSettings(
            host="127.0.0.1",
            port=smtp_server(handler),
            username=None,
            password=None,
            use_tls=False,
            start_tls=False,
            timeout=5,
            connections=3,
        )

    return start


def assert_no_body_in(outcomes: dict[int, Outcome]) -> None:
    for outcome in outcomes.values():
        assert SECRET_BODY not in outcome.detail


def test_it_delivers_several_messages_over_reused_connections(
    serve: Callable[[Recorder], SmtpSettings],
) -> None:
    handler = Recorder()
    settings = serve(handler)
    rows = [row(n) for n in range(1, 11)]

    outcomes = SmtpMailer(settings, SENDER).send_batch(rows)

    assert set(outcomes) == {r.id for r in rows}
    assert all(o.delivery is Delivery.SENT for o in outcomes.values()), outcomes
    assert outcomes[1].detail.startswith("250 ")
    assert sorted(handler.message_ids()) == sorted(r.message_id for r in rows)
    assert len(set(handler.message_ids())) == len(rows)  # each exactly once
    assert 1 <= len(handler.peers) <= settings.connections
    assert sorted(handler.recipients) == sorted(r.recipient_email for r in rows)
    for message in handler.messages:
        n = int(str(message["Message-ID"]).removeprefix("<outbox-").removesuffix("@test>"))
        assert message["Subject"] == f"Challenge CRP-2025-{n:04d}"
        assert str(message["To"]) == f"Person {n} <person{n}@example.org>"
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert plain is not None and html is not None
        assert f"Plain text {n}." in plain.get_content()
        assert f"<p>HTML {n}." in html.get_content()
    assert_no_body_in(outcomes)


def test_it_uses_one_connection_when_configured_so(
    serve: Callable[[Recorder], SmtpSettings],
) -> None:
    handler = Recorder()
    settings = serve(handler)
    one = SmtpSettings(**{**settings.__dict__, "connections": 1})

    outcomes = SmtpMailer(one, SENDER).send_batch([row(n) for n in range(1, 6)])

    assert [o.delivery for o in outcomes.values()] == [Delivery.SENT] * 5
    assert len(handler.peers) == 1
    assert len(handler.messages) == 5


def test_it_returns_nothing_for_an_empty_batch() -> None:
    settings = parse_smtp_url(f"smtp://127.0.0.1:{free_port()}")
    assert SmtpMailer(settings, SENDER).send_batch([]) == {}


class BusyAtFirst(Recorder):
    def __init__(self, busy_for: int) -> None:
        super().__init__()
        self.busy_for = busy_for

    def refuse_data(self, count: int) -> str | None:
        return "451 4.3.0 try later" if count <= self.busy_for else None


def test_it_reports_4xx_as_temporary_and_sends_on_a_later_call(
    serve: Callable[[Recorder], SmtpSettings],
) -> None:
    handler = BusyAtFirst(busy_for=2)
    settings = serve(handler)
    one = SmtpSettings(**{**settings.__dict__, "connections": 1})
    mailer = SmtpMailer(one, SENDER)
    rows = [row(n) for n in range(1, 5)]

    first = mailer.send_batch(rows)

    assert first[1] == Outcome(Delivery.TEMPORARY, "451 4.3.0 try later")
    assert first[2] == Outcome(Delivery.TEMPORARY, "451 4.3.0 try later")
    assert first[3].delivery is Delivery.SENT  # the same connection carried on after the 451
    assert first[4].delivery is Delivery.SENT
    assert len(handler.peers) == 1

    second = mailer.send_batch(rows[:2])

    assert [o.delivery for o in second.values()] == [Delivery.SENT, Delivery.SENT]
    assert sorted(handler.message_ids()) == sorted(r.message_id for r in rows)
    assert_no_body_in(first)


class UnknownMailbox(Recorder):
    def refuse_rcpt(self, address: str) -> str | None:
        return "550 5.1.1 mailbox unknown" if address == "gone@example.org" else None


def test_it_reports_a_refused_recipient_as_permanent_and_sends_the_others(
    serve: Callable[[Recorder], SmtpSettings],
) -> None:
    handler = UnknownMailbox()
    settings = serve(handler)
    rows = [row(1), row(2, email="gone@example.org"), row(3), row(4), row(5)]

    outcomes = SmtpMailer(settings, SENDER).send_batch(rows)

    assert outcomes[2] == Outcome(Delivery.PERMANENT, "550 5.1.1 mailbox unknown")
    assert {n: o.delivery for n, o in outcomes.items() if n != 2} == dict.fromkeys(
        (1, 3, 4, 5), Delivery.SENT
    )
    assert sorted(handler.message_ids()) == [
        "<outbox-1@test>",
        *(f"<outbox-{n}@test>" for n in (3, 4, 5)),
    ]


class RejectsContent(Recorder):
    def refuse_data(self, count: int) -> str | None:
        return "554 5.6.0 content rejected" if count == 1 else None


def test_it_reports_a_5xx_data_reply_as_permanent(
    serve: Callable[[Recorder], SmtpSettings],
) -> None:
    handler = RejectsContent()
    settings = serve(handler)
    one = SmtpSettings(**{**settings.__dict__, "connections": 1})

    outcomes = SmtpMailer(one, SENDER).send_batch([row(1), row(2)])

    assert outcomes[1] == Outcome(Delivery.PERMANENT, "554 5.6.0 content rejected")
    assert outcomes[2].delivery is Delivery.SENT


def test_it_reports_every_row_temporary_when_the_server_is_down() -> None:
    settings = parse_smtp_url(f"smtp://127.0.0.1:{free_port()}?connections=2&timeout=5")
    rows = [row(n) for n in range(1, 6)]

    outcomes = SmtpMailer(settings, SENDER).send_batch(rows)

    assert set(outcomes) == {1, 2, 3, 4, 5}
    assert all(o.delivery is Delivery.TEMPORARY for o in outcomes.values())
    assert all("refused" in o.detail.lower() for o in outcomes.values()), outcomes


class ClosesAfterFirst(Recorder):
    """Accepts the first message, then answers 421 and drops the connection."""

    def refuse_data(self, count: int) -> str | None:
        return "421 4.3.2 shutting down" if count == 2 else None


def test_it_reconnects_once_when_the_server_closes_the_connection(
    serve: Callable[[Recorder], SmtpSettings],
) -> None:
    handler = ClosesAfterFirst()
    settings = serve(handler)
    one = SmtpSettings(**{**settings.__dict__, "connections": 1})

    outcomes = SmtpMailer(one, SENDER).send_batch([row(n) for n in range(1, 5)])

    assert outcomes[1].delivery is Delivery.SENT
    assert outcomes[2] == Outcome(Delivery.TEMPORARY, "421 4.3.2 shutting down")
    assert outcomes[3].delivery is Delivery.SENT
    assert outcomes[4].delivery is Delivery.SENT
    assert sorted(handler.message_ids()) == [
        "<outbox-1@test>",
        "<outbox-3@test>",
        "<outbox-4@test>",
    ]


# parse_smtp_url


def test_it_parses_a_starttls_url_with_credentials() -> None:
    settings = parse_smtp_url("smtp://alerts%40lscp.test:p%40ss@mail.lscp.test:587?starttls=true")
    assert settings == SmtpSettings(
        host="mail.lscp.test",
        port=587,
        username="alerts@lscp.test",
        password="p@ss",
        use_tls=False,
        start_tls=True,
        timeout=30,
        connections=4,
    )
    assert "p@ss" not in repr(settings)


def test_it_parses_smtps_and_plain_smtp_with_default_ports() -> None:
    smtps = parse_smtp_url("smtps://mail.lscp.test")
    assert (smtps.port, smtps.use_tls, smtps.start_tls) == (465, True, False)
    plain = parse_smtp_url("smtp://relay.internal")
    assert (plain.port, plain.use_tls, plain.start_tls, plain.username) == (25, False, False, None)
    assert parse_smtp_url("smtps://mail.lscp.test:2465").port == 2465


def test_it_parses_connections_and_timeout() -> None:
    settings = parse_smtp_url("smtp://relay:25?connections=8&timeout=12.5&starttls=false")
    assert (settings.connections, settings.timeout, settings.start_tls) == (8, 12.5, False)


def test_it_reads_the_password_from_a_file_over_the_urls(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("from-the-file\n", encoding="utf-8")
    settings = parse_smtp_url("smtp://alerts:in-the-url@relay:587", password_file=str(secret))
    assert settings.password == "from-the-file"
    assert settings.username == "alerts"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://relay", "ESCALATION_SMTP_URL: unknown scheme 'http'"),
        ("relay.internal:25", "ESCALATION_SMTP_URL: unknown scheme"),
        ("smtp://", "ESCALATION_SMTP_URL: no host"),
        ("smtp://:25", "ESCALATION_SMTP_URL: no host"),
        ("smtp://relay:smtp", "ESCALATION_SMTP_URL: bad port"),
        ("smtp://relay:70000", "ESCALATION_SMTP_URL: bad port"),
        ("smtp://relay:0", "ESCALATION_SMTP_URL: bad port"),
        ("smtp://relay?starttls=maybe", "ESCALATION_SMTP_URL: bad starttls value 'maybe'"),
        ("smtps://relay?starttls=true", "ESCALATION_SMTP_URL: starttls cannot be used with smtps"),
        ("smtp://relay?connections=0", "ESCALATION_SMTP_URL: bad connections value '0'"),
        ("smtp://relay?timeout=soon", "ESCALATION_SMTP_URL: bad timeout value 'soon'"),
        ("smtp://relay?tls=1", "ESCALATION_SMTP_URL: unknown option 'tls'"),
        ("smtp://:secret@relay", "ESCALATION_SMTP_URL: a password is given but no user name"),
    ],
)
def test_it_refuses_a_bad_smtp_url(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_smtp_url(url)
    assert str(raised.value).startswith(problem), str(raised.value)
    assert "secret" not in str(raised.value)


def test_it_refuses_an_unreadable_password_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=r"^ESCALATION_SMTP_PASSWORD_FILE: cannot read .*nope"):
        parse_smtp_url("smtp://alerts@relay", password_file=str(missing))


def test_it_refuses_an_empty_password_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^ESCALATION_SMTP_PASSWORD_FILE: .* is empty"):
        parse_smtp_url("smtp://alerts@relay", password_file=str(empty))


class DropsSecond(Recorder):
    """Closes the connection without a word on the second DATA, as a crashing relay would."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            dropping = self.data_commands == 1
        if dropping:
            with self.lock:
                self.data_commands += 1
            server.transport.close()
            return "250 never seen"
        return await super().handle_DATA(server, session, envelope)


def test_it_reports_a_dropped_connection_as_temporary_and_reconnects_once(
    serve: Callable[[Recorder], SmtpSettings],
) -> None:
    handler = DropsSecond()
    settings = serve(handler)
    one = SmtpSettings(**{**settings.__dict__, "connections": 1})

    outcomes = SmtpMailer(one, SENDER).send_batch([row(n) for n in range(1, 5)])

    assert outcomes[1].delivery is Delivery.SENT
    assert outcomes[2].delivery is Delivery.TEMPORARY
    assert outcomes[2].detail.startswith("connection lost"), outcomes[2]
    assert outcomes[3].delivery is Delivery.SENT
    assert outcomes[4].delivery is Delivery.SENT
    assert len(handler.peers) == 2


class Slow(Recorder):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(1.5)
        return await super().handle_DATA(server, session, envelope)


def test_it_reports_a_timeout_as_temporary(serve: Callable[[Recorder], SmtpSettings]) -> None:
    settings = serve(Slow())
    quick = SmtpSettings(**{**settings.__dict__, "connections": 1, "timeout": 0.3})

    outcomes = SmtpMailer(quick, SENDER).send_batch([row(1), row(2), row(3)])

    assert [o.delivery for o in outcomes.values()] == [Delivery.TEMPORARY] * 3
    assert outcomes[1].detail.startswith("timed out"), outcomes[1]
    assert outcomes[3].detail.startswith("not attempted after: timed out"), outcomes[3]


def test_it_shares_delivery_and_outcome_with_the_other_mailers() -> None:
    from escalation.mail import mailer, smtp

    assert smtp.Delivery is mailer.Delivery
    assert smtp.Outcome is mailer.Outcome
