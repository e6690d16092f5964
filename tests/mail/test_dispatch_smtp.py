"""The dispatcher end to end: outbox rows written by real events, sent by `dispatch_once` (and
by the `escalation dispatch` command) through the SMTP mailer to a real aiosmtpd server on
127.0.0.1, with the server's answers scripted: accepting, busy (421/451), refusing one recipient
(550), down, and slow while the dispatching process is killed again and again.

What the server received is compared with the outbox by Message-ID: every row is delivered,
each Message-ID at least once, and more than once only when a crash left it in flight.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from escalation.casework import db, directory, sweep
from escalation.casework.intake import Resolution
from escalation.casework.models import ChronologyEntry
from escalation.casework.models_service import OutboxMessage, OutboxStatus
from escalation.casework.service import Service
from escalation.cli.main import main
from escalation.mail.dispatch import dispatch_once
from escalation.mail.emails import EmailRenderer
from escalation.mail.outbox import OutboxNotifier
from escalation.mail.smtp import SmtpMailer, parse_smtp_url
from escalation.rules.registry import ProtocolRegistry
from tests.conftest import (
    FIXTURES,
    SCHOOL_DSL,
    SOCIAL_WORKER,
    london,
    raise_request,
)
from tests.smtp_sink import SmtpSink, free_port

SENDER = "Case Resolution Protocol <no-reply@example.org>"
BASE_URL = "https://escalation.example.org"
MONDAY_7_DEC_10AM = london("2026-12-07 10:00")
RESOLUTION = Resolution("decision_changed", "Assessment allocated", "Seen weekly", True)
SENT = OutboxStatus.SENT.value
PENDING = OutboxStatus.PENDING.value
FAILED = OutboxStatus.FAILED.value


# -- the SMTP server -----------------------------------------------------------------------------


Server = SmtpSink


@pytest.fixture
def serve(smtp_server: Callable[..., int]) -> Callable[..., int]:
    return smtp_server


def smtp_mailer(port: int, connections: int = 3) -> SmtpMailer:
    settings = parse_smtp_url(f"smtp://127.0.0.1:{port}?connections={connections}&timeout=5")
    return SmtpMailer(settings, SENDER)


# -- the database --------------------------------------------------------------------------------


def mailing(service: Service, registry: ProtocolRegistry) -> Service:
    service.notifier = OutboxNotifier(registry, EmailRenderer(), BASE_URL)
    return service


@pytest.fixture
def sqlite_file(
    tmp_path: Path, sqlite_template: Path, registry: ProtocolRegistry
) -> Iterator[tuple[Path, Service]]:
    """A SQLite file of its own with the schema and the personas, for the CLI and processes."""
    path = tmp_path / "escalation.db"
    shutil.copyfile(sqlite_template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    sessions = db.session_factory(engine)
    directory.import_csv(sessions, FIXTURES / "directory.csv", registry.partnerships())
    yield path, mailing(Service(sessions, registry), registry)
    engine.dispose()


def outbox(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def full_scenario(service: Service) -> str:
    """Raise, acknowledge, respond, escalate, lapse in the sweep, resolve."""
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    service.acknowledge(ref, SOCIAL_WORKER, london("2026-12-07 14:00"))
    service.respond(
        ref, SOCIAL_WORKER, "upheld", "Threshold not met", [], london("2026-12-08 10:00")
    )
    service.escalate(ref, SCHOOL_DSL, "Further disclosures", london("2026-12-08 11:00"))
    # Level 2 is due Thu 10 Dec 17:00; nobody answers, so the sweep lapses it to level 3.
    assert sweep.run_once(service, london("2026-12-10 17:05")).claimed >= 1
    service.resolve(ref, SCHOOL_DSL, RESOLUTION, london("2026-12-11 09:00"))
    return ref


def first_days(service: Service) -> None:
    """Raise, acknowledge, respond, escalate: within the 48-hour retry limit of 2026-12-08 11:05
    (a temporary failure of an older message is final at once)."""
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    service.acknowledge(ref, SOCIAL_WORKER, london("2026-12-07 14:00"))
    service.respond(
        ref, SOCIAL_WORKER, "upheld", "Threshold not met", [], london("2026-12-08 10:00")
    )
    service.escalate(ref, SCHOOL_DSL, "Further disclosures", london("2026-12-08 11:00"))


def dispatch_until_done(
    service: Service, mailer: SmtpMailer, start: datetime, rounds: int = 12
) -> datetime:
    """Dispatch every few minutes (past any backoff) until nothing is pending."""
    now = start
    for _ in range(rounds):
        dispatch_once(service, mailer, now)
        if all(r.status != PENDING for r in outbox(service.sessions)):
            return now
        now += timedelta(minutes=5)
    pytest.fail(f"still pending after {rounds} dispatches: {outbox(service.sessions)}")


def assert_each_delivered_once(server: Server, rows: list[OutboxMessage]) -> None:
    received = server.message_ids()
    assert len(received) == len(set(received)), Counter(received).most_common(3)
    assert sorted(received) == sorted(r.message_id for r in rows)


# -- 1. normal delivery --------------------------------------------------------------------------


def test_it_delivers_every_email_of_a_full_scenario_to_its_recipient(
    service: Service, registry: ProtocolRegistry, serve: Callable[..., int]
) -> None:
    mailing(service, registry)
    ref = full_scenario(service)
    queued = outbox(service.sessions)
    assert len(queued) >= 10, [r.kind for r in queued]
    assert {r.kind for r in queued} == {
        "raised",
        "acknowledged",
        "response_received",
        "escalated_by_raiser",
        "escalated_unanswered",  # the sweep's lapse
        "resolved",
    }
    server = Server()
    port = serve(server)

    result = dispatch_once(service, smtp_mailer(port), london("2026-12-11 09:05"))

    assert (result.sent, result.retrying, result.failed) == (len(queued), 0, 0)
    assert_each_delivered_once(server, queued)
    by_id = {r.message_id: r for r in server.received}
    for row in queued:
        got = by_id[row.message_id]
        assert got.envelope_to == (row.recipient_email,)
        assert got.message["Subject"] == row.subject
        assert ref in str(got.message["Subject"])
        assert got.message["To"].addresses[0].addr_spec == row.recipient_email
        plain = got.message.get_body(preferencelist=("plain",))
        html = got.message.get_body(preferencelist=("html",))
        assert plain is not None and html is not None
        # SMTP carries CRLF line endings; the text itself is the row's.
        assert plain.get_content().splitlines() == row.text_body.splitlines()
        assert html.get_content().splitlines() == row.html_body.splitlines()
    after = outbox(service.sessions)
    assert all(r.status == SENT and r.attempts == 1 and r.sent_at for r in after), after
    # A second dispatch has nothing left to send.
    assert dispatch_once(service, smtp_mailer(port), london("2026-12-11 09:10")).sent == 0
    assert len(server.received) == len(queued)


# -- 2. busy server ------------------------------------------------------------------------------


class BusyAtFirst(Server):
    def __init__(self, reply: str, busy_for: int) -> None:
        super().__init__()
        self.reply, self.busy_for = reply, busy_for

    def refuse_data(self, count: int) -> str | None:
        return self.reply if count <= self.busy_for else None


@pytest.mark.parametrize("reply", ["421 4.3.2 closing, try later", "451 4.3.0 try later"])
def test_it_delivers_each_deferred_message_once_after_backoff(
    service: Service, registry: ProtocolRegistry, serve: Callable[..., int], reply: str
) -> None:
    mailing(service, registry)
    first_days(service)
    queued = outbox(service.sessions)
    server = BusyAtFirst(reply, busy_for=4)
    port = serve(server)
    mailer = smtp_mailer(port)
    start = london("2026-12-08 11:05")

    first = dispatch_once(service, mailer, start)
    assert first.retrying >= 4 and first.failed == 0, first
    deferred = {message_id for message_id, _ in server.refused}
    assert len(deferred) == 4
    # Not due again until the backoff has passed.
    assert dispatch_once(service, mailer, start + timedelta(seconds=30)).sent == 0

    dispatch_until_done(service, mailer, start + timedelta(minutes=1))

    after = outbox(service.sessions)
    assert all(r.status == SENT for r in after), after
    assert_each_delivered_once(server, queued)
    for row in after:
        if row.message_id in deferred:
            assert row.attempts > 1, row
            assert row.last_error is None  # cleared once sent
    assert any(r.attempts == 1 for r in after)


# -- 3. a refused recipient ----------------------------------------------------------------------

GONE = "frontdoor.sw@devon.example.org"


class UnknownMailbox(Server):
    def refuse_rcpt(self, address: str) -> str | None:
        return "550 5.1.1 mailbox unknown" if address == GONE else None


def test_it_fails_a_refused_recipient_into_the_chronology_and_outbox_list(
    tmp_path: Path,
    sqlite_file: tuple[Path, Service],
    serve: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database, service = sqlite_file
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    service.acknowledge(ref, SOCIAL_WORKER, london("2026-12-07 14:00"))
    queued = outbox(service.sessions)
    assert GONE in {r.recipient_email for r in queued}
    server = UnknownMailbox()
    port = serve(server)

    result = dispatch_once(service, smtp_mailer(port), london("2026-12-07 14:05"))

    gone = [r for r in queued if r.recipient_email == GONE]
    others = [r for r in queued if r.recipient_email != GONE]
    assert (result.sent, result.failed, result.retrying) == (len(others), len(gone), 0)
    assert_each_delivered_once(server, others)
    after = {r.id: r for r in outbox(service.sessions)}
    for row in gone:
        assert after[row.id].status == FAILED
        assert after[row.id].last_error == "550 5.1.1 mailbox unknown"
    assert all(after[r.id].status == SENT for r in others)
    with service.sessions() as session:
        entries = session.scalars(select(ChronologyEntry).order_by(ChronologyEntry.seq)).all()
    failures = [e for e in entries if e.event == "email_failed"]
    assert len(failures) == len(gone)
    for entry in failures:
        assert entry.who == "system (dispatcher)"
        assert "Alex Social Worker" in entry.concern
        assert "550 5.1.1" in entry.action
    # A failure is permanent: the next dispatch does not try again.
    assert dispatch_once(service, smtp_mailer(port), london("2026-12-07 15:00")).sent == 0
    assert GONE not in {a for r in server.received for a in r.envelope_to}

    for variable in [v for v in os.environ if v.startswith("ESCALATION_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("ESCALATION_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.chdir(tmp_path)
    listed = CliRunner().invoke(main, ["outbox", "list", "--failed"])
    assert listed.exit_code == 0, (listed.stdout, listed.stderr)
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == len(gone), listed.stdout
    for line, row in zip(lines, gone, strict=True):
        assert line.split()[:2] == [str(row.id), FAILED]
        assert GONE in line
        assert row.subject in line
    shown = CliRunner().invoke(main, ["outbox", "show", str(gone[0].id)])
    assert shown.exit_code == 0, shown.stderr
    assert "Status: failed (attempts 1, last error: 550 5.1.1 mailbox unknown)" in shown.stdout


# -- 4. server down, then up ---------------------------------------------------------------------


def test_it_keeps_everything_pending_while_the_server_is_down_then_delivers_once(
    service: Service, registry: ProtocolRegistry, serve: Callable[..., int]
) -> None:
    mailing(service, registry)
    first_days(service)
    queued = outbox(service.sessions)
    port = free_port()  # nothing listens here yet
    mailer = smtp_mailer(port)
    start = london("2026-12-08 11:05")

    down = dispatch_once(service, mailer, start)

    assert (down.sent, down.retrying, down.failed) == (0, len(queued), 0)
    during = outbox(service.sessions)
    assert all(r.status == PENDING and r.attempts == 1 for r in during), during
    assert all("refused" in (r.last_error or "") for r in during), during[0].last_error

    server = Server()
    serve(server, port)
    up = dispatch_once(service, mailer, start + timedelta(minutes=1))

    assert (up.sent, up.retrying, up.failed) == (len(queued), 0, 0)
    assert_each_delivered_once(server, queued)
    assert all(r.status == SENT and r.attempts == 2 for r in outbox(service.sessions))
    assert dispatch_once(service, mailer, start + timedelta(hours=1)).sent == 0


# -- 5. crash safety: `escalation dispatch` killed again and again -------------------------------

CHALLENGES = 160  # three messages each: enough for every kill to find the dispatch running
KILLS = 12


class Slow(Server):
    async def before_data(self) -> None:
        await asyncio.sleep(0.01)


def statuses(database: Path) -> dict[str, str]:
    """Message-ID → status, read with a fresh engine (the killed process held none of it)."""
    engine = db.make_engine(f"sqlite:///{database}")
    try:
        with db.session_factory(engine)() as session:
            return {r.message_id: r.status for r in session.scalars(select(OutboxMessage))}
    finally:
        engine.dispose()


def test_it_loses_no_message_when_the_dispatch_process_is_killed(
    tmp_path: Path, sqlite_file: tuple[Path, Service], serve: Callable[..., int]
) -> None:
    database, service = sqlite_file
    for n in range(CHALLENGES):
        service.raise_challenge(
            raise_request(child_ref=f"CHILD-{n:04d}"), MONDAY_7_DEC_10AM + timedelta(seconds=n)
        )
    service.sessions.kw["bind"].dispose()  # the processes below have the file to themselves
    queued = statuses(database)
    assert len(queued) == 3 * CHALLENGES
    server = Slow()
    port = serve(server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATION_")}
    env |= {
        "ESCALATION_DATABASE_URL": f"sqlite:///{database}",
        "ESCALATION_SMTP_URL": f"smtp://127.0.0.1:{port}?connections=2&timeout=5",
        "ESCALATION_MAIL_FROM": SENDER,
    }
    script = Path(sys.executable).parent / "escalation"
    start = datetime(2026, 12, 7, 10, 30)

    def run(index: int) -> subprocess.Popen[bytes]:
        now = (start + timedelta(minutes=10 * index)).isoformat(timespec="minutes")
        argv = [str(script), "--now", now, "dispatch", "--batch-size", "20"]
        return subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    chance = random.Random(20261207)
    in_flight: set[str] = set()  # received, but still pending after a kill
    killed_running = 0
    for index in range(KILLS):
        before = len(server.message_ids())
        process = run(index)
        if index % 4 == 0:  # at a plain delay: often before or while the first batch goes out
            time.sleep(chance.uniform(0.05, 1.5))
        else:  # after the server has taken a varying number of new messages
            wanted = before + chance.randint(1, 70)
            deadline = time.monotonic() + 60  # it starts in a second, more on a busy machine
            while len(server.message_ids()) < wanted and process.poll() is None:
                if time.monotonic() > deadline:
                    process.kill()  # and read its pipe: nothing left running after the test
                    stderr = process.communicate(timeout=30)[1].decode()[-2000:]
                    pytest.fail(f"server: not {wanted} messages 60 s into a dispatch: {stderr}")
                time.sleep(0.002)
            time.sleep(chance.uniform(0, 0.03))
        killed_running += process.poll() is None
        process.kill()
        assert process.stderr is not None
        stderr = process.stderr.read().decode()
        process.stderr.close()
        process.wait(timeout=30)
        assert "Traceback" not in stderr, stderr
        time.sleep(0.1)  # let the server finish a DATA the dead client had started
        now_status = statuses(database)
        in_flight |= {m for m in server.message_ids() if now_status[m] == PENDING}
    assert killed_running >= 10, killed_running
    assert in_flight, "no kill caught a batch between sending and committing"

    final = run(KILLS)
    _, stderr_bytes = final.communicate(timeout=60)
    assert final.returncode == 0, stderr_bytes.decode()

    done = statuses(database)
    assert set(done) == set(queued)
    assert all(status == SENT for status in done.values()), Counter(done.values())
    received = Counter(server.message_ids())
    assert set(received) == set(queued)  # nothing lost, nothing unknown
    duplicates = {m for m, count in received.items() if count > 1}
    assert duplicates <= in_flight, duplicates - in_flight
    for got in server.received:  # a re-send is the same message, to the same person
        assert got.envelope_to == (got.message["To"].addresses[0].addr_spec,)
