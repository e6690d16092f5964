"""What every command pays at start for pinned protocol versions, over a big record.

    .venv/bin/python -m bench.fill --rows 1000000 --database-url postgresql+psycopg://…/bench
    .venv/bin/python -m bench.pins --database-url postgresql+psycopg://…/bench [--repeat 7]

Each command that opens the record builds the pinned registry (casework.pins): it lists the
(protocol, version) pairs challenges were raised on that have no pinned copy, and, only when a
file has drifted from its copy, counts the open challenges on each version. This times both
queries (`store_pins.unpinned_in_use`, `store_pins.open_challenges_by_version`) as they run,
each in a session of its own, with migration 0009's index `ix_challenges_protocol_version` and
then without it (dropped and made again, in a transaction of its own each time), and prints
the medians in milliseconds and their ratios. Run `VACUUM ANALYZE challenges` after filling, as
autovacuum would in time: until then PostgreSQL cannot answer from the index alone.

It drops and re-creates an index: point it at a benchmark database, never at the live record.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from escalation.casework import db, store_pins
from escalation.casework.models import Challenge

INDEX = "ix_challenges_protocol_version"
COLUMNS = ", ".join(  # as models.py (and migration 0009) define it
    column.name
    for index in Challenge.__table__.indexes
    if index.name == INDEX
    for column in index.columns
)
QUERIES: dict[str, Callable[[Session], Any]] = {
    "unpinned_in_use": store_pins.unpinned_in_use,
    "open_challenges_by_version": store_pins.open_challenges_by_version,
}


def median_ms(
    sessions: sessionmaker[Session], query: Callable[[Session], Any], repeat: int
) -> float:
    times = []
    for _ in range(repeat):
        with sessions() as session:
            start = time.perf_counter()
            query(session)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a filled PostgreSQL database")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each query (default 7)")
    args = parser.parse_args(argv)
    engine = db.make_engine(args.database_url)
    sessions = db.session_factory(engine)
    with sessions() as session:
        rows = session.scalar(select(func.count()).select_from(Challenge))
    print(f"challenges {rows:,}; median of {args.repeat} runs each")
    figures: dict[str, dict[str, float]] = {}

    def measure(label: str) -> None:
        figures[label] = {name: median_ms(sessions, q, args.repeat) for name, q in QUERIES.items()}
        print(label, "  ".join(f"{n} {ms:.1f} ms" for n, ms in figures[label].items()))

    measure("with index")
    with engine.begin() as connection:
        connection.execute(text(f"DROP INDEX {INDEX}"))
    try:
        measure("without index")
    finally:  # the database is left as migrated, whatever happened
        with engine.begin() as connection:
            connection.execute(text(f"CREATE INDEX {INDEX} ON challenges ({COLUMNS})"))
    measure("with index again")
    for name in QUERIES:
        ratio = figures["without index"][name] / figures["with index again"][name]
        print(f"{name}: {ratio:.1f}x faster with the index")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
