"""A crashed dispatcher re-sends at most the one message each SMTP connection had in flight.

`escalation dispatch` (the real command, in a process of its own, default batch size) sends a
queue of messages to a slow aiosmtpd server on 127.0.0.1 over three connections and is
SIGKILLed mid-run again and again, on SQLite and on PostgreSQL, then run to completion. The
server counts what it accepts by Message-ID. After each kill, a message the server accepted
whose row is still pending is one the next run will send again: there may be at most one per
connection. Every message arrives, and none more than twice (one that was in flight at one
crash is recorded in the next run's first batch, so a message at the head of the queue is not
sent again at every crash). The same test fails on the dispatcher that recorded a batch of 100
only at its end: 9 to 24 messages in flight at each of the five crashes.

And the dispatcher's batches to the SMTP mailer hold one message per connection, over the same
connections from the first batch to the last; once every connection has given up (nothing can
go on the wire), the rest is recorded for a retry in whole batches. Two dispatchers at once
(no crash) deliver each message exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from escalation.casework.models_service import JobRun, OutboxMessage, OutboxStatus
from escalation.casework.service import Service
from escalation.mail.dispatch import dispatch_once
from escalation.mail.mailer import Outcome
from escalation.mail.outbox import enqueue
from escalation.mail.smtp import SmtpConnections, SmtpMailer, parse_smtp_url
from escalation.rules.registry import ProtocolRegistry
from tests.smtp_sink import SmtpSink, free_port

SENDER = "Case Resolution Protocol <no-reply@example.org>"
CONNECTIONS = 3
MESSAGES = 150
KILLS = 5
QUEUED_AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SENT = OutboxStatus.SENT.value
PENDING = OutboxStatus.PENDING.value


class SlowServer(SmtpSink):
    """Takes 30 ms over each DATA, so a kill lands while messages are on the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.in_data = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.in_data += 1  # one event loop: no lock needed
        try:
            return await super().handle_DATA(server, session, envelope)
        finally:
            self.in_data -= 1

    async def before_data(self) -> None:
        await asyncio.sleep(0.03)

    def settle(self) -> None:
        """Wait until a DATA the dead client had sent is answered: none in progress and no new
        message for 0.3 s (a fixed sleep was too short on a loaded machine)."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            before = len(self.message_ids())
            time.sleep(0.3)
            if self.in_data == 0 and len(self.message_ids()) == before:
                return
        raise AssertionError("the server was still receiving 15 s after the kill")


def queue_messages(sessions: sessionmaker[Session]) -> set[str]:
    with sessions.begin() as session:
        for n in range(MESSAGES):
            enqueue(
                session,
                challenge_id=None,
                kind="raised",
                idempotency_key=f"crash-test:raised:{n}",
                message_id=f"<crash-{n:04d}@escalation.example.org>",
                recipient_email=f"person{n}@example.org",
                recipient_name=f"Person {n}",
                recipient_role="responder",
                subject=f"Challenge CRP-2026-{n:05d} needs your response",
                text_body=f"Challenge CRP-2026-{n:05d} needs your response.",
                html_body=f"<p>Challenge CRP-2026-{n:05d} needs your response.</p>",
                created_at=QUEUED_AT,
            )
    return {f"<crash-{n:04d}@escalation.example.org>" for n in range(MESSAGES)}


def statuses(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return {r.message_id: r.status for r in session.scalars(select(OutboxMessage))}


def database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def dispatcher(engine: Engine, port: int, folder: Path) -> Callable[[], subprocess.Popen[bytes]]:
    """Starts `escalation dispatch` in a process of its own, against `engine`'s database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATION_")}
    env |= {
        "ESCALATION_DATABASE_URL": database_url(engine),
        "ESCALATION_SMTP_URL": f"smtp://127.0.0.1:{port}?connections={CONNECTIONS}&timeout=5",
        "ESCALATION_MAIL_FROM": SENDER,
    }
    script = Path(sys.executable).parent / "escalation"
    now = (QUEUED_AT + timedelta(minutes=5)).isoformat(timespec="minutes")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(script), "--now", now, "dispatch"],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    return start


