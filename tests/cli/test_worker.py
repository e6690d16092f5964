"""The worker, its schedule, `job_runs`, `escalation health` and the digest command.

Clock changes in 2026 (Europe/London): Sunday 29 March, 01:00 GMT → 02:00 BST (01:00–01:59
never happens); Sunday 25 October, 02:00 BST → 01:00 GMT (01:00–01:59 happens twice). Every
expected instant below is written by hand, in UTC.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from datetime import time as local_time
from pathlib import Path
from typing import Any

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from escalation import jobs, scheduler
from escalation.casework import sweep
from escalation.casework.models_service import JobRun, OutboxMessage
from escalation.casework.service import Service
from escalation.mail.emails import EmailRenderer
from escalation.mail.outbox import OutboxNotifier
from escalation.resources import workflows_dir
from escalation.rules.registry import ProtocolRegistry
from escalation.rules.workdays import LONDON
from tests.cli.test_cli import REF, Cli, clean_env, console_script, raise_args
from tests.conftest import raise_request
from tests.smtp_sink import free_port

SPRING_FORWARD = datetime(2026, 3, 29).date()
FALL_BACK = datetime(2026, 10, 25).date()
MONDAY_7_DEC_10AM = "2026-12-07T10:00"
# Level 1 of the persona's challenge is due Mon 14 Dec 17:00; at 17:05 the sweep lapses it.
AFTER_LEVEL_1_LAPSES = "2026-12-14T17:05"
SECRET = "Zebedee Quill-Marchbanks"  # a marker that must never reach a log line or job_runs


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def nothing() -> None:
    return None


def built(digest_at: local_time = local_time(7, 30), sqlite: bool = True) -> Any:
    passes = scheduler.Passes(sweep=nothing, dispatch=nothing, digest=nothing)
    return scheduler.build(passes, timedelta(minutes=5), digest_at, sqlite)


def fire_times(trigger: Any, start: datetime, end: datetime) -> list[datetime]:
    """What APScheduler 3's loop does with a trigger, polled every 30 s from `start` to `end`:
    ask for the first fire time, then after each fire the next one after it."""
    fired: list[datetime] = []
    upcoming = trigger.get_next_fire_time(None, start)
    now = start
    while now <= end:
        while upcoming is not None and upcoming <= now:
            fired.append(upcoming.astimezone(UTC))
            upcoming = trigger.get_next_fire_time(upcoming, now)
        now += timedelta(seconds=30)
    return fired


def on_local_date(instants: list[datetime], day: Any) -> list[datetime]:
    return [i for i in instants if i.astimezone(LONDON).date() == day]


# -- the digest's trigger across the 2026 clock changes ------------------------------------------


@pytest.mark.parametrize(
    ("day", "at", "expected"),
    [
        (SPRING_FORWARD, local_time(7, 30), "2026-03-29T06:30"),  # 07:30 BST
        (FALL_BACK, local_time(7, 30), "2026-10-25T07:30"),  # 07:30 GMT
        # 01:30 does not exist on 29 March: it fires when the clock jumps over it, 02:00 BST.
        (SPRING_FORWARD, local_time(1, 30), "2026-03-29T01:00"),
        # 01:30 happens twice on 25 October: it fires at the first, 01:30 BST, only.
        (FALL_BACK, local_time(1, 30), "2026-10-25T00:30"),
    ],
    ids=["spring-0730", "autumn-0730", "spring-0130-gap", "autumn-0130-overlap"],
)
def test_it_fires_the_digest_exactly_once_on_a_clock_change_day(
    day: Any, at: local_time, expected: str
) -> None:
    trigger = built(at).get_job("digest").trigger
    start = datetime.combine(day, local_time(12), UTC) - timedelta(days=1)
    fired = fire_times(trigger, start, start + timedelta(days=2))
    assert on_local_date(fired, day) == [utc(expected)]
    assert len(fired) == 2  # and once on each neighbouring day in the window


def test_it_fires_once_on_each_ordinary_day_around_the_changes() -> None:
    trigger = built(local_time(1, 30)).get_job("digest").trigger
    fired = fire_times(trigger, utc("2026-03-27T12:00"), utc("2026-03-31T12:00"))
    assert fired == [
        utc("2026-03-28T01:30"),  # GMT
        utc("2026-03-29T01:00"),  # the jump to BST
        utc("2026-03-30T00:30"),  # BST
        utc("2026-03-31T00:30"),
    ]


def test_it_does_not_fire_in_the_repeated_hour_after_a_restart_within_it() -> None:
    # A worker (re)started at 01:45 GMT on 25 October, after the first 01:30 (BST) has gone.
    trigger = built(local_time(1, 30)).get_job("digest").trigger
    fired = fire_times(trigger, utc("2026-10-25T01:15"), utc("2026-10-26T12:00"))
    assert fired == [utc("2026-10-26T01:30")]


def test_it_needs_its_own_trigger_because_crontrigger_fires_twice_in_october() -> None:
    # The evidence for DailyAt: APScheduler 3.11's CronTrigger at 01:30 Europe/London.
    cron = CronTrigger(hour=1, minute=30, timezone=LONDON)
    fired = fire_times(cron, utc("2026-10-24T12:00"), utc("2026-10-26T12:00"))
    assert on_local_date(fired, FALL_BACK) == [utc("2026-10-25T00:30"), utc("2026-10-25T01:30")]


def test_it_queues_the_digest_once_when_run_twice_on_the_autumn_clock_change(
    service: Service, registry: ProtocolRegistry
) -> None:
    service.notifier = OutboxNotifier(registry, EmailRenderer(), "https://escalation.example.org")
    first = jobs.run_digest(service, utc("2026-10-25T00:30"), "daily")  # 01:30 BST
    second = jobs.run_digest(service, utc("2026-10-25T01:30"), "daily")  # 01:30 GMT
    assert first.ok and second.ok, (first.summary, second.summary)
    assert first.value().queued >= 1
    assert second.value().queued == 0
    assert count_rows(service.sessions, OutboxMessage) == first.value().queued
    assert [run.job for run in job_runs(service.sessions)] == ["digest", "digest"]


# -- the scheduler's configuration ---------------------------------------------------------------


def test_it_builds_the_scheduler_with_the_agreed_job_settings() -> None:
    before = datetime.now(UTC)
    built_scheduler = built()
    built_scheduler.start(paused=True)  # job defaults are applied when the scheduler starts
    try:
        jobs_by_id = {job.id: job for job in built_scheduler.get_jobs()}
        store = built_scheduler._lookup_jobstore("default")
    finally:
        built_scheduler.shutdown()
    assert built_scheduler.timezone == LONDON
    assert isinstance(store, MemoryJobStore)
    assert set(jobs_by_id) == {"sweep", "dispatch", "digest"}
    for job in jobs_by_id.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)
    sweep_job, dispatch_job = jobs_by_id["sweep"], jobs_by_id["dispatch"]
    assert isinstance(sweep_job.trigger, IntervalTrigger)
    assert sweep_job.trigger.interval == timedelta(minutes=5)
    assert dispatch_job.trigger.interval == timedelta(minutes=1)
    # Both run at start: a worker that was off catches up at once.
    assert before <= sweep_job.next_run_time <= before + timedelta(seconds=5)
    assert before <= dispatch_job.next_run_time <= before + timedelta(seconds=5)
    assert str(jobs_by_id["digest"].trigger) == "daily at 07:30 Europe/London"


def _digest_next_run(digest_at: local_time) -> datetime:
    built_scheduler = built(digest_at)
    built_scheduler.start(paused=True)
    try:
        return {job.id: job for job in built_scheduler.get_jobs()}["digest"].next_run_time
    finally:
        built_scheduler.shutdown()


def test_it_runs_todays_digest_at_start_when_its_time_has_passed() -> None:
    now = datetime.now(LONDON)
    if now.time() < local_time(0, 2) or now.time() > local_time(23, 57):
        pytest.skip("too close to midnight for 'earlier today' and 'later today' to exist")
    earlier = (now - timedelta(minutes=1)).time().replace(second=0, microsecond=0)
    later = (now + timedelta(minutes=2)).time().replace(second=0, microsecond=0)
    # Started after today's time: today's digest runs at once (it is sent once per date anyway).
    assert now <= _digest_next_run(earlier) <= now + timedelta(seconds=10)
    # Started before it: at today's time, as the trigger says.
    slot = datetime.combine(now.date(), later, tzinfo=LONDON)
    assert _digest_next_run(later) == slot


def test_it_waits_for_the_pass_in_hand_when_signalled() -> None:
    stop, started, finished = threading.Event(), threading.Event(), threading.Event()

    def slow_sweep() -> None:
        started.set()
        stop.wait(10)  # like run_once: it sees `stop` and returns after the batch in hand
        time.sleep(0.3)
        finished.set()

    passes = scheduler.Passes(sweep=slow_sweep, dispatch=nothing, digest=nothing)
    schedule = scheduler.build(passes, timedelta(minutes=5), local_time(7, 30), False)
    previous = {each: signal.getsignal(each) for each in scheduler.STOP_SIGNALS}

    def signal_once_started() -> None:
        started.wait(30)  # and signal even if it did not start, so that the test ends
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=signal_once_started, daemon=True).start()
    try:
        stopped = scheduler.run_until_signalled(schedule, stop)
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
    assert started.is_set(), "the scheduler did not start the sweep pass within 30 s"
    assert finished.is_set()  # shut down only once the running pass had finished
    assert stopped.signal == "SIGTERM"
    assert stopped.seconds >= 0.3


# -- job_runs and the log line -------------------------------------------------------------------


def job_runs(sessions: sessionmaker[Session]) -> list[JobRun]:
    with sessions() as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)))


def count_rows(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_it_records_a_sweep_with_host_pid_and_counts_and_logs_one_line(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    service.raise_challenge(raise_request(), utc("2026-12-07T10:00"))
    caplog.set_level(logging.INFO, logger="escalation.jobs")
    outcome = jobs.run_sweep(service, utc("2026-12-14T17:05"))
    assert outcome.ok
    [run] = job_runs(service.sessions)
    assert (run.job, run.ok, run.pid) == ("sweep", True, os.getpid())
    assert run.host and run.started_at == utc("2026-12-14T17:05")
    assert run.finished_at >= run.started_at
    assert run.summary["applied"] == {"response_due": 1}
    lines = [r.getMessage() for r in caplog.records if r.name == "escalation.jobs"]
    assert len(lines) == 1
    assert re.fullmatch(
        r"job=sweep ok=true claimed=3 applied=1 skipped=2 deferred=0 failed=0 queued=0 "
        r"seconds=\d+\.\d+",
        lines[0],
    ), lines[0]  # the service here records notices without queueing email


def test_it_records_a_failing_pass_by_its_error_class_only_and_carries_on(
    service: Service, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError(f"could not process the concern about {SECRET}")

    monkeypatch.setattr(sweep, "run_once", broken)
    caplog.set_level(logging.INFO, logger="escalation.jobs")
    outcome = jobs.run_sweep(service, utc("2026-12-14T17:05"))  # no exception escapes
    assert not outcome.ok
    [run] = job_runs(service.sessions)
    assert run.ok is False
    assert run.summary["error"] == "ValueError"
    assert re.fullmatch(r"escalation/jobs\.py:\d+", run.summary["at"])
    [record] = [r for r in caplog.records if r.name == "escalation.jobs"]
    assert record.levelno == logging.ERROR
    assert "job=sweep ok=false error=ValueError at=escalation/jobs.py:" in record.getMessage()
    assert SECRET not in caplog.text
    assert SECRET not in json.dumps(run.summary)
    with pytest.raises(jobs.JobFailed) as failed:
        outcome.value()
    assert "ValueError" in str(failed.value) and SECRET not in str(failed.value)


# -- the CLI: sweep, dispatch and digest are recorded ---------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for variable in [v for v in os.environ if v.startswith("ESCALATION_")]:
        monkeypatch.delenv(variable)
    database = tmp_path / "escalation.db"
    monkeypatch.setenv("ESCALATION_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("ESCALATION_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.chdir(tmp_path)
    return Cli(CliRunner(), database)


@pytest.fixture
def raised(cli: Cli) -> Cli:
    """The schema, the directory, and the persona's challenge raised Mon 7 Dec 2026 10:00."""
    from tests.conftest import FIXTURES

    cli.ok("db", "upgrade")
    cli.ok("orgs", "import", str(FIXTURES / "directory.csv"))
    assert cli.ok(*raise_args(), now=MONDAY_7_DEC_10AM).stdout.strip() == REF
    return cli


