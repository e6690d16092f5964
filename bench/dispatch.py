"""Dispatcher throughput against a local SMTP sink: prints figures, never asserts timings.

    python bench/dispatch.py [--messages 2000] [--connections 8] [--repeat 3] [--postgres URL]
                             [--sink-delay-ms 0]

An aiosmtpd sink listens on 127.0.0.1 (a free port) in a separate process, so it does not share
the benchmark's event loop, and counts the messages it accepts. Measured, each --repeat times:

  (a) one new aiosmtplib connection per message (connect, send_message, quit), sequentially;
  (b) the dispatcher as configured in production: N pending rows in the outbox of a fresh,
      migrated SQLite database (or, with --postgres URL, a fresh schema there), then
      `dispatch_once(service, SmtpMailer(...), now, 500)`, timed as a whole (claims, sending
      and status updates); every row must end `sent`. The dispatcher gives the SMTP mailer
      one message per connection at a time and commits each such batch, so a crash re-sends
      at most one message per connection; that commit is part of what is measured;
  (c) `SmtpMailer.send_batch` alone on in-memory rows (no database), for context.

The medians, the ratio (b)/(a) and PASS/FAIL against the targets are printed. The exit status
is 0 whatever the timings; it is 1 only when a correctness check fails (a row not sent, or the
sink's count differing from what was sent).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import multiprocessing
import os
import platform
import pstats
import shutil
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
from sqlalchemy import Engine, func, insert, select, text  # noqa: E402

from escalation.casework import db  # noqa: E402
from escalation.casework.models_service import OutboxMessage, OutboxStatus  # noqa: E402
from escalation.casework.service import Service  # noqa: E402
from escalation.mail.dispatch import dispatch_once  # noqa: E402
from escalation.mail.mailer import Delivery, envelope_sender, message_bytes  # noqa: E402
from escalation.mail.smtp import SmtpMailer, parse_smtp_url  # noqa: E402
from escalation.rules.registry import load_registry  # noqa: E402

SENDER = "Case Resolution Protocol <no-reply@partnership.test>"
BATCH_SIZE = 500
TARGET_RATE = 1500.0  # (b), messages per second
TARGET_RATIO = 2.5  # (b) / (a)
WARM_UP = 20  # messages sent once per measurement kind before timing, not counted as figures

TEXT_BODY = (
    "A challenge to a threshold decision has been raised and needs your response.\n\n"
    "Reference: {ref}\nLevel: 1\nRespond by: Friday 12 December 2025, 17:00\n\n"
    "Open the case record to acknowledge it. This message was sent by the escalation engine.\n"
)
HTML_BODY = (
    "<p>A challenge to a threshold decision has been raised and needs your response.</p>"
    "<ul><li>Reference: {ref}</li><li>Level: 1</li>"
    "<li>Respond by: Friday 12 December 2025, 17:00</li></ul>"
    "<p>Open the case record to acknowledge it.</p>"
)


# -- the sink (runs in its own process) -------------------------------------------------------


class _Counter:
    """aiosmtpd handler: accepts every message and counts it in shared memory."""

    def __init__(self, received: Synchronized[int], delay: float) -> None:
        self.received = received
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:  # a relay's own work per message (queueing, scanning)
            await asyncio.sleep(self.delay)
        with self.received.get_lock():
            self.received.value += 1
        return "250 2.0.0 OK"


def _run_sink(
    port: int, received: Synchronized[int], ready: Event, stop: Event, delay: float
) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Counter(received, delay), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        stop.wait()
    finally:
        controller.stop()


@dataclass
class Sink:
    port: int
    received: Synchronized[int]
    stop: Event
    process: multiprocessing.process.BaseProcess

    def close(self) -> None:
        self.stop.set()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def start_sink(delay: float = 0.0) -> Sink:
    context = multiprocessing.get_context("spawn")
    port = free_port()
    received: Synchronized[int] = context.Value("q", 0)
    ready, stop = context.Event(), context.Event()
    process = context.Process(
        target=_run_sink, args=(port, received, ready, stop, delay), name="smtp-sink", daemon=True
    )
    process.start()
    if not ready.wait(timeout=30):
        process.terminate()
        raise SystemExit("the SMTP sink did not start within 30 s")
    return Sink(port, received, stop, process)


# -- rows ---------------------------------------------------------------------------------------


def row_values(n: int, run: str, at: datetime) -> dict[str, Any]:
    """One outbox row as the notifier queues it: rendered parts, no wire bytes (the dispatcher
    builds those when it sends)."""
    return _fields(n, run, at)


def _fields(n: int, run: str, at: datetime) -> dict[str, Any]:
    ref = f"CRP-2025-{n:05d}"
    return {
        "challenge_id": None,
        "kind": "raised",
        "idempotency_key": f"bench-{run}:raised:{n}",
        "message_id": f"<bench-{run}-{n}@partnership.test>",
        "recipient_email": f"person{n}@example.org",
        "recipient_name": f"Person {n}",
        "recipient_role": "responder",
        "subject": f"Challenge {ref} needs your response",
        "text_body": TEXT_BODY.format(ref=ref),
        "html_body": HTML_BODY.format(ref=ref),
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "created_at": at,
        "next_attempt_at": at,
    }


def memory_rows(count: int, run: str) -> list[OutboxMessage]:
    at = datetime.now(UTC) - timedelta(minutes=1)
    return [OutboxMessage(id=n, **row_values(n, run, at)) for n in range(1, count + 1)]


# -- the measurements ---------------------------------------------------------------------------


@dataclass
class Totals:
    sent: int = 0  # messages each measurement reports accepted by the sink
    problems: list[str] = field(default_factory=list)


async def _one_connection_each(port: int, rows: Sequence[OutboxMessage]) -> int:
    sent = 0
    for row in rows:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await client.connect()
        errors, _ = await client.sendmail(
            envelope_sender(SENDER), [row.recipient_email], message_bytes(row, SENDER)
        )
        await client.quit()
        sent += not errors
    return sent


def measure_per_message(port: int, count: int, run: str, totals: Totals) -> float:
    """(a): messages per second, one new connection per message."""
    rows = memory_rows(count, run)
    start = time.perf_counter()
    sent = asyncio.run(_one_connection_each(port, rows))
    elapsed = time.perf_counter() - start
    totals.sent += sent
    if sent != count:
        totals.problems.append(f"(a) {run}: {sent} of {count} accepted")
    return count / elapsed


def measure_batch_only(port: int, count: int, connections: int, run: str, totals: Totals) -> float:
    """(c): messages per second through SmtpMailer.send_batch, no database."""
    mailer = SmtpMailer(parse_smtp_url(_url(port, connections)), SENDER)
    rows = memory_rows(count, run)
    start = time.perf_counter()
    outcomes = mailer.send_batch(rows)
    elapsed = time.perf_counter() - start
    sent = sum(o.delivery is Delivery.SENT for o in outcomes.values())
    totals.sent += sent
    if sent != count:
        totals.problems.append(f"(c) {run}: {sent} of {count} sent")
    return count / elapsed


def _url(port: int, connections: int) -> str:
    return f"smtp://127.0.0.1:{port}?connections={connections}"


def make_template(folder: Path) -> Path:
    path = folder / "template.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    return path


@dataclass
class Databases:
    """A fresh migrated database per run: a copy of a SQLite template, or, with `postgres`, a
    schema of its own in that PostgreSQL database (dropped after the run)."""

    folder: Path
    postgres: str | None = None
    template: Path | None = None

    @property
    def name(self) -> str:
        return "PostgreSQL" if self.postgres else "SQLite"

    def open(self, run: str) -> Engine:
        if self.postgres is None:
            if self.template is None:
                self.template = make_template(self.folder)
            path = self.folder / f"{run}.db"
            shutil.copyfile(self.template, path)
            return db.make_engine(f"sqlite:///{path}")
        admin = db.make_engine(self.postgres)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {_schema(run)}"))
        admin.dispose()
        separator = "&" if "?" in self.postgres else "?"
        engine = db.make_engine(f"{self.postgres}{separator}options=-csearch_path%3D{_schema(run)}")
        db.upgrade(engine)
        return engine

    def close(self, run: str, engine: Engine) -> None:
        engine.dispose()
        if self.postgres is None:
            (self.folder / f"{run}.db").unlink(missing_ok=True)
            return
        admin = db.make_engine(self.postgres)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {_schema(run)} CASCADE"))
        admin.dispose()


def _schema(run: str) -> str:
    return "bench_" + run.replace("-", "_")


def measure_dispatcher(
    port: int,
    count: int,
    connections: int,
    run: str,
    databases: Databases,
    totals: Totals,
    profile: cProfile.Profile | None = None,
) -> float:
    """(b): messages per second through dispatch_once on a fresh migrated database."""
    engine = databases.open(run)
    try:
        sessions = db.session_factory(engine)
        at = datetime.now(UTC) - timedelta(minutes=1)
        with sessions.begin() as session:
            session.execute(
                insert(OutboxMessage), [row_values(n, run, at) for n in range(1, count + 1)]
            )
        service = Service(sessions, load_registry())
        mailer = SmtpMailer(parse_smtp_url(_url(port, connections)), SENDER)
        now = datetime.now(UTC)

        if profile is not None:
            profile.enable()
        start = time.perf_counter()
        result = dispatch_once(service, mailer, now, batch_size=BATCH_SIZE)
        elapsed = time.perf_counter() - start
        if profile is not None:
            profile.disable()

        with sessions() as session:
            statuses = dict(
                session.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                ).all()
            )
    finally:
        databases.close(run, engine)
    sent = statuses.get(OutboxStatus.SENT.value, 0)
    totals.sent += result.sent
    if sent != count or result.sent != count:
        totals.problems.append(
            f"(b) {run}: {result.sent} reported sent, rows by status {statuses}, expected {count}"
        )
    return count / elapsed


# -- reporting ----------------------------------------------------------------------------------


def machine_info() -> list[str]:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
        f"{cores} cores ({usable} usable), load average {load}",
        f"python:  {platform.python_implementation()} {platform.python_version()}, "
        f"aiosmtplib {aiosmtplib.__version__}, SQLite {sqlite3.sqlite_version}",
    ]


def figures(name: str, rates: list[float]) -> str:
    runs = " ".join(f"{r:7.0f}" for r in rates)
    return f"{name:<44} median {statistics.median(rates):7.0f} msg/s   runs: {runs}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Dispatcher throughput against a local aiosmtpd sink (prints figures only).",
    )
    parser.add_argument("--messages", type=int, default=2000, help="messages per run (2000)")
    parser.add_argument(
        "--connections", type=int, default=8, help="SMTP connections of the mailer (8)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (3)")
    parser.add_argument(
        "--no-batch-only", action="store_true", help="skip (c), send_batch without a database"
    )
    parser.add_argument(
        "--sink-delay-ms",
        type=float,
        default=0.0,
        help="the sink takes this long over each DATA, as a real relay does (0)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run (b) on PostgreSQL at URL (a schema per run) instead of SQLite",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run (b) once under cProfile and print where the time goes",
    )
    args = parser.parse_args(argv)
    if args.messages < 1 or args.repeat < 1 or not 1 <= args.connections <= 100:
        parser.error("--messages and --repeat must be at least 1, --connections 1-100")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    count, connections, repeat = args.messages, args.connections, args.repeat
    for line in machine_info():
        print(line)
    print(
        f"setup:   {count} messages a run, {connections} connections, batch size {BATCH_SIZE}, "
        f"{repeat} run(s) of each; sink: aiosmtpd in a separate process, "
        f"{args.sink_delay_ms:g} ms per DATA"
    )

    sink = start_sink(args.sink_delay_ms / 1000)
    totals = Totals()
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        folder = Path(tmp)
        try:
            databases = Databases(folder, args.postgres)
            # Warm-up (imports, first connections); counted by the sink, not in the figures.
            measure_per_message(sink.port, WARM_UP, "warm-a", totals)
            measure_dispatcher(sink.port, WARM_UP, connections, "warm-b", databases, totals)

            per_message: list[float] = []
            dispatcher: list[float] = []
            batch_only: list[float] = []
            for i in range(repeat):
                per_message.append(measure_per_message(sink.port, count, f"a{i}", totals))
                dispatcher.append(
                    measure_dispatcher(sink.port, count, connections, f"b{i}", databases, totals)
                )
                if not args.no_batch_only:
                    batch_only.append(
                        measure_batch_only(sink.port, count, connections, f"c{i}", totals)
                    )

            profile_text = ""
            if args.profile:
                profile = cProfile.Profile()
                measure_dispatcher(
                    sink.port, count, connections, "prof", databases, totals, profile
                )
                out = io.StringIO()
                stats = pstats.Stats(profile, stream=out).strip_dirs()
                stats.sort_stats("tottime").print_stats(25)
                stats.sort_stats("cumulative").print_stats(30)
                profile_text = out.getvalue()
        finally:
            time.sleep(0.2)  # let the sink finish counting the last message
            received = sink.received.value
            sink.close()

    print()
    print(figures("(a) one new connection per message", per_message))
    print(figures(f"(b) dispatch_once, {databases.name}, {connections} connections", dispatcher))
    if batch_only:
        print(figures(f"(c) send_batch alone, {connections} connections", batch_only))
    rate_b = statistics.median(dispatcher)
    ratio = rate_b / statistics.median(per_message)
    print(f"ratio (b)/(a): {ratio:.2f}x")
    print()
    print(f"target (b) >= {TARGET_RATE:,.0f} msg/s: {verdict(rate_b >= TARGET_RATE)}")
    print(f"target (b) >= {TARGET_RATIO}x (a):     {verdict(ratio >= TARGET_RATIO)}")
    print()
    if profile_text:
        print(profile_text)

    counts_ok = received == totals.sent and not totals.problems
    print(
        f"sink received {received} messages; the benchmark sent {totals.sent} "
        f"(incl. {2 * WARM_UP} warm-up{', profile run' if args.profile else ''}): "
        f"{'OK' if counts_ok else 'MISMATCH'}"
    )
    for problem in totals.problems:
        print(f"  problem: {problem}")
    return 0 if counts_ok else 1


if __name__ == "__main__":
    sys.exit(main())
