"""Every due deadline applied once and every email queued once, whatever the sweepers go through:
four at once over 10,000 lapses, one killed with SIGKILL again and again, one off for two weeks.

The due challenges are bulk-filled (`bench.fill`): copies of one challenge the real service
raised and acknowledged, and an on-time sweep reminded. What one lapse must write is never
hard-coded: it is read from a *reference* challenge built and lapsed entirely through the service
and the sweep, in a database of its own. The catch-up test's instants are worked out by hand.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bench.fill import FillResult, fill
from escalation.casework import db, directory, sweep
from escalation.casework.intake import Resolution
from escalation.casework.models import Challenge, ChronologyEntry, Deadline, Stage
from escalation.casework.models_service import OutboxMessage
from escalation.casework.service import Service
from escalation.mail.emails import EmailRenderer
from escalation.mail.outbox import OutboxNotifier
from escalation.rules.registry import ProtocolRegistry
from escalation.rules.states import SYSTEM
from escalation.rules.workdays import utc
from tests.casework.test_sweep_concurrency import run_sweepers
from tests.conftest import (
    FIXTURES,
    SCHOOL_DSL,
    SOCIAL_WORKER,
    _empty_tables,
    _with_search_path,
    london,
    raise_request,
)

BASE_URL = "https://escalation.example.org"
LINK = re.compile(re.escape(BASE_URL) + r"/(?:l/[A-Za-z0-9_.\-]+|challenges/<ref>)")
# The reference (and the filled due challenges): raised on Monday 7 December at 10:00; level 1's
# response is due 5 working days later, at close of business on Monday 14 December (8, 9, 10,
# 11, 14 Dec); its reminder goes at the opening of the working day before (Friday 11 December).
RAISED = london("2026-12-07 10:00")
ACKNOWLEDGED = london("2026-12-07 11:00")
REMINDED = london("2026-12-11 09:00")
NOW = london("2026-12-14 17:05")  # five minutes after level 1's deadline closed

FOUR_SWEEPERS_DUE = int(os.environ.get("SWEEP_EXACTLY_ONCE_N", "10000"))
KILLS = 20
CRASH_BATCH = 5  # small batches: many commits, so kills land at every point of one
CRASH_CHALLENGES, CRASH_DUE = 500, 450  # 50 not due yet


# -- what a challenge's rows look like, whatever its ids --------------------------------------


@dataclass(frozen=True)
class Shape:
    """A challenge's rows without ids, its reference written as <ref>: comparable across copies."""

    state: str
    stages: tuple[tuple[Any, ...], ...]
    deadlines: tuple[tuple[Any, ...], ...]  # with the stage's seq, not its id
    chronology: tuple[tuple[Any, ...], ...]  # people's entries by kind; the sweep's in full
    swept_mail: tuple[tuple[Any, ...], ...]  # the outbox rows queued by the sweep at NOW


def shapes(engine: Engine, ids: Iterable[int] | None = None) -> dict[int, Shape]:
    with db.session_factory(engine)() as session:
        return _shapes(session, None if ids is None else set(ids))


def _rows(session: Session, *columns: Any, where: Any = None) -> list[Any]:
    query = select(*columns)
    return list(session.execute(query if where is None else query.where(where)).all())


