"""The SQL of the `job_runs` table: what `escalation health` reads back of the worker's passes.

Each run is written by `jobs` with a plain `session.add`; only the reads are here.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from escalation.casework.models_service import JobRun


class Sweeps(NamedTuple):
    last_ok: JobRun | None  # the last sweep that succeeded
    latest: JobRun | None  # the last sweep, whether or not it succeeded


def sweeps_by(session: Session, now: datetime) -> Sweeps:
    """The sweeps that had started by `now`, latest finished first.

    A run recorded with a later --now than this (a simulation) says nothing about now."""
    sweeps = (
        select(JobRun)
        .where(JobRun.job == "sweep", JobRun.started_at <= now)
        .order_by(JobRun.finished_at.desc())
    )
    last_ok = session.scalars(sweeps.where(JobRun.ok.is_(True)).limit(1)).first()
    return Sweeps(last_ok, session.scalars(sweeps.limit(1)).first())