def runs(cli: Cli) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(cli.database)) as connection:
        connection.row_factory = sqlite3.Row
        rows = connection.execute("SELECT * FROM job_runs ORDER BY id").fetchall()
    return [dict(row) | {"summary": json.loads(row["summary"])} for row in rows]


def test_it_records_the_sweep_and_dispatch_commands_in_job_runs(raised: Cli) -> None:
    queued_by_raise = raised.count("outbox")
    swept = raised.json("sweep", now=AFTER_LEVEL_1_LAPSES)
    queued_by_sweep = raised.count("outbox") - queued_by_raise
    assert swept["applied"] == {"response_due": 1}
    assert queued_by_sweep > 0
    out = raised.ok("dispatch", now=AFTER_LEVEL_1_LAPSES).stdout
    assert out.startswith(f"dispatch: {queued_by_raise + queued_by_sweep} sent (written to ")
    sweep_run, dispatch_run = runs(raised)
    assert (sweep_run["job"], sweep_run["ok"]) == ("sweep", 1)
    assert sweep_run["summary"]["queued"] == queued_by_sweep
    assert sweep_run["started_at"].startswith("2026-12-14 17:05:00")
    assert (dispatch_run["job"], dispatch_run["ok"]) == ("dispatch", 1)
    assert dispatch_run["summary"] == {
        "sent": queued_by_raise + queued_by_sweep,
        "retrying": 0,
        "failed": 0,
    }