def _shapes(session: Session, wanted: set[int] | None) -> dict[int, Shape]:
    references, states = {}, {}
    for cid, reference, state in _rows(session, Challenge.id, Challenge.reference, Challenge.state):
        if wanted is None or cid in wanted:
            references[cid], states[cid] = reference, state

    def norm(value: Any, cid: int) -> Any:
        if not isinstance(value, str):
            return value
        # A reader's signed link (the CLI's sweeper makes them) or the plain page address.
        return LINK.sub("<link>", value.replace(references[cid], "<ref>"))

    stage_of: dict[int, tuple[int, int]] = {}  # stage id: (challenge id, seq)
    stages: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in _rows(
        session,
        Stage.id,
        Stage.challenge_id,
        Stage.seq,
        Stage.level,
        Stage.opened_at,
        Stage.opened_by,
        Stage.due_at,
        Stage.acknowledge_due_at,
        Stage.acknowledged_at,
        Stage.reminders_sent,
        Stage.escalated_at,
        Stage.escalated_by,
        Stage.escalation_kind,
        Stage.ended_at,
        Stage.end_reason,
    ):
        stage_of[row[0]] = (row[1], row[2])
        if row[1] in references:
            stages[row[1]].append(tuple(row[2:]))
    deadlines: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for cid, stage_id, *rest in _rows(
        session,
        Deadline.challenge_id,
        Deadline.stage_id,
        Deadline.kind,
        Deadline.status,
        Deadline.due_at,
        Deadline.expires_at,
        Deadline.processed_at,
        Deadline.detail,
    ):
        if cid in references:
            owner, seq = stage_of[stage_id] if stage_id is not None else (cid, None)
            stage = seq if owner == cid else f"stage {seq} of another challenge"
            deadlines[cid].append((stage, *rest))
    chronology: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for cid, seq, occurred, who, event, level, *text in _rows(
        session,
        ChronologyEntry.challenge_id,
        ChronologyEntry.seq,
        ChronologyEntry.occurred_at,
        ChronologyEntry.who,
        ChronologyEntry.event,
        ChronologyEntry.level,
        ChronologyEntry.concern,
        ChronologyEntry.action,
        ChronologyEntry.impact,
    ):
        if cid in references:
            written = tuple(norm(t, cid) for t in text) if who == SYSTEM else ("by a person",)
            chronology[cid].append((seq, occurred, who == SYSTEM, event, level, *written))
    mail: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for cid, *row in _rows(
        session,
        OutboxMessage.challenge_id,
        OutboxMessage.kind,
        OutboxMessage.recipient_email,
        OutboxMessage.recipient_role,
        OutboxMessage.idempotency_key,
        OutboxMessage.subject,
        OutboxMessage.text_body,
        where=OutboxMessage.created_at == utc(NOW),
    ):
        if cid in references:
            mail[cid].append(tuple(norm(value, cid) for value in row))
    return {
        cid: Shape(
            states[cid],
            tuple(sorted(stages[cid])),
            tuple(sorted(deadlines[cid], key=repr)),
            tuple(sorted(chronology[cid])),
            tuple(sorted(mail[cid])),
        )
        for cid in references
    }


@pytest.fixture(scope="module")
def reference(
    registry: ProtocolRegistry, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Shape:
    """One challenge raised, acknowledged, reminded on time and lapsed, all by the engine itself."""
    path = tmp_path_factory.mktemp("reference") / "reference.db"
    shutil.copyfile(sqlite_template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        service = outbox_service(engine, registry)
        ref = service.raise_challenge(raise_request(child_ref="REFERENCE"), RAISED)
        service.acknowledge(ref, SOCIAL_WORKER, ACKNOWLEDGED)
        assert sweep.run_once(service, REMINDED).applied == {"reminder": 1}
        assert sweep.run_once(service, NOW).applied == {"response_due": 1}
        (shape,) = shapes(engine).values()
    finally:
        engine.dispose()
    assert shape.state == "level_2.awaiting_response"
    assert shape.swept_mail, "the lapse queued no email: nothing to count"
    return shape


def outbox_service(engine: Engine, registry: ProtocolRegistry) -> Service:
    """A service that queues email, as the worker's does; imports the directory (idempotent)."""
    sessions = db.session_factory(engine)
    directory.import_csv(sessions, FIXTURES / "directory.csv", registry.partnerships())
    return Service(sessions, registry, OutboxNotifier(registry, EmailRenderer(), BASE_URL))


def filled(engine: Engine, registry: ProtocolRegistry, n: int, due_fraction: float) -> FillResult:
    outbox_service(engine, registry)  # the directory
    result = fill(engine, registry, n, due_fraction, NOW)
    assert result.due_raised_at == utc(RAISED)  # so the copies match the reference's instants
    print(f"FILL {result.n} challenges ({result.due} due) in {result.seconds:.2f}s")
    return result


def claimable(engine: Engine) -> list[tuple[int, str]]:
    with db.session_factory(engine)() as session:
        return list(
            session.execute(
                select(Deadline.challenge_id, Deadline.kind).where(
                    Deadline.status == "pending", Deadline.due_at <= utc(NOW)
                )
            ).all()
        )


def assert_each_lapsed_once(
    engine: Engine, reference: Shape, due: set[int], before: dict[int, Shape]
) -> None:
    """Each due challenge looks exactly like the reference; the others are as they were."""
    after = shapes(engine)
    assert set(after) == set(before)
    unlike = [cid for cid in due if after[cid] != reference]
    assert not unlike, (len(unlike), _first_difference(after[unlike[0]], reference))
    changed = [cid for cid in set(after) - due if after[cid] != before[cid]]
    assert not changed, (len(changed), _first_difference(after[changed[0]], before[changed[0]]))
    assert claimable(engine) == []
    with db.session_factory(engine)() as session:
        lapses = Counter(
            session.scalars(
                select(ChronologyEntry.challenge_id).where(ChronologyEntry.event == "lapse")
            ).all()
        )
        keys = session.execute(
            select(
                func.count(),
                func.count(OutboxMessage.idempotency_key.distinct()),
                func.count(OutboxMessage.message_id.distinct()),
            )
        ).one()
        entries = session.execute(
            select(
                ChronologyEntry.challenge_id,
                func.count(),
                func.min(ChronologyEntry.seq),
                func.max(ChronologyEntry.seq),
            ).group_by(ChronologyEntry.challenge_id)
        ).all()
        partial_mail = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                (OutboxMessage.recipient_email == "")
                | (OutboxMessage.subject == "")
                | (OutboxMessage.text_body == "")
                | (OutboxMessage.html_body == "")
            )
        )
        partial_entries = session.scalar(
            select(func.count())
            .select_from(ChronologyEntry)
            .where(
                (ChronologyEntry.who == "")
                | (ChronologyEntry.event == "")
                | (ChronologyEntry.concern == "")
                | (ChronologyEntry.action == "")
                | (ChronologyEntry.impact == "")
            )
        )
    assert lapses == dict.fromkeys(due, 1)
    assert keys[0] == keys[1] == keys[2]  # each message once (and the unique indexes agree)
    assert all((low, high) == (1, n) for _, n, low, high in entries)  # seq 1..n, no gap
    assert (partial_mail, partial_entries) == (0, 0)


