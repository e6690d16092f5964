"""The three passes as entry points — sweep, dispatch, digest — and the `job_runs` table.

Each `run_*` reads the clock once (or takes a fixed `now`), runs its pass, writes one `JobRun`
row (host, pid, started/finished, ok, summary) and logs ONE line to the `escalation.jobs`
logger, in logfmt (`key=value`, space separated), e.g.

    job=sweep ok=true claimed=3 applied=2 skipped=1 deferred=0 failed=0 queued=4 seconds=0.123
    job=dispatch ok=true sent=4 retrying=0 failed=0 seconds=0.051
    job=sweep ok=false error=OperationalError at=escalation/casework/store.py:57 seconds=0.010

A failing pass never raises: it is recorded with ok=false and its error's class name, so the
worker keeps running. Only counts, flags, durations, exception class names and source
locations reach the log line or the summary, never an exception's text, which can quote SQL
parameters and with them a child's details.

`check_health` reads `job_runs` and the outbox back for `escalation health`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from threading import Event
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from escalation import failures
from escalation.casework import store_jobs, sweep
from escalation.casework.models_service import JobRun, OutboxStatus
from escalation.casework.service import Service
from escalation.errors import EscalationError
from escalation.mail import store as store_mail
from escalation.mail.dispatch import DEFAULT_RETRY_LIMIT, DispatchResult, Mailer, dispatch_once
from escalation.rules.workdays import to_local_iso, utc
from escalation.web import store as store_web

if TYPE_CHECKING:
    from escalation.mail.digest import DigestResult

log = logging.getLogger(__name__)
R = TypeVar("R")


class JobFailed(EscalationError):
    """A pass that failed; the message names the error's class and where it was raised."""


@dataclass
class JobOutcome(Generic[R]):
    job: str
    started_at: datetime
    result: R | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    exception: Exception | None = None  # for the CLI at the keyboard; never logged or stored

    @property
    def ok(self) -> bool:
        return self.exception is None

    def value(self) -> R:
        """The pass's result, for a command; a failed run raises instead.

        A user-facing `EscalationError` is raised as it was (the person at the keyboard reads
        it); anything else becomes `JobFailed`, naming only the error's class and location.
        """
        if isinstance(self.exception, EscalationError):
            raise self.exception
        if self.exception is not None or self.result is None:
            where = f" at {self.summary['at']}" if self.summary.get("at") else ""
            raise JobFailed(
                f"the {self.job} failed with {self.summary.get('error')}{where}; what it had "
                "in hand was rolled back, and the next run takes it up again"
            )
        return self.result


def clock(fixed: datetime | None = None) -> Callable[[], datetime]:
    """The real clock, or one that starts at `fixed` (simulation) and runs on in real time."""
    if fixed is None:
        return lambda: datetime.now(UTC)
    started = time.monotonic()
    return lambda: utc(fixed) + timedelta(seconds=time.monotonic() - started)


def run_sweep(
    service: Service,
    now: datetime | None = None,
    stop: Event | None = None,
    batch_size: int = 200,
) -> JobOutcome[sweep.SweepResult]:
    def work(at: datetime) -> tuple[sweep.SweepResult, dict[str, Any]]:
        last_id = _last_outbox_id(service.sessions)
        result = sweep.run_once(service, at, batch_size, stop)
        return result, {**result.as_dict(), "queued": _queued(service.sessions, last_id, at)}

    return _run("sweep", service.sessions, now, stop, work)


def run_dispatch(
    service: Service,
    mailer: Mailer,
    now: datetime | None = None,
    stop: Event | None = None,
    batch_size: int = 100,
    retry_limit: timedelta = DEFAULT_RETRY_LIMIT,
) -> JobOutcome[DispatchResult]:
    def work(at: datetime) -> tuple[DispatchResult, dict[str, Any]]:
        result = dispatch_once(service, mailer, at, batch_size, retry_limit, stop)
        return result, asdict(result)

    return _run("dispatch", service.sessions, now, stop, work)


