"""Report benchmark: the yearly partnership report over two financial years of challenges.

    python -m bench.report                      # PostgreSQL on 127.0.0.1, 1,000,000 challenges
    python -m bench.report --sqlite             # SQLite file, 100,000 challenges
    python -m bench.report --rows 200000 --repeat 5 --server postgresql+psycopg://u@host:5432/
    python -m bench.report --reuse              # time again over the database already filled

What it does:
1. fills a database (`bench.report_fill`) with `--rows` challenges of three partnerships over
   2025-26 and 2026-27, as of Monday 12 April 2027 12:00: prototypes run through the real
   service and an on-time sweep (resolved at every level, withdrawn, closed after outcome checks
   answered yes, no or not at all, escalated by the raiser or unanswered, open at every level,
   overdue, paused…), copied with set-based SQL across hundreds of organisations, both years,
   every category and level of need, with some children challenged about more than once;
2. in a fresh process, `reports.build_report(…, period=2026-27, publishable=False)` for every
   partnership together and for one (`--partnership`, default devon): one warm-up, then
   `--repeat` timed runs each; the same for `reports.render.render(report, "html")`;
3. prints each run, the medians, the report's size (tables, rows) and the measuring process's
   peak resident memory (ru_maxrss) with its size before the first report.

The target (issue 5): under 5 seconds for the yearly report over 1,000,000 challenges on
PostgreSQL on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from bench.report_fill import AS_OF, fill_report_data
from bench.sweep import Postgres, Sqlite
from escalation import resources
from escalation.casework import db
from escalation.casework.models import Challenge
from escalation.reports import build as reports
from escalation.reports.model import Report
from escalation.reports.render import render
from escalation.rules.registry import load_registry

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
DATABASE = "escalation_report_bench"
YEAR = "2026-27"
ROOT = Path(__file__).resolve().parent.parent


# -- the measuring process -----------------------------------------------------------------------


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(run: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    result = run()  # warm-up: connection, statement cache, holiday tables
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - began)
    return seconds, result


def child(url: str, partnership: str, repeat: int) -> None:
    """Run in a fresh process: time the report and its HTML; print one JSON line."""
    engine = db.make_engine(url)
    registry = load_registry(resources.workflows_dir())
    sessions = db.session_factory(engine)
    period = reports.parse_period(YEAR, None, None, None)
    with sessions() as session:
        rows = session.scalar(select(func.count()).select_from(Challenge))
    out: dict[str, Any] = {"rows": rows, "before_mb": _peak_mb(), "scopes": {}}
    for scope in (None, partnership):

        def build(scope: str | None = scope) -> Report:
            return reports.build_report(sessions, registry, scope, period, AS_OF, False)

        seconds, report = _timed(build, repeat)
        tables = [t for section in report.sections for t in section.tables]
        entry = {
            "seconds": seconds,
            "tables": len(tables),
            "table_rows": sum(len(t.rows) for t in tables),
        }
        html_seconds, html = _timed(partial(render, report, "html"), repeat)
        entry["html_seconds"] = html_seconds
        entry["html_kb"] = len(html.encode()) / 1024
        out["scopes"][scope or "all"] = entry
    out["peak_mb"] = _peak_mb()
    print(json.dumps(out))


def _measure(url: URL, partnership: str, repeat: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.report",
        "--child",
        url.render_as_string(hide_password=False),
        partnership,
        str(repeat),
    ]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the measuring process failed with status {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- filling -------------------------------------------------------------------------------------


def _filled_rows(url: URL) -> int | None:
    engine = db.make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(Challenge))
    except Exception:
        return None
    finally:
        engine.dispose()


def _fill(backend: Postgres | Sqlite, url: URL, rows: int) -> None:
    backend.recreate(DATABASE)
    engine = db.make_engine(url)
    db.upgrade(engine)
    result = fill_report_data(engine, load_registry(resources.workflows_dir()), rows)
    _checkpoint(engine)
    engine.dispose()
    print(
        f"filled {result.rows:,} challenges: {result.prototypes} prototypes through the service "
        f"in {result.seconds_prototypes:.1f} s, copies in {result.seconds_copies:.1f} s"
    )
    width = max(len(name) for name in result.by_scenario)
    for name, count in result.by_scenario.items():
        print(f"  {name:<{width}} {count:>9,}")


def _checkpoint(engine: Engine) -> None:
    """Write the fill out before measuring, so the report is not timed against the writes of a
    checkpoint (PostgreSQL) or read through a large WAL file (SQLite)."""
    raw = engine.raw_connection()  # outside a transaction, which neither allows it in
    try:
        if engine.dialect.name == "sqlite":
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]
            raw.cursor().execute("CHECKPOINT")  # a superuser's, or pg_checkpoint's (15+)
    except DBAPIError:
        pass  # without the privilege the measurement is only noisier
    finally:
        raw.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    if args.child:
        url, partnership, repeat = args.child
        child(url, partnership, int(repeat))
        return 0
    backend: Postgres | Sqlite
    if args.sqlite:
        backend = Sqlite(Path(args.folder or tempfile.gettempdir()))
    else:
        backend = Postgres(args.server)
    url = backend.url(DATABASE)
    rows = args.rows or (100_000 if args.sqlite else 1_000_000)
    where = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"report benchmark: {rows:,} challenges on {where} ({url.database}), year {YEAR}")
    filled = _filled_rows(url) if args.reuse else None
    if filled != rows:
        _fill(backend, url, rows)
    else:
        print(f"reusing the {filled:,} challenges already there")
    db.upgrade(db.make_engine(url))  # a reused database gets any newer migration (indexes)
    result = _measure(url, args.partnership, args.repeat)
    _print(result, args.partnership)
    return 0


def _print(result: dict[str, Any], partnership: str) -> None:
    print(f"challenges in the database: {result['rows']:,}")
    for scope, entry in result["scopes"].items():
        label = "every partnership" if scope == "all" else scope
        runs = ", ".join(f"{s:.2f}" for s in entry["seconds"])
        print(
            f"  build_report, {label:<17} median {statistics.median(entry['seconds']):6.2f} s "
            f"({runs}); {entry['tables']} tables, {entry['table_rows']} rows"
        )
        runs = ", ".join(f"{s:.2f}" for s in entry["html_seconds"])
        print(
            f"  render html,  {label:<17} median "
            f"{statistics.median(entry['html_seconds']):6.2f} s ({runs}); "
            f"{entry['html_kb']:.0f} KB"
        )
    print(
        f"  peak memory of the measuring process {result['peak_mb']:.0f} MB "
        f"({result['before_mb']:.0f} MB before the first report)"
    )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--rows", type=int, help="challenges (default 1,000,000 on PostgreSQL, 100,000 on SQLite)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs each (default 5)")
    parser.add_argument("--partnership", default="devon", help="the one-partnership report")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--folder", help="where the SQLite file goes (default: the temp folder)")
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"PostgreSQL server URL (default {DEFAULT_SERVER}); database {DATABASE} is "
        "(re)created there",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database if it already holds --rows challenges (migrated to the latest)",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