def _first_difference(got: Shape, expected: Shape) -> dict[str, Any]:
    return {
        name: {"got": getattr(got, name), "expected": getattr(expected, name)}
        for name in Shape.__dataclass_fields__
        if getattr(got, name) != getattr(expected, name)
    }


# -- the filler is faithful ----------------------------------------------------------------------


def test_it_fills_copies_that_lapse_like_a_challenge_built_through_the_service(
    engine: Engine, registry: ProtocolRegistry, reference: Shape
) -> None:
    result = filled(engine, registry, 50, 0.2)
    assert (result.n, result.due) == (50, 10)
    due = claimable(engine)
    assert Counter(kind for _, kind in due) == {"response_due": 10}
    due_ids = {cid for cid, _ in due}
    assert len(due_ids) == 10  # one claimable deadline per due challenge
    before = shapes(engine)
    assert len(before) == 50
    with db.session_factory(engine)() as session:
        references = session.scalars(select(Challenge.reference)).all()
    assert len(set(references)) == 50

    service = outbox_service(engine, registry)
    outcome = sweep.run_once(service, NOW)
    assert (outcome.claimed, dict(outcome.applied), outcome.skipped) == (
        10,
        {"response_due": 10},
        0,
    )
    assert_each_lapsed_once(engine, reference, due_ids, before)
    for cid in set(before) - due_ids:
        assert before[cid].state == "level_1.awaiting_response"
        assert [entry[3] for entry in before[cid].chronology] == ["raise", "acknowledge"]
    assert sweep.run_once(service, NOW).claimed == 0

    # The reference counter and the id sequences were moved past the copies.
    new = service.raise_challenge(raise_request(child_ref="AFTER-FILL"), NOW)
    assert new not in references


