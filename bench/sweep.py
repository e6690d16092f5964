"""Sweep benchmark: a million open challenges, 1 % of them due, one and two sweeper processes.

    python -m bench.sweep                       # PostgreSQL on 127.0.0.1, 1,000,000 challenges
    python -m bench.sweep --sqlite              # SQLite file, 100,000 challenges
    python -m bench.sweep --rows 200000 --repeat 5 --server postgresql+psycopg://u@host:5432/

What it does, in one run:
1. fills a template database with `--rows` open challenges of which `--due-fraction` (1 %) have
   a response deadline that has passed (`bench.fill`: real prototypes copied with SQL);
2. `--repeat` times: copies the template (PostgreSQL `CREATE DATABASE … TEMPLATE`, SQLite a file
   copy), and has ONE sweeper process apply everything due: every due challenge lapses to level
   2 through the real service (transition, chronology entry, emails queued in the outbox);
   then, on that database where nothing is due any more, times a sweep with nothing to do;
3. `--repeat` times: copies the template again and starts TWO sweeper processes at once;
4. for scale, times a bare claim-and-update of the due deadline rows (no engine at all).
It prints each run and then the medians: rows, seconds, transitions per second, the two-sweeper
speed-up and the peak resident memory of each sweeper process (ru_maxrss).

The targets (issue 4) on a 2-core machine with PostgreSQL: a sweep with nothing due under 10 ms
at 1,000,000 open challenges; at least 1,000 applied escalations per second with one sweeper;
two sweepers at least 1.5x one; a sweeper's peak memory under 300 MB whatever the row count.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import URL, make_url

from bench.fill import BASE_URL, fill
from escalation import resources
from escalation.casework import db, directory, sweep
from escalation.casework.models import Deadline
from escalation.casework.models_service import OutboxMessage
from escalation.casework.service import Service
from escalation.mail.emails import EmailRenderer
from escalation.mail.outbox import OutboxNotifier
from escalation.rules.machine import machine_for
from escalation.rules.registry import load_registry
from escalation.rules.workdays import parse_instant, utc

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
TEMPLATE, RUN = "escalation_bench_template", "escalation_bench_run"
NOW = "2026-12-14T17:05"  # a Monday afternoon: the due challenges' deadlines passed at 17:00
BATCH = 200
ROOT = Path(__file__).resolve().parent.parent


# -- one sweeper process -------------------------------------------------------------------------


def child(url: str, now: str, start_at: float, batch: int) -> None:
    """Run in a sweeper subprocess: wait for the start line, sweep, print one JSON line."""
    engine = db.make_engine(url)
    registry = load_registry(resources.workflows_dir())
    notifier = OutboxNotifier(registry, EmailRenderer(), BASE_URL)
    service = Service(db.session_factory(engine), registry, notifier)
    with engine.connect():
        pass  # connect before the start line
    # Warm up as a long-running worker is: holiday tables, the state machines.
    sweep.coverage_warnings_for(registry, parse_instant(now))
    for protocol in registry.all():
        machine_for(protocol)
    while time.time() < start_at:
        time.sleep(0.001)
    began, began_at = time.perf_counter(), time.time()
    result = sweep.run_once(service, parse_instant(now), batch)
    seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {"seconds": seconds, "began_at": began_at, "peak_mb": peak_mb, **result.as_dict()}
    print(json.dumps(summary))


def _sweepers(url: str, processes: int, batch: int) -> dict[str, Any]:
    start_at = time.time() + 2.0
    command = [sys.executable, "-m", "bench.sweep", "--child", url, NOW, str(start_at), str(batch)]
    children = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    outputs = []
    for process in children:
        out, _ = process.communicate(timeout=3600)
        if process.returncode != 0:
            raise SystemExit(f"a sweeper failed with status {process.returncode}")
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    # From the first sweeper's start to the last one's end, as each measured it.
    wall = max(o["began_at"] + o["seconds"] for o in outputs) - min(o["began_at"] for o in outputs)
    applied = sum(sum(o["applied"].values()) for o in outputs)
    return {
        "processes": processes,
        "applied": applied,
        "failed": sum(o["failed"] for o in outputs),
        "seconds": wall,
        "per_second": applied / wall,
        "peak_mb": max(o["peak_mb"] for o in outputs),
    }


# -- databases -----------------------------------------------------------------------------------


class Postgres:
    def __init__(self, server: str) -> None:
        self.server = make_url(server)
        self.admin = db.make_engine(self.server.set(database="postgres"))

    def url(self, name: str) -> URL:
        return self.server.set(database=name)

    def recreate(self, name: str, template: str | None = None) -> None:
        with self.admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            clause = f' TEMPLATE "{template}"' if template else ""
            c.execute(text(f'CREATE DATABASE "{name}"{clause}'))


class Sqlite:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def url(self, name: str) -> URL:
        return make_url(f"sqlite:///{self.folder / name}.db")

    def recreate(self, name: str, template: str | None = None) -> None:
        target = self.folder / f"{name}.db"
        for path in self.folder.glob(f"{name}.db*"):
            path.unlink()
        if template:
            shutil.copyfile(self.folder / f"{template}.db", target)


def _prepare_template(backend: Postgres | Sqlite, rows: int, due_fraction: float) -> int:
    backend.recreate(TEMPLATE)
    engine = db.make_engine(backend.url(TEMPLATE))
    db.upgrade(engine)
    registry = load_registry(resources.workflows_dir())
    sample = importlib_resources.files("escalation") / "sample_directory.csv"
    with importlib_resources.as_file(sample) as path:
        directory.import_csv(db.session_factory(engine), path, registry.partnerships())
    result = fill(engine, registry, rows, due_fraction, parse_instant(NOW))
    print(f"filled {result.n:,} open challenges ({result.due:,} due) in {result.seconds:.1f} s")
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return result.due


# -- measurements --------------------------------------------------------------------------------


def _nothing_due(engine: Engine, times: int) -> list[float]:
    registry = load_registry(resources.workflows_dir())
    service = Service(
        db.session_factory(engine), registry, OutboxNotifier(registry, EmailRenderer(), BASE_URL)
    )
    now = parse_instant(NOW)
    sweep.run_once(service, now)  # warm: connection, statement cache
    seconds = []
    for _ in range(times):
        began = time.perf_counter()
        result = sweep.run_once(service, now)
        seconds.append(time.perf_counter() - began)
        assert result.claimed == 0, "something was still due"
    return seconds


def _bare_claim_and_update(engine: Engine) -> float:
    """Rows per second for claiming and marking the due deadlines with no engine work at all."""
    now = utc(parse_instant(NOW))
    due = select(Deadline.id).where(Deadline.status == "pending", Deadline.due_at <= now)
    with engine.begin() as connection:
        count = connection.scalar(select(func.count()).select_from(due.subquery()))
        began = time.perf_counter()
        while True:
            ids = connection.scalars(due.limit(1000).with_for_update(skip_locked=True)).all()
            if not ids:
                break
            connection.execute(
                Deadline.__table__.update().where(Deadline.id.in_(ids)).values(status="done")  # type: ignore[attr-defined]
            )
        seconds = time.perf_counter() - began
        connection.rollback()
    return (count or 0) / seconds


def _check(engine: Engine, due: int) -> dict[str, int]:
    now = utc(parse_instant(NOW))
    with engine.connect() as connection:
        left = connection.scalar(
            select(func.count()).where(Deadline.status == "pending", Deadline.due_at <= now)
        )
        emails = connection.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        )
    if left:
        raise SystemExit(f"{left} deadlines still due after the sweep")
    return {"still_due": int(left or 0), "emails_queued": int(emails or 0)}


def _measure(
    backend: Postgres | Sqlite, processes: int, due: int, idle_sweeps: int
) -> dict[str, Any]:
    backend.recreate(RUN, TEMPLATE)
    url = backend.url(RUN)
    run = _sweepers(url.render_as_string(hide_password=False), processes, BATCH)
    engine = db.make_engine(url)
    run.update(_check(engine, due))
    if run["applied"] != due:
        raise SystemExit(f"{run['applied']} applied, {due} were due")
    if idle_sweeps:
        run["nothing_due_ms"] = [s * 1000 for s in _nothing_due(engine, idle_sweeps)]
    engine.dispose()
    return run


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    if args.child:
        url, now, start_at, batch = args.child
        child(url, now, float(start_at), int(batch))
        return 0
    folder = Path(tempfile.mkdtemp(prefix="escalation-bench-"))
    backend: Postgres | Sqlite = Sqlite(folder) if args.sqlite else Postgres(args.server)
    rows = args.rows or (100_000 if args.sqlite else 1_000_000)
    where = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"sweep benchmark: {rows:,} open challenges on {where}, now {NOW} local")
    due = _prepare_template(backend, rows, args.due_fraction)
    ones = [_measure(backend, 1, due, 21) for _ in range(args.repeat)]
    for run in ones:
        print(f"  one sweeper : {_line(run)}, {run['emails_queued']:,} emails queued")
    twos = [_measure(backend, 2, due, 0) for _ in range(args.repeat)]
    for run in twos:
        print(f"  two sweepers: {_line(run)} (the larger of the two)")
    backend.recreate(RUN, TEMPLATE)
    bare = _bare_claim_and_update(db.make_engine(backend.url(RUN)))
    idle = statistics.median(ms for run in ones for ms in run["nothing_due_ms"])
    one = statistics.median(run["per_second"] for run in ones)
    two = statistics.median(run["per_second"] for run in twos)
    one_s = statistics.median(run["seconds"] for run in ones)
    two_s = statistics.median(run["seconds"] for run in twos)
    print("medians:")
    print(f"  rows                         {rows:,} open, {due:,} due")
    print(f"  sweep with nothing due       {idle:.1f} ms")
    print(f"  one sweeper                  {one:,.0f} escalations/s ({one_s:.2f} s)")
    print(
        f"  two sweepers                 {two:,.0f} escalations/s ({two_s:.2f} s), {two / one:.2f}x"
    )
    print(f"  peak memory of a sweeper     {max(r['peak_mb'] for r in ones + twos):.0f} MB")
    print(f"  bare claim-and-update        {bare:,.0f} rows/s ({bare / one:.0f}x the engine)")
    shutil.rmtree(folder, ignore_errors=True)
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sweep", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--rows",
        type=int,
        help="open challenges (default 1,000,000 on PostgreSQL, 100,000 on SQLite)",
    )
    parser.add_argument("--due-fraction", type=float, default=0.01, help="share due (default 0.01)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each measurement (default 3)"
    )
    parser.add_argument("--sqlite", action="store_true", help="SQLite in a temporary folder")
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"PostgreSQL server URL (default {DEFAULT_SERVER}); "
        f"databases {TEMPLATE} and {RUN} are (re)created there",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _line(run: dict[str, Any]) -> str:
    return (
        f"{run['applied']:,} applied in {run['seconds']:.2f} s = {run['per_second']:,.0f}/s, "
        f"peak {run['peak_mb']:.0f} MB"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
