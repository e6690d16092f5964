"""Shared fixtures: a real database per test (SQLite, and PostgreSQL where marked), the shipped
protocols, the directory of personas and small explicit builders.

PostgreSQL: `ESCALATION_TEST_POSTGRES_URL` (default: the local server's `test` database). Each
test session works in a schema of its own, created with the Alembic migrations and dropped at the
end; each test starts from empty tables. When the server cannot be reached the PostgreSQL tests
are skipped on a developer's machine but FAIL under CI (`CI` set), so CI can never go green
without them.

A statement that waits for a lock here (TRUNCATE between tests, DROP SCHEMA at the end) waits
at most LOCK_TIMEOUT and then fails naming it, instead of hanging behind a connection an
earlier test left open. pytest-timeout (pyproject: `timeout`) fails any test that hangs anyway,
with its traceback; should that not stop it (a hang in the test's own cleanup), the hard stop
below prints every thread's stack to the real stderr after HARD_STOP_GRACE more seconds and
ends the test process (xdist then names the test and carries on with a new worker).
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import threading
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from escalation.casework import db, directory
from escalation.casework.base import Base
from escalation.casework.intake import RaiseRequest
from escalation.casework.service import Service
from escalation.resources import workflows_dir
from escalation.rules.registry import ProtocolRegistry, load_registry
from escalation.rules.workdays import LONDON
from tests.smtp_sink import smtp_server

__all__ = ["smtp_server"]  # a fixture for every test module: a real SMTP server

FIXTURES = Path(__file__).parent / "fixtures"
POSTGRES_URL = os.environ.get(
    "ESCALATION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
LOCK_TIMEOUT = "30s"
HARD_STOP_GRACE = 120.0  # seconds past a test's pytest-timeout
FALLBACK_TIMEOUT = 600.0  # without pytest-timeout installed
_real_stderr: list[TextIO] = []  # taken before any test's output is captured

# Personas
SCHOOL = "Ashcombe Primary School"
FRONT_DOOR = "Devon Front Door"
SCHOOL_DSL = "Dana Lead"
SOCIAL_WORKER = "Alex Social Worker"
TEAM_MANAGER = "Morgan Team Manager"
SERVICE_MANAGER = "Jo Service Manager"
BUSINESS_MANAGER = "Pip Business Manager"


# Marker strings for every field about the child or the concern: privacy tests put them in a
# challenge and check that none reaches an email, a digest, a report or a log.
PRIVACY_MARKERS = {
    "child_ref": "MARKER-CHILDREF-7731",
    "child_initials": "QZX",
    "concern": "MARKER-CONCERN-5512 the family home",
    "decision": "MARKER-DECISION-9904",
    "evidence": "MARKER-EVIDENCE-4410",
    "desired_outcome": "MARKER-OUTCOME-1187",
    "voice_of_child": "MARKER-VOICE-2209",
    "decision_ref": "MARKER-DECREF-6650",
}


def london(text_value: str) -> datetime:
    """A Europe/London wall-clock time, e.g. london("2026-12-07 10:00")."""
    return datetime.fromisoformat(text_value).replace(tzinfo=LONDON)


@pytest.hookimpl(optionalhook=True)  # `-p no:xdist` runs the suite without it
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: one worker more than the cores this process may use.

    A sixth of the suite's time is spent waiting, not computing: on subprocesses starting, on
    SMTP and web servers, on Chromium, on PostgreSQL's locks. With as many workers as cores a
    core sat idle through those waits (2 workers on this 2-core machine: 426 s idle, 505 s in
    a CI run; 3 workers: 390 s). PYTEST_XDIST_AUTO_NUM_WORKERS, when set, is xdist's to read."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; elsewhere every core
    cores = len(affinity(0)) if affinity is not None else os.cpu_count() or 1
    return cores + 1


def pytest_configure(config: pytest.Config) -> None:
    _real_stderr.append(os.fdopen(os.dup(2), "w", buffering=1))


def pytest_unconfigure(config: pytest.Config) -> None:
    while _real_stderr:
        _real_stderr.pop().close()


def _timeout(item: pytest.Item) -> float:
    """The test's pytest-timeout: its marker, else --timeout, else pyproject's `timeout`."""
    marker = item.get_closest_marker("timeout")
    if marker is not None and (marker.args or "timeout" in marker.kwargs):
        return float(marker.args[0] if marker.args else marker.kwargs["timeout"])
    if not item.config.pluginmanager.hasplugin("timeout"):
        return FALLBACK_TIMEOUT
    option = item.config.getoption("timeout", None)
    return float(option if option is not None else item.config.getini("timeout") or 0)


def _hard_stop(nodeid: str, seconds: float) -> None:
    out = _real_stderr[0]
    out.write(
        f"\n+++ {nodeid} still running after {seconds:g} s (pytest-timeout did not stop it): "
        "the stack of every thread, then this test process exits +++\n"
    )
    faulthandler.dump_traceback(file=out, all_threads=True)
    out.flush()
    os._exit(70)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    timeout = _timeout(item)
    if timeout <= 0 or not _real_stderr:  # --timeout=0: debugging, no stop
        yield
        return
    seconds = timeout + HARD_STOP_GRACE
    timer = threading.Timer(seconds, _hard_stop, (item.nodeid, seconds))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@pytest.fixture(scope="session")
def registry() -> ProtocolRegistry:
    return load_registry(workflows_dir())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[tuple[Engine, str]]:
    schema = f"escalation_test_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    engine = db.make_engine(_with_search_path(schema))
    db.upgrade(engine)
    yield engine, schema
    engine.dispose()
    with _waiting_for_locks(f"DROP SCHEMA {schema}"), admin.begin() as connection:
        connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@contextmanager
def _waiting_for_locks(statement: str) -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        if "lock timeout" not in str(exc.orig):
            raise
        pytest.fail(
            f"{statement} waited {LOCK_TIMEOUT} for a lock: a connection left open (by this "
            f"test or an earlier one) still holds it: {exc.orig}"
        )


def _with_search_path(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


def _empty_tables(engine: Engine) -> None:
    names = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with _waiting_for_locks("TRUNCATE of the test tables"), engine.begin() as connection:
        connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "escalation.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        sqlite_engine = db.make_engine(f"sqlite:///{path}")
        yield sqlite_engine
        sqlite_engine.dispose()
        return
    pg_engine, _ = request.getfixturevalue("postgres_schema")
    _empty_tables(pg_engine)
    yield pg_engine


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return db.session_factory(engine)


@pytest.fixture
def service(sessions: sessionmaker[Session], registry: ProtocolRegistry) -> Service:
    directory.import_csv(sessions, FIXTURES / "directory.csv", registry.partnerships())
    return Service(sessions, registry)


def raise_request(**overrides: Any) -> RaiseRequest:
    """A school DSL's challenge to a Front Door threshold decision; override any field."""
    fields: dict[str, Any] = {
        "partnership": "devon",
        "raising_org": SCHOOL,
        "raiser_name": SCHOOL_DSL,
        "raiser_email": "dsl@ashcombe.example.org",
        "responding_org": FRONT_DOOR,
        "child_ref": "CHILD-REF-001",
        "child_initials": "AB",
        "child_birth_year": 2015,
        "category": "threshold",
        "decision": "Referral judged below threshold",
        "decision_date": "2026-11-20",
        "concern": "Attendance falling; disclosures at school",
        "desired_outcome": "A social work assessment",
        "voice_of_child": "The child says they are frightened at home",
        "need_raiser_view": 4,
        "need_decision": 2,
    }
    fields.update(overrides)
    return RaiseRequest(**fields)