# -- 1. four sweepers at once --------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.timeout(1200)  # its sweepers may take 900 s (pyproject's backstop is 600 s)
def test_it_applies_every_lapse_and_queues_every_email_once_with_four_sweepers(
    postgres_schema: tuple[Engine, str], registry: ProtocolRegistry, reference: Shape
) -> None:
    engine, schema = postgres_schema
    _empty_tables(engine)
    filled(engine, registry, FOUR_SWEEPERS_DUE, 1.0)
    due = claimable(engine)
    assert Counter(kind for _, kind in due) == {"response_due": FOUR_SWEEPERS_DUE}
    before = shapes(engine)

    began = time.perf_counter()
    outputs = run_sweepers(
        _with_search_path(schema), 4, NOW, batch_size=100, base_url=BASE_URL, timeout=900
    )
    seconds = time.perf_counter() - began
    print("FOUR-SWEEPERS", json.dumps({"due": len(due), "seconds": round(seconds, 1)}))
    for output in outputs:
        print("  ", {k: output.get(k) for k in ("claimed", "applied", "seconds", "returncode")})

    assert [o for o in outputs if o["returncode"] != 0] == []
    assert sum(o["claimed"] for o in outputs) == FOUR_SWEEPERS_DUE
    assert sum(o["applied"].get("response_due", 0) for o in outputs) == FOUR_SWEEPERS_DUE
    assert sum(o["skipped"] + o["deferred"] + o["failed"] for o in outputs) == 0
    assert sum(1 for o in outputs if o["claimed"] > 0) >= 2, "the sweepers did not share work"
    assert_each_lapsed_once(engine, reference, {cid for cid, _ in due}, before)
    with db.session_factory(engine)() as session:
        per_challenge = Counter(
            session.scalars(
                select(OutboxMessage.challenge_id).where(OutboxMessage.created_at == utc(NOW))
            ).all()
        )
    assert Counter(per_challenge.values()) == {len(reference.swept_mail): FOUR_SWEEPERS_DUE}


# -- 2. a sweeper killed again and again ---------------------------------------------------------


@contextmanager
def progress_of(engine: Engine) -> Iterator[Callable[[], int]]:
    """A reader of how many lapses have committed, that never waits for the sweeper's lock."""
    query = "SELECT count(*) FROM deadlines WHERE kind = 'response_due' AND status = 'done'"
    if engine.dialect.name == "sqlite":
        # The engine's connections begin IMMEDIATE, taking the write lock even to read.
        connection = sqlite3.connect(str(engine.url.database), timeout=30)
        try:
            yield lambda: int(connection.execute(query).fetchone()[0])
        finally:
            connection.close()
        return

    def read() -> int:
        with engine.connect() as connection:
            return int(connection.exec_driver_sql(query).scalar_one())

    yield read


SWEEPER_NAME = "escalation-crash-test-sweeper"


def sweeper_is_writing(engine: Engine) -> bool:
    """PostgreSQL: whether the sweeper is inside a transaction that has locked or written rows.

    (A transaction gets an id, `backend_xid`, at its first write or FOR UPDATE lock.)
    """
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as connection:
        return bool(
            connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = %(name)s AND backend_xid IS NOT NULL",
                {"name": SWEEPER_NAME},
            ).scalar_one()
        )


def _wait_for_commits(
    process: subprocess.Popen[str],
    progress: Callable[[], int],
    committed: int,
    chance: random.Random,
) -> None:
    """Return at a random point of a batch, after one to three more batches have committed.

    The point is drawn from the batch time measured here, so however fast the sweep is, a
    round applies only a few batches and the kills spread over the whole of one.
    """
    wanted = committed + CRASH_BATCH + chance.randint(1, 2 * CRASH_BATCH)
    first: tuple[float, int] | None = None
    limit = time.monotonic() + 60
    while (done := progress()) < wanted and process.poll() is None:
        if time.monotonic() > limit:
            process.kill()  # and read its pipes: nothing left running after the test
            stderr = process.communicate(timeout=30)[1][-2000:]
            pytest.fail(f"{wanted} lapses were not committed 60 s into a sweep:\n{stderr}")
        if first is None and done > committed:
            first = (time.monotonic(), done)
        time.sleep(0.002)
    if first is not None and done > first[1]:
        batch_seconds = (time.monotonic() - first[0]) / (done - first[1]) * CRASH_BATCH
        time.sleep(chance.uniform(0, batch_seconds))


