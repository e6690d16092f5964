"""The worker's schedule: the only module that imports APScheduler (3.x).

APScheduler only *triggers* the three passes; what is due lives in the database. One scheduler
per process, with an in-memory job store that is never shared: several workers each keep their
own schedule, and the sweep's row claims and the outbox's idempotency keys make their work
exactly-once. Every job has `coalesce=True` (a worker that was asleep runs a pass once, not once
per missed slot), `max_instances=1` and `misfire_grace_time=None` (a late pass still runs, never
dropped silently); every instant is computed in Europe/London.

- sweep: at start (a worker that was off catches up at once), then every `sweep_every`;
- dispatch: at start, then every minute;
- digest: once a day at `digest_at` local time, by `DailyAt` below, not `CronTrigger`:
  APScheduler 3.11's CronTrigger fires a 01:30 job twice on the October clock change (00:30Z
  and 01:30Z on 25 October 2026). `DailyAt` fires at the first instant of each local day at
  which the wall clock reads `digest_at` or later: the first 01:30 in October, and 02:00 BST
  (01:00Z) on 29 March 2026, when the clock jumps over 01:30 — as Vixie cron does.

Why a BackgroundScheduler with the main thread waiting, not a BlockingScheduler: the signal
handler then only records the signal. Shutting a BlockingScheduler down from a handler runs
scheduler code in the middle of the scheduler's own loop (the handler interrupts the main
thread wherever it is, possibly holding the job store lock), and even `threading.Event.set()` in
a handler can deadlock if the signal lands while the main thread holds that Event's lock.
"""

from __future__ import annotations

import logging
import signal
import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from threading import Event
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

log = logging.getLogger(__name__)
LONDON = ZoneInfo("Europe/London")
DISPATCH_EVERY = timedelta(minutes=1)
JOB_DEFAULTS: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def first_instant(day: date, at: time, tz: ZoneInfo = LONDON) -> datetime:
    """The first instant of local `day` at which the wall clock reads `at` or later (UTC).

    A repeated time (October) gives its first occurrence; a skipped one (March) gives the
    instant the clock jumps over it.
    """
    wall = datetime.combine(day, at)
    candidates = sorted({wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)})
    real = [c for c in candidates if c.astimezone(tz).replace(tzinfo=None) == wall]
    if real:
        return real[0]
    return _transition(candidates[0], candidates[-1], tz)


def _transition(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The second at which `tz` changes offset, between `before` and `after` (both UTC)."""
    low, high = int(before.timestamp()), int(after.timestamp())
    offset = after.astimezone(tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


class DailyAt(BaseTrigger):  # type: ignore[misc]
    """Fires exactly once per local day, at `first_instant(day, at)`."""

    __slots__ = ("at", "timezone")

    def __init__(self, at: time, timezone: ZoneInfo = LONDON) -> None:
        self.at = at
        self.timezone = timezone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # After a fire: the next day's slot. At start: the first slot not already past.
        after = previous_fire_time or now - timedelta(microseconds=1)
        day = after.astimezone(self.timezone).date()
        while (instant := first_instant(day, self.at, self.timezone)) <= after:
            day += timedelta(days=1)
        return instant.astimezone(self.timezone)

    def __str__(self) -> str:
        return f"daily at {self.at:%H:%M} {self.timezone.key}"


@dataclass(frozen=True)
class Passes:
    """The three passes, each a callable that reads its own clock and never raises."""

    sweep: Callable[[], object]
    dispatch: Callable[[], object]
    digest: Callable[[], object]


def build(
    passes: Passes, sweep_every: timedelta, digest_at: time, one_at_a_time: bool
) -> BackgroundScheduler:
    """The scheduler with its three jobs, not yet started.

    `one_at_a_time` (SQLite: one writer at a time) runs the passes in one thread, in turn,
    rather than let them wait on each other's write lock — the dispatcher holds its transaction
    while it talks to the SMTP server.
    """
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(1 if one_at_a_time else 3)},
        job_defaults=JOB_DEFAULTS,
        timezone=LONDON,
    )
    start = datetime.now(LONDON)
    every = IntervalTrigger(seconds=sweep_every.total_seconds(), timezone=LONDON)
    scheduler.add_job(passes.sweep, every, id="sweep", name="sweep", next_run_time=start)
    # A second later, so that on SQLite the first dispatch sends what the first sweep queued.
    minutely = IntervalTrigger(seconds=DISPATCH_EVERY.total_seconds(), timezone=LONDON)
    later = start + timedelta(seconds=1)
    scheduler.add_job(
        passes.dispatch, minutely, id="dispatch", name="dispatch", next_run_time=later
    )
    # A worker started after today's digest time (a deploy, a reboot, a crash at 07:31) runs
    # today's digest at once rather than skip a day; it is queued once per partnership and
    # date, so if another worker or an earlier run already sent it, nothing goes twice.
    catch_up = start >= first_instant(start.date(), digest_at)
    scheduler.add_job(
        passes.digest,
        DailyAt(digest_at),
        id="digest",
        name="digest",
        **({"next_run_time": start + timedelta(seconds=2)} if catch_up else {}),
    )
    return scheduler


@dataclass(frozen=True)
class Stopped:
    signal: str  # SIGTERM or SIGINT
    seconds: float  # from the signal to the end of the last running pass


def run_until_signalled(scheduler: BackgroundScheduler, stop: Event) -> Stopped:
    """Start, wait for SIGTERM or SIGINT, then stop cleanly.

    `stop` is set first, so a sweep or dispatch in progress returns once the batch in hand has
    committed; shutdown then waits for it. A second signal stops the process at once (safe:
    every batch is one transaction).
    """
    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        for each in STOP_SIGNALS:
            signal.signal(each, signal.SIG_DFL)

    for each in STOP_SIGNALS:
        signal.signal(each, on_signal)
    scheduler.start()
    while not received:
        clock.sleep(0.2)  # interrupted by the signal; the handler itself takes no lock
    stop.set()
    stopping = clock.monotonic()
    scheduler.shutdown(wait=True)
    return Stopped(received[0], clock.monotonic() - stopping)


def next_digest(scheduler: BackgroundScheduler) -> datetime | None:
    job = scheduler.get_job("digest")
    when: datetime | None = job.next_run_time if job is not None else None
    return when