def test_it_runs_the_digest_from_the_command_line_once_per_day(raised: Cli) -> None:
    first = raised.ok("digest", now="2026-12-08T07:30").stdout
    assert first.startswith("digest as of 2026-12-08T07:30:00+00:00 (working): ")
    again = raised.ok("digest", "--days", "daily", now="2026-12-08T09:00").stdout
    assert "0 queued" in again
    assert [r["job"] for r in runs(raised)] == ["digest", "digest"]
    assert runs(raised)[0]["summary"]["queued"] >= 1


def test_it_sends_no_working_day_digest_on_a_sunday_unless_daily(raised: Cli) -> None:
    assert "0 queued" in raised.ok("digest", now="2026-12-13T07:30").stdout
    assert "0 queued" not in raised.ok("digest", "--days", "daily", now="2026-12-13T07:31").stdout


def test_it_refuses_to_start_the_worker_without_the_schema(cli: Cli) -> None:
    line = cli.error("worker")
    assert "has no schema yet" in line
    assert "run `escalation db upgrade` first" in line


# -- escalation health ---------------------------------------------------------------------------


def health(cli: Cli, *args: str, now: str) -> tuple[int, str]:
    result = cli("health", *args, now=now)
    return result.exit_code, result.stdout + result.stderr


def test_it_is_healthy_after_a_recent_sweep(raised: Cli) -> None:
    raised.ok("sweep", now="2026-12-07T10:00")
    code, out = health(raised, now="2026-12-07T10:10")
    assert code == 0, out
    assert out.startswith("ok: last successful sweep 10 min ago on ")
    assert "(limit 30 min)" in out