def test_it_leaves_only_whole_transitions_when_a_sweeper_is_killed_again_and_again(
    engine: Engine, registry: ProtocolRegistry, reference: Shape, tmp_path: Path
) -> None:
    result = filled(engine, registry, CRASH_CHALLENGES, CRASH_DUE / CRASH_CHALLENGES)
    due_ids = {cid for cid, _ in claimable(engine)}
    assert len(due_ids) == result.due == CRASH_DUE
    before = shapes(engine)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATION_")}
    url = engine.url
    if engine.dialect.name == "postgresql":  # so the test can see the sweeper's transaction
        url = url.update_query_dict({"application_name": SWEEPER_NAME})
    env |= {
        "ESCALATION_DATABASE_URL": url.render_as_string(hide_password=False),
        "ESCALATION_BASE_URL": BASE_URL,
    }
    script = Path(sys.executable).parent / "escalation"
    argv = [
        str(script),
        "--now",
        NOW.isoformat(),
        "sweep",
        "--batch-size",
        str(CRASH_BATCH),
        "--json",
    ]

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    chance = random.Random(20261214)
    mid_sweep = 0  # kills of a process that had applied lapses, with more still to apply
    mid_transaction = 0  # PostgreSQL: kills while the sweeper held a transaction with writes
    began = time.perf_counter()
    with progress_of(engine) as progress:
        for index in range(KILLS):
            committed = progress()
            process = start()
            if index % 5 == 0:  # a plain delay: mostly while it starts up and connects
                time.sleep(chance.uniform(0.05, 0.5))
            else:
                _wait_for_commits(process, progress, committed, chance)
            mid_transaction += sweeper_is_writing(engine)
            running = process.poll() is None
            process.send_signal(signal.SIGKILL)
            _, stderr = process.communicate(timeout=30)
            assert "Traceback" not in stderr, stderr
            assert process.returncode == (-signal.SIGKILL if running else 0), stderr
            mid_sweep += running and committed < progress() < len(due_ids)
        left = len(due_ids) - progress()
    kill_seconds = time.perf_counter() - began
    print(
        f"CRASH {KILLS} kills in {kill_seconds:.1f}s, {mid_sweep} mid-sweep, "
        f"{mid_transaction} mid-transaction, {left} left"
    )
    assert mid_sweep >= 15, mid_sweep
    if engine.dialect.name == "postgresql":
        assert mid_transaction >= 10, mid_transaction
    assert left > 0, "the kills did not interrupt the sweep: nothing was left for the rerun"

    final = start()
    out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err
    assert json.loads(out)["claimed"] == left
    assert_each_lapsed_once(engine, reference, due_ids, before)
    again = start()
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert json.loads(out)["claimed"] == 0


# -- 3. catching up after two weeks off ----------------------------------------------------------

RESOLUTION = Resolution(
    "decision_changed",
    "Assessment allocated",
    "Seen weekly by a social worker; attendance plan with school",
    True,
)
OFF_FROM = london("2026-11-30 10:00")  # Monday: the worker stops
SWEEP = london("2026-12-14 10:00")  # Monday, 10 working days later: the one catch-up sweep


