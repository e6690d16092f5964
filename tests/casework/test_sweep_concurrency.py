"""Several sweeper processes on one PostgreSQL database apply every due deadline exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from escalation.casework import db, directory
from escalation.casework.models import Challenge, ChronologyEntry, Deadline, Stage
from escalation.casework.service import Service
from escalation.rules.registry import ProtocolRegistry
from escalation.rules.workdays import utc
from tests.conftest import FIXTURES, _empty_tables, _with_search_path, london, raise_request

N_CHALLENGES = int(os.environ.get("SWEEP_CONCURRENCY_N", "60"))  # small: batches mix kinds
N_PROCESSES = int(os.environ.get("SWEEP_CONCURRENCY_PROCESSES", "4"))
RAISED = london("2026-12-07 10:00")
NOW = london("2026-12-14 17:05")

WORKER = r"""
import json, sys, time, traceback
from escalation.casework import db, sweep
from escalation.mail.emails import EmailRenderer
from escalation.mail.outbox import OutboxNotifier
from escalation.rules.registry import load_registry
from escalation.resources import workflows_dir
from escalation.casework.service import Service
from escalation.rules.workdays import parse_instant

url, start_at, now_text, batch_size, base_url = sys.argv[1:6]
engine = db.make_engine(url)
registry = load_registry(workflows_dir())
notifier = OutboxNotifier(registry, EmailRenderer(), base_url) if base_url else None
service = Service(db.session_factory(engine), registry, notifier)
now = parse_instant(now_text)
with engine.connect():
    pass  # connect before the start line
while time.time() < float(start_at):
    time.sleep(0.001)
began = time.perf_counter()
try:
    result = sweep.run_once(service, now, batch_size=int(batch_size))
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)[:2000],
                      "traceback": traceback.format_exc()[-4000:],
                      "seconds": time.perf_counter() - began}))
    sys.exit(1)
print(json.dumps({**result.as_dict(), "seconds": time.perf_counter() - began}))
"""


def run_sweepers(
    url: str,
    processes: int,
    now: datetime = NOW,
    batch_size: int = 50,
    base_url: str | None = None,
    timeout: float = 300,
) -> list[dict[str, Any]]:
    """Start `processes` sweepers at one start line; each prints its SweepResult as JSON.

    With `base_url` they queue email through the outbox, as the worker does; without, they
    only record notices in the chronology.
    """
    start_at = time.time() + 3.0
    root = Path(__file__).resolve().parents[2]
    argv = [url, str(start_at), now.isoformat(), str(batch_size), base_url or ""]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *argv],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    outputs = []
    deadline = time.monotonic() + timeout  # they run at once: one bound for all of them
    for child in children:
        try:
            out, err = child.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for each in children:
                each.kill()
            pytest.fail(f"{processes} sweeper processes did not all finish within {timeout:g} s")
        lines = [line for line in out.splitlines() if line.startswith("{")]
        data = json.loads(lines[-1]) if lines else {"error": "no output", "stderr": err[-4000:]}
        data["returncode"] = child.returncode
        outputs.append(data)
    return outputs


@pytest.mark.postgres
def test_it_applies_every_due_deadline_once_with_four_sweeper_processes(
    postgres_schema: tuple[Engine, str], registry: ProtocolRegistry
) -> None:
    engine, schema = postgres_schema
    _empty_tables(engine)
    sessions = db.session_factory(engine)
    directory.import_csv(sessions, FIXTURES / "directory.csv", registry.partnerships())
    service = Service(sessions, registry)

    began = time.perf_counter()
    for i in range(N_CHALLENGES):
        service.raise_challenge(raise_request(child_ref=f"CHILD-{i:05d}"), RAISED)
    raise_seconds = time.perf_counter() - began

    with sessions() as session:
        due = session.scalar(
            select(func.count())
            .select_from(Deadline)
            .where(Deadline.status == "pending", Deadline.due_at <= utc(NOW))
        )
    assert due == 3 * N_CHALLENGES

    outputs = run_sweepers(_with_search_path(schema), N_PROCESSES)
    report = {
        "challenges": N_CHALLENGES,
        "raise_seconds": round(raise_seconds, 2),
        "raise_per_second": round(N_CHALLENGES / raise_seconds, 1),
        "due": due,
        "processes": outputs,
    }
    print("SWEEP-CONCURRENCY", json.dumps(report, default=str))

    with sessions() as session:
        states = Counter(session.scalars(select(Challenge.state)).all())
        stage_counts = Counter(
            n
            for _, n in session.execute(
                select(Stage.challenge_id, func.count()).group_by(Stage.challenge_id)
            ).all()
        )
        still_pending = session.scalar(
            select(func.count())
            .select_from(Deadline)
            .where(Deadline.status == "pending", Deadline.due_at <= utc(NOW))
        )
        statuses = Counter(session.scalars(select(Deadline.status)).all())
        per_challenge_event = Counter(
            (c, e)
            for c, e in session.execute(
                select(ChronologyEntry.challenge_id, ChronologyEntry.event)
            ).all()
        )
    errors = [o for o in outputs if o.get("returncode") != 0]
    event_totals = Counter()
    for (_, event), n in per_challenge_event.items():
        event_totals[(event, n)] += 1
    print("STATES", dict(states), "STAGES", dict(stage_counts), "STATUSES", dict(statuses))
    print("EVENTS (event, times per challenge) -> challenges", dict(event_totals))

    assert not errors, errors
    assert states == {"level_2.awaiting_response": N_CHALLENGES}
    assert stage_counts == {2: N_CHALLENGES}
    assert still_pending == 0
    assert statuses.get("failed", 0) == 0
    for event in ("raise", "lapse", "acknowledgement_due_skipped", "reminder_skipped"):
        assert event_totals[(event, 1)] == N_CHALLENGES, (event, dict(event_totals))
    assert set(e for e, _ in event_totals) == {
        "raise",
        "lapse",
        "acknowledgement_due_skipped",
        "reminder_skipped",
    }
    handled = sum(sum(o["applied"].values()) + o["skipped"] for o in outputs)
    assert handled == due
    assert sum(o["failed"] + o["deferred"] for o in outputs) == 0