def test_it_is_unhealthy_when_the_last_sweep_is_too_old(raised: Cli) -> None:
    raised.ok("sweep", now="2026-12-07T10:00")
    code, out = health(raised, now="2026-12-07T10:47")
    assert code == 1
    assert out == "unhealthy: last successful sweep 47 min ago (limit 30 min)\n"
    assert health(raised, "--max-sweep-age", "60", now="2026-12-07T10:47")[0] == 0


def test_it_is_not_fooled_by_a_sweep_simulated_in_the_future(raised: Cli) -> None:
    raised.ok("sweep", now="2026-12-07T10:00")
    raised.ok("sweep", now="2027-06-01T10:00")  # someone trying --now, months ahead
    code, out = health(raised, now="2026-12-07T11:00")
    assert code == 1
    assert out == "unhealthy: last successful sweep 60 min ago (limit 30 min)\n"


def test_it_is_unhealthy_when_nothing_ever_swept(raised: Cli) -> None:
    code, out = health(raised, now="2026-12-07T10:10")
    assert code == 1
    assert out.startswith("unhealthy: never swept: no successful sweep is recorded")


def test_it_is_unhealthy_while_emails_keep_failing(
    raised: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on this port: every attempt is a temporary failure, retried later.
    monkeypatch.setenv("ESCALATION_SMTP_URL", f"smtp://127.0.0.1:{free_port()}?timeout=2")
    out = raised.ok("dispatch", now="2026-12-07T10:01").stdout
    pending = raised.count("outbox")
    assert re.fullmatch(
        rf"dispatch: 0 sent \(via 127\.0\.0\.1:\d+\), {pending} to retry, 0 failed\n", out
    )
    raised.ok("sweep", now="2026-12-07T10:50")
    assert health(raised, now="2026-12-07T10:55")[0] == 0  # queued 55 min ago: not yet
    raised.ok("sweep", now="2026-12-07T11:05")
    code, out = health(raised, now="2026-12-07T11:05")
    assert code == 1
    assert out == (
        f"unhealthy: {pending} messages undelivered for over 60 min (0 failed, {pending} still "
        "pending), oldest id 1\n"
    )
    data = json.loads(raised("health", "--json", now="2026-12-07T11:05").stdout)
    assert data["ok"] is False
    assert data["failing"] == {"failed": 0, "pending": pending, "oldest_id": 1}
    assert data["last_sweep"]["minutes_ago"] == 0


def test_it_exits_2_when_the_database_has_no_schema(cli: Cli) -> None:
    result = cli("health", now="2026-12-07T10:00")
    assert result.exit_code == 2
    assert "has no schema yet" in result.stderr
    assert result.stderr.startswith("error: ")


def test_it_exits_2_when_the_database_cannot_be_opened(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESCALATION_DATABASE_URL", f"sqlite:///{tmp_path}/no/such/dir/x.db")
    result = cli("health")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: the database at sqlite:///{tmp_path}/no/such/dir/x.db cannot be opened (the file "
        f"cannot be opened): the folder {tmp_path}/no/such/dir does not exist\n"
    )


# -- a real worker process -----------------------------------------------------------------------


@pytest.fixture
def worker_env(raised: Cli, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        ESCALATION_DATABASE_URL=f"sqlite:///{raised.database}",
        ESCALATION_OUTBOX_DIR=str(tmp_path / "outbox"),
    )


def start_worker(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    argv = [str(console_script()), "--now", AFTER_LEVEL_1_LAPSES, "worker"]
    return subprocess.Popen(argv, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)


def wait_for_runs(database: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with closing(sqlite3.connect(database)) as connection:
            done = {row[0] for row in connection.execute("SELECT job FROM job_runs")}
        if done >= {"sweep", "dispatch"}:
            return
        time.sleep(0.1)
    process.kill()
    pytest.fail(
        f"the worker recorded no sweep and dispatch in job_runs within 60 s (or exited): "
        f"{process.communicate(timeout=30)[1]}"
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_it_runs_a_worker_that_sweeps_and_dispatches_at_start_and_stops_on_a_signal(
    raised: Cli, worker_env: dict[str, str], tmp_path: Path, stop_signal: signal.Signals
) -> None:
    process = start_worker(worker_env, tmp_path)
    wait_for_runs(raised.database, process)
    process.send_signal(stop_signal)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert time.monotonic() - sent < 10
    run_lines = re.findall(r"escalation\.jobs: (job=.*)", stderr)
    # One line per run. After 07:30 the worker also catches up the day's digest two seconds
    # after it starts; on a loaded machine that run can start before the signal arrives.
    by_job = {line.split()[0]: line for line in run_lines}
    assert len(by_job) == len(run_lines), stderr
    assert set(by_job) in (
        {"job=sweep", "job=dispatch"},
        {"job=sweep", "job=dispatch", "job=digest"},
    ), stderr
    sweep_line, dispatch_line = by_job["job=sweep"], by_job["job=dispatch"]
    assert re.match(r"job=sweep ok=true claimed=3 applied=1 skipped=2 .* queued=[1-9]", sweep_line)
    assert re.match(r"job=dispatch ok=true sent=[1-9]\d* retrying=0 failed=0", dispatch_line)
    assert f"worker=stopped signal={stop_signal.name}" in stderr
    assert "Traceback" not in stderr
    for private in ("CHILD-REF-001", "frightened", "Attendance falling", "AB "):
        assert private not in stderr
    assert list((tmp_path / "outbox").glob("*.eml"))
    assert [(r["job"], r["ok"]) for r in runs(raised)] == [("sweep", 1), ("dispatch", 1)]


def test_it_logs_the_schedule_when_the_worker_starts(
    raised: Cli, worker_env: dict[str, str], tmp_path: Path
) -> None:
    worker_env["ESCALATION_DIGEST_AT"] = "06:15"
    process = start_worker(worker_env | {"ESCALATION_DIGEST_DAYS": "daily"}, tmp_path)
    wait_for_runs(raised.database, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert re.search(
        r"worker=started sweep_every_minutes=5 dispatch_every_minutes=1 digest_at=06:15 "
        r"digest_days=daily mailer=file next_digest=\S+T06:15:00\+0[01]:00",
        stderr,
    ), stderr


def test_it_logs_a_protocol_file_edited_in_place_when_the_worker_starts(
    raised: Cli, worker_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "workflows"
    shutil.copytree(workflows_dir(), folder)  # the challenge was raised on the shipped devon@1
    devon = folder / "devon.yaml"
    old = "    response_due: 2 working days\n"
    assert devon.read_text().count(old) == 1
    devon.write_text(devon.read_text().replace(old, "    response_due: 10 working days\n"))
    process = start_worker(worker_env | {"ESCALATION_WORKFLOWS_DIR": str(folder)}, tmp_path)
    wait_for_runs(raised.database, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr  # it runs on, from the pinned copy
    assert re.search(
        r"ERROR escalation\.casework\.pins: protocols: devon\.yaml: version 1 of devon differs "
        r"from the copy pinned when it was first used \(1 open challenge pinned to it keeps the "
        r"pinned copy\)",
        stderr,
    ), stderr
    # The sweep lapsed level 1 at 17:05 on Monday 14 December and opened level 2 on the pinned
    # copy: 2 working days after the 14th is Wednesday 16 December, 17:00 GMT (the edited file's
    # 10 would be Wednesday 30 December: 25 and 28 December are bank holidays).
    assert re.search(r"job=sweep ok=true claimed=3 applied=1 ", stderr), stderr
    with closing(sqlite3.connect(raised.database)) as connection:
        due = connection.execute(
            "SELECT d.due_at FROM deadlines d JOIN stages s ON s.id = d.stage_id "
            "WHERE s.seq = 2 AND d.kind = 'response_due'"
        ).fetchall()
    assert [row[0][:16] for row in due] == ["2026-12-16 17:00"]