def test_it_catches_up_once_after_ten_working_days_off(
    engine: Engine, registry: ProtocolRegistry
) -> None:
    service = outbox_service(engine, registry)
    refs: dict[str, str] = {}

    def raised(key: str, when: str, **fields: Any) -> str:
        refs[key] = service.raise_challenge(
            raise_request(child_ref=f"C-{key}", **fields), london(when)
        )
        return refs[key]

    def respond(ref: str, when: str) -> None:
        service.respond(ref, SOCIAL_WORKER, "upheld", "Threshold not met", [], london(when))

    # D1: resolved Mon 19 Oct; its outcome check (20 working days on: Mon 16 Nov 09:00) was
    # asked by a sweep on time, so its reminder is due at the opening of the 11th working day
    # after (Tue 1 Dec 09:00) and expires when it closes 5 working days later (Tue 8 Dec 17:00).
    d1 = raised("D1", "2026-10-12 10:00", decision_date="2026-10-05")
    service.acknowledge(d1, SOCIAL_WORKER, london("2026-10-12 11:00"))
    respond(d1, "2026-10-14 10:00")
    service.accept(d1, SCHOOL_DSL, RESOLUTION, london("2026-10-19 14:00"))
    # D2: resolved Wed 4 Nov; its outcome check falls while the worker is off (Wed 2 Dec 09:00).
    d2 = raised("D2", "2026-10-26 10:00", decision_date="2026-10-19")
    service.acknowledge(d2, SOCIAL_WORKER, london("2026-10-26 11:00"))
    respond(d2, "2026-10-28 10:00")
    service.accept(d2, SCHOOL_DSL, RESOLUTION, london("2026-11-04 10:00"))
    asked = sweep.run_once(service, london("2026-11-16 09:00"))
    assert dict(asked.applied) == {"outcome_check": 1}
    assert pending(service, d1) == {
        ("outcome_reminder", london("2026-12-01 09:00"), london("2026-12-08 17:00")),
        ("outcome_close", london("2026-12-08 17:00"), None),
    }
    assert pending(service, d2) == {("outcome_check", london("2026-12-02 09:00"), None)}

    # A (unacknowledged), B (acknowledged), C (answered, waiting for the raiser): raised as the
    # worker stops. Level 1 is due Mon 7 Dec 17:00 (1, 2, 3, 4, 7 Dec); the reminder Fri 4 Dec
    # 09:00; the acknowledgement Tue 1 Dec 17:00. C's raiser is reminded at the opening after
    # 5 working days from the response (Tue 1 Dec): Wed 9 Dec 09:00.
    a = raised("A", "2026-11-30 10:00")
    b = raised("B", "2026-11-30 10:00")
    service.acknowledge(b, SOCIAL_WORKER, london("2026-11-30 11:00"))
    c = raised("C", "2026-11-30 10:00")
    service.acknowledge(c, SOCIAL_WORKER, london("2026-11-30 11:00"))
    respond(c, "2026-12-01 10:00")
    assert pending(service, a) == {
        ("acknowledgement_due", london("2026-12-01 17:00"), london("2026-12-07 17:00")),
        ("reminder", london("2026-12-04 09:00"), london("2026-12-07 17:00")),
        ("response_due", london("2026-12-07 17:00"), None),
    }
    assert pending(service, b) == {
        ("reminder", london("2026-12-04 09:00"), london("2026-12-07 17:00")),
        ("response_due", london("2026-12-07 17:00"), None),
    }
    assert pending(service, c) == {("raiser_reminder", london("2026-12-09 09:00"), None)}
    assert sweep.run_once(service, OFF_FROM).claimed == 0  # its last run: nothing was late
    # E: raised while the worker is off, Tue 8 Dec; due Tue 15 Dec 17:00 (9, 10, 11, 14, 15);
    # its acknowledgement (Wed 9 Dec 17:00) and reminder (Mon 14 Dec 09:00) are late but live.
    e = raised("E", "2026-12-08 10:00")
    assert pending(service, e) == {
        ("acknowledgement_due", london("2026-12-09 17:00"), london("2026-12-15 17:00")),
        ("reminder", london("2026-12-14 09:00"), london("2026-12-15 17:00")),
        ("response_due", london("2026-12-15 17:00"), None),
    }
    entries_before = {key: len(chronology(service, ref)) for key, ref in refs.items()}

    result = sweep.run_once(service, SWEEP)

    assert (result.claimed, result.skipped, result.failed, result.deferred) == (11, 4, 0, 0)
    assert dict(result.applied) == {
        "response_due": 2,  # A and B lapse once each
        "raiser_reminder": 1,  # C: no expiry, so sent late
        "outcome_close": 1,  # D1
        "outcome_check": 1,  # D2
        "acknowledgement_due": 1,  # E
        "reminder": 1,  # E
    }
    new_events = {
        key: [entry.event for entry in chronology(service, ref)[entries_before[key] :]]
        for key, ref in refs.items()
    }
    assert new_events == {
        "A": ["acknowledgement_due_skipped", "reminder_skipped", "lapse"],
        "B": ["reminder_skipped", "lapse"],
        "C": ["raiser_reminder"],
        "D1": ["outcome_reminder_skipped", "close"],
        "D2": ["request_outcome"],
        "E": ["acknowledgement_overdue", "reminder"],
    }
    assert all(
        entry.occurred_at == utc(SWEEP)
        for key, ref in refs.items()
        for entry in chronology(service, ref)[entries_before[key] :]
    )
    assert mail_kinds(service, SWEEP) == {
        "A": {"escalated_unanswered"},
        "B": {"escalated_unanswered"},
        "C": {"raiser_reminder"},
        "D1": {"closed"},
        "D2": {"outcome_check"},
        "E": {"acknowledgement_overdue", "reminder"},
    }
    ever = mail_kinds(service, None)
    for key in ("A", "B"):  # a skipped reminder is not sent, then or later
        assert not ever[key] & {"reminder", "acknowledgement_overdue"}, (key, ever[key])
    assert "outcome_reminder" not in ever["D1"]

    states = challenge_states(service)
    assert states == {
        "A": "level_2.awaiting_response",
        "B": "level_2.awaiting_response",
        "C": "level_1.responded",
        "D1": "closed",
        "D2": "outcome_check",
        "E": "level_1.awaiting_response",
    }
    # Level 2's clock starts when the lapse is applied, not when level 1 was due: acknowledgement
    # 1 working day on (Tue 15 Dec 17:00), response 2 (Wed 16 Dec 17:00), reminder at the
    # opening of the working day before that (Tue 15 Dec 09:00).
    for ref in (a, b):
        first, second = stages(service, ref)
        assert (first.level, first.ended_at, first.escalation_kind) == (1, utc(SWEEP), "unanswered")
        assert (second.level, second.opened_at, second.ended_at) == (2, utc(SWEEP), None)
        assert (second.due_at, second.acknowledge_due_at) == (
            london("2026-12-16 17:00"),
            london("2026-12-15 17:00"),
        )
        assert pending(service, ref) == {
            ("acknowledgement_due", london("2026-12-15 17:00"), london("2026-12-16 17:00")),
            ("reminder", london("2026-12-15 09:00"), london("2026-12-16 17:00")),
            ("response_due", london("2026-12-16 17:00"), None),
        }
    # D2 is asked now; its reminder goes at the opening of the 11th working day after Mon 14 Dec
    # (15–18, 21–24, 29, 30, 31 Dec: Christmas Day and the Boxing Day substitute, Mon 28, are
    # bank holidays): Thu 31 Dec 09:00; it closes 5 working days later (4–8 Jan, New Year's Day
    # a bank holiday): Friday 8 Jan 2027 at 16:00, when the Front Door closes on Fridays.
    assert pending(service, d2) == {
        ("outcome_reminder", london("2026-12-31 09:00"), london("2027-01-08 16:00")),
        ("outcome_close", london("2027-01-08 16:00"), None),
    }
    assert pending(service, c) == set()
    assert pending(service, e) == {("response_due", london("2026-12-15 17:00"), None)}
    assert pending(service, d1) == set()

    entries = {key: len(chronology(service, ref)) for key, ref in refs.items()}
    with service.sessions() as session:
        messages = session.scalar(select(func.count()).select_from(OutboxMessage))
    again = sweep.run_once(service, SWEEP)
    assert (again.claimed, sum(again.applied.values()), again.skipped) == (0, 0, 0)
    assert {key: len(chronology(service, ref)) for key, ref in refs.items()} == entries
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == messages