def run_digest(
    service: Service, now: datetime | None = None, days: str = "working"
) -> JobOutcome[DigestResult]:
    """The partnership digest; `escalation.mail.digest` decides working day or not from `days`.

    The same daily run forgets the web service's ended sessions, their half-raised challenges
    and the record of expired links (`store_web.prune`)."""
    from escalation.mail.digest import send_digests  # only the digest commands need it

    def work(at: datetime) -> tuple[DigestResult, dict[str, Any]]:
        result = send_digests(service, at, days)
        with service.sessions.begin() as session:  # once a day: the web's expired leftovers
            pruned = store_web.prune(session, at)
        return result, result.as_dict() | {"pruned": pruned}

    return _run("digest", service.sessions, now, None, work)


def _run(
    job: str,
    sessions: sessionmaker[Session],
    now: datetime | None,
    stop: Event | None,
    work: Callable[[datetime], tuple[R, dict[str, Any]]],
) -> JobOutcome[R]:
    outcome: JobOutcome[R] = JobOutcome(job, utc(now) if now else datetime.now(UTC))
    started = time.monotonic()
    try:
        outcome.result, summary = work(outcome.started_at)
        outcome.summary = _jsonable(summary) | ({"stopped": True} if stop and stop.is_set() else {})
    except Exception as exc:  # recorded and logged by class; the worker keeps running
        outcome.exception = exc
        outcome.summary = {"error": type(exc).__name__, "at": failures.where(exc)}
    outcome.seconds = time.monotonic() - started
    _log(outcome, _record(sessions, outcome))
    return outcome


def _jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(summary, default=str))
    return loaded


def _record(sessions: sessionmaker[Session], outcome: JobOutcome[Any]) -> str | None:
    """Write the JobRun row; returns the error class if even that failed (database down)."""
    try:
        with sessions.begin() as session:
            session.add(
                JobRun(
                    job=outcome.job,
                    host=socket.gethostname()[:255],
                    pid=os.getpid(),
                    started_at=outcome.started_at,
                    finished_at=outcome.started_at + timedelta(seconds=outcome.seconds),
                    ok=outcome.ok,
                    summary=outcome.summary,
                )
            )
    except Exception as exc:
        return type(exc).__name__
    return None


def _log(outcome: JobOutcome[Any], record_error: str | None) -> None:
    fields: dict[str, object] = {"job": outcome.job, "ok": outcome.ok}
    for key, value in outcome.summary.items():
        if isinstance(value, bool | int | float):
            fields[key] = value
        elif isinstance(value, dict) and all(isinstance(v, int) for v in value.values()):
            fields[key] = sum(value.values())  # e.g. applied={"reminder": 2} → applied=2
        elif key in ("error", "at") and value:
            fields[key] = value
    fields["seconds"] = round(outcome.seconds, 3)
    if record_error:
        fields |= {"recorded": False, "record_error": record_error}
    line = " ".join(
        f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in fields.items()
    )
    log.log(logging.INFO if outcome.ok and not record_error else logging.ERROR, "%s", line)