def test_it_resends_at_most_one_message_per_connection_after_each_crash(
    engine: Engine,
    sessions: sessionmaker[Session],
    smtp_server: Callable[..., int],
    tmp_path: Path,
) -> None:
    queued = queue_messages(sessions)
    server = SlowServer()
    port = smtp_server(server, free_port())
    start = dispatcher(engine, port, tmp_path)

    chance = random.Random(20261207)
    in_flight_at: list[set[str]] = []  # per crash: accepted by the server, still pending
    for _ in range(KILLS):
        wanted = len(server.message_ids()) + chance.randint(CONNECTIONS + 1, 25)
        process = start()
        deadline = time.monotonic() + 60
        while len(server.message_ids()) < wanted:
            if process.poll() is None and time.monotonic() > deadline:
                process.kill()  # and read its pipe: nothing left running after the test
                stderr = process.communicate(timeout=30)[1].decode()[-2000:]
                pytest.fail(f"the server had not {wanted} messages 60 s into a dispatch:\n{stderr}")
            if process.poll() is not None:
                stderr = process.communicate(timeout=30)[1].decode()[-2000:]
                pytest.fail(f"the dispatch ended before it was killed:\n{stderr}")
            time.sleep(0.002)
        time.sleep(chance.uniform(0, 0.03))
        assert process.poll() is None, "the dispatch ended before it was killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert process.stderr is not None
        stderr = process.stderr.read().decode()
        process.stderr.close()
        assert "Traceback" not in stderr, stderr
        server.settle()
        now_status = statuses(sessions)
        in_flight = {m for m in set(server.message_ids()) if now_status[m] == PENDING}
        in_flight_at.append(in_flight)

    final = start()
    _, stderr_bytes = final.communicate(timeout=120)
    assert final.returncode == 0, stderr_bytes.decode()

    assert [len(s) <= CONNECTIONS for s in in_flight_at] == [True] * KILLS, [
        len(s) for s in in_flight_at
    ]
    done = statuses(sessions)
    assert set(done) == queued
    assert Counter(done.values()) == {SENT: MESSAGES}
    received = Counter(server.message_ids())
    assert set(received) == queued  # every message arrived; nothing unknown did
    resent = {m: count - 1 for m, count in received.items() if count > 1}
    assert sum(resent.values()) <= KILLS * CONNECTIONS, resent
    # Sent again only as often as it was in flight at a crash.
    crashes_in_flight = Counter(m for in_flight in in_flight_at for m in in_flight)
    assert {m: n for m, n in resent.items() if n > crashes_in_flight[m]} == {}
    # One message per connection a batch: once the server has more than CONNECTIONS
    # messages of a run, the run's first batch (what the crash before left in flight, at the
    # head of the queue) is recorded, so no message is in flight at two crashes.
    assert max(received.values()) <= 2, received.most_common(3)


def batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the dispatcher hands the SMTP connections, as it goes."""
    batches: list[int] = []
    send_batch = SmtpConnections.send_batch

    def counted(self: SmtpConnections, rows: Sequence[OutboxMessage]) -> dict[int, Outcome]:
        batches.append(len(rows))
        return send_batch(self, rows)

    monkeypatch.setattr(SmtpConnections, "send_batch", counted)
    return batches


def test_it_hands_the_smtp_mailer_one_message_per_connection_over_kept_connections(
    sessions: sessionmaker[Session],
    registry: ProtocolRegistry,
    smtp_server: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued = queue_messages(sessions)
    server = SmtpSink()
    port = smtp_server(server)
    settings = parse_smtp_url(f"smtp://127.0.0.1:{port}?connections={CONNECTIONS}&timeout=5")
    batches = batch_sizes(monkeypatch)

    result = dispatch_once(
        Service(sessions, registry), SmtpMailer(settings, SENDER), QUEUED_AT, batch_size=100
    )

    assert (result.sent, result.retrying, result.failed) == (MESSAGES, 0, 0)
    assert batches == [CONNECTIONS] * (MESSAGES // CONNECTIONS)  # one message a connection
    assert sorted(server.message_ids()) == sorted(queued)
    assert len(server.peers) == CONNECTIONS  # the same connections for every batch


def test_it_records_the_rest_in_whole_batches_once_every_connection_has_given_up(
    sessions: sessionmaker[Session],
    registry: ProtocolRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue_messages(sessions)
    settings = parse_smtp_url(f"smtp://127.0.0.1:{free_port()}?connections={CONNECTIONS}")
    batches = batch_sizes(monkeypatch)

    result = dispatch_once(
        Service(sessions, registry), SmtpMailer(settings, SENDER), QUEUED_AT, batch_size=100
    )

    assert (result.sent, result.retrying, result.failed) == (0, MESSAGES, 0)
    # Nobody listens: the first batch's connects are refused, and nothing more can go on the
    # wire, so the rest is recorded for a retry 100 at a time rather than 3 at a time.
    assert batches == [CONNECTIONS, 100, MESSAGES - CONNECTIONS - 100]


def test_it_sends_each_message_once_with_two_dispatchers_at_once(
    engine: Engine,
    sessions: sessionmaker[Session],
    smtp_server: Callable[..., int],
    tmp_path: Path,
) -> None:
    queued = queue_messages(sessions)
    server = SlowServer()
    start = dispatcher(engine, smtp_server(server), tmp_path)

    both = [start(), start()]
    for process in both:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()

    assert sorted(server.message_ids()) == sorted(queued)  # each exactly once
    assert Counter(statuses(sessions).values()) == {SENT: MESSAGES}
    with sessions() as session:
        runs = session.scalars(select(JobRun).where(JobRun.job == "dispatch")).all()
    sent = [run.summary["sent"] for run in runs]
    assert len(sent) == 2 and sum(sent) == MESSAGES, sent
    if engine.dialect.name == "postgresql":
        # Both took part (SKIP LOCKED). On SQLite the one holding the write lock takes it again
        # at once after each commit, before the other's busy handler wakes, so one does it all.
        assert min(sent) > 0, sent