def _challenge(session: Session, reference: str) -> Challenge:
    return session.scalars(select(Challenge).where(Challenge.reference == reference)).one()


def pending(service: Service, reference: str) -> set[tuple[str, datetime, datetime | None]]:
    with service.sessions() as session:
        challenge = _challenge(session, reference)
        return {
            (d.kind, d.due_at, d.expires_at)
            for d in session.scalars(
                select(Deadline).where(
                    Deadline.challenge_id == challenge.id, Deadline.status == "pending"
                )
            )
        }


def chronology(service: Service, reference: str) -> list[ChronologyEntry]:
    with service.sessions() as session:
        return list(_challenge(session, reference).chronology)


def stages(service: Service, reference: str) -> list[Stage]:
    with service.sessions() as session:
        return list(_challenge(session, reference).stages)


def challenge_states(service: Service) -> dict[str, str]:
    with service.sessions() as session:
        return {
            child.removeprefix("C-"): state
            for child, state in session.execute(select(Challenge.child_ref, Challenge.state))
        }


def mail_kinds(service: Service, at: datetime | None) -> dict[str, set[str]]:
    """Kinds of email queued per challenge (by its child reference's key), at `at` or ever."""
    query = select(Challenge.child_ref, OutboxMessage.kind).join(
        Challenge, Challenge.id == OutboxMessage.challenge_id
    )
    if at is not None:
        query = query.where(OutboxMessage.created_at == utc(at))
    found: dict[str, set[str]] = defaultdict(set)
    with service.sessions() as session:
        for child, kind in session.execute(query):
            found[child.removeprefix("C-")].add(kind)
    return dict(found)