def _last_outbox_id(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return store_mail.last_outbox_id(session)


def _queued(sessions: sessionmaker[Session], after_id: int, now: datetime) -> int:
    """Outbox rows this sweep queued: newer than before it, stamped with its instant."""
    with sessions() as session:
        return store_mail.queued_after(session, after_id, now)


# -- health --------------------------------------------------------------------------------------


@dataclass
class Health:
    """What `escalation health` found; `problems` is empty when all is well."""

    now: datetime
    max_sweep_age: timedelta
    max_failing: timedelta
    last_sweep: JobRun | None = None
    latest_sweep_error: str | None = None
    failing: dict[str, int] = field(default_factory=dict)  # status → count
    oldest_failing_id: int | None = None
    problems: list[str] = field(default_factory=list)

    def sweep_age(self) -> timedelta | None:
        """Counted from the instant the sweep applied everything due as of (its start)."""
        if self.last_sweep is None:
            return None
        return max(self.now - self.last_sweep.started_at, timedelta(0))

    def lines(self) -> list[str]:
        """One line per problem, or one line saying all is well."""
        if self.problems:
            return [f"unhealthy: {problem}" for problem in self.problems]
        age, host = self.sweep_age(), self.last_sweep.host if self.last_sweep else "?"
        return [
            f"ok: last successful sweep {_ago(age or timedelta(0))} ago on {host} "
            f"(limit {_minutes(self.max_sweep_age)} min); no email failing for over "
            f"{_minutes(self.max_failing)} min"
        ]

    def as_dict(self) -> dict[str, object]:
        age = self.sweep_age()
        last = self.last_sweep
        return {
            "ok": not self.problems,
            "checked_at": to_local_iso(self.now),
            "last_sweep": None
            if last is None or age is None
            else {
                "started_at": to_local_iso(last.started_at),
                "finished_at": to_local_iso(last.finished_at),
                "host": last.host,
                "minutes_ago": int(age.total_seconds() // 60),
            },
            "latest_sweep_error": self.latest_sweep_error,
            "failing": {
                "failed": self.failing.get(OutboxStatus.FAILED.value, 0),
                "pending": self.failing.get(OutboxStatus.PENDING.value, 0),
                "oldest_id": self.oldest_failing_id,
            },
            "limits": {
                "max_sweep_age_minutes": _minutes(self.max_sweep_age),
                "max_failing_minutes": _minutes(self.max_failing),
            },
            "problems": self.problems,
        }


def check_health(
    sessions: sessionmaker[Session], now: datetime, max_sweep_age: timedelta, max_failing: timedelta
) -> Health:
    """Is the sweep running (any host), and is any email failing for longer than allowed?

    "Failing" is a message that is `failed`, or still `pending` (retrying, or never reached),
    and "for how long" is counted from its `created_at`: when it should have gone out. The
    outbox keeps no time of first failure, and the dispatcher first tries a message within a
    minute (worker) or one cron interval of its creation, so this errs on the early side.
    """
    health = Health(utc(now), max_sweep_age, max_failing)
    with sessions() as session:
        _read_sweeps(session, health)
        _read_failing(session, health)
    health.problems = _problems(health)
    return health


def _read_sweeps(session: Session, health: Health) -> None:
    sweeps = store_jobs.sweeps_by(session, health.now)
    health.last_sweep = sweeps.last_ok
    if sweeps.latest is not None and not sweeps.latest.ok:
        health.latest_sweep_error = str(sweeps.latest.summary.get("error", "an error"))


def _read_failing(session: Session, health: Health) -> None:
    # Pending counts whether or not it was tried: a message the dispatcher cannot even build
    # or never reaches (no dispatcher running) is as undelivered as one the server refuses.
    health.failing, health.oldest_failing_id = store_mail.undelivered_since(
        session, health.now - health.max_failing
    )


def _problems(health: Health) -> list[str]:
    return [p for p in (_sweep_problem(health), _failing_problem(health)) if p]


def _sweep_problem(health: Health) -> str | None:
    age = health.sweep_age()
    why = f"; the latest sweep failed ({health.latest_sweep_error})"
    why = why if health.latest_sweep_error else ""
    if age is None:
        return (
            "never swept: no successful sweep is recorded (start `escalation worker`, or run "
            f"`escalation sweep` from cron){why}"
        )
    if age > health.max_sweep_age:
        limit = _minutes(health.max_sweep_age)
        return f"last successful sweep {_ago(age)} ago (limit {limit} min){why}"
    return None


def _failing_problem(health: Health) -> str | None:
    count = sum(health.failing.values())
    if not count:
        return None
    failed = health.failing.get(OutboxStatus.FAILED.value, 0)
    pending = health.failing.get(OutboxStatus.PENDING.value, 0)
    return (
        f"{count} message{'s' if count != 1 else ''} undelivered for over "
        f"{_minutes(health.max_failing)} min ({failed} failed, {pending} still pending), "
        f"oldest id {health.oldest_failing_id}"
    )


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _ago(delta: timedelta) -> str:
    minutes = _minutes(delta)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"
