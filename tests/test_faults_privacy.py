"""Under database faults nothing about a child leaves the service, and every failure is one line.

PostgreSQL ends a connection under a waiting statement when it restarts or fails over; here, as
an operator would reproduce it, one session holds `LOCK TABLE challenges IN SHARE MODE` and the
raise waiting behind it is ended with `pg_terminate_backend`. A CHECK constraint added for the
test makes PostgreSQL answer with "DETAIL: Failing row contains (…)", the row's values among
it. Every child field carries a privacy marker; none may reach stderr, the server's log or a
response. The CLI and the web service are real processes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from escalation import failures
from escalation.casework import db
from tests.cli.test_cli import clean_env
from tests.cli.test_cli_web import FRONTEND
from tests.conftest import FIXTURES, FRONT_DOOR, POSTGRES_URL, PRIVACY_MARKERS, SCHOOL
from tests.smtp_sink import free_port

pytestmark = pytest.mark.postgres

MONDAY_10AM = "2026-12-07T10:00"
ONE_ERROR_LINE = re.compile(r"\Aerror: [^\n]+\n\Z")

RAISE_ARGS = [
    "raise",
    "--partnership", "devon",
    "--raising-org", SCHOOL,
    "--raiser-name", "Dana Lead",
    "--raiser-email", "dsl@ashcombe.example.org",
    "--responding-org", FRONT_DOOR,
    "--child-ref", PRIVACY_MARKERS["child_ref"],
    "--child-initials", PRIVACY_MARKERS["child_initials"],
    "--category", "threshold",
    "--decision", PRIVACY_MARKERS["decision"],
    "--decision-ref", PRIVACY_MARKERS["decision_ref"],
    "--concern", PRIVACY_MARKERS["concern"],
    "--evidence", PRIVACY_MARKERS["evidence"],
    "--desired-outcome", PRIVACY_MARKERS["desired_outcome"],
    "--voice-of-child", PRIVACY_MARKERS["voice_of_child"],
]  # fmt: skip

API_BODY = {
    "raiser_name": "Dana Lead",
    "raiser_email": "dsl@ashcombe.example.org",
    "responding_org": FRONT_DOOR,
    "child_ref": PRIVACY_MARKERS["child_ref"],
    "child_initials": PRIVACY_MARKERS["child_initials"],
    "category": "threshold",
    "decision": PRIVACY_MARKERS["decision"],
    "decision_ref": PRIVACY_MARKERS["decision_ref"],
    "concern": PRIVACY_MARKERS["concern"],
    "evidence": PRIVACY_MARKERS["evidence"],
    "desired_outcome": PRIVACY_MARKERS["desired_outcome"],
    "voice_of_child": PRIVACY_MARKERS["voice_of_child"],
}


def assert_no_marker(*texts: str) -> None:
    for seen in texts:
        for field, marker in PRIVACY_MARKERS.items():
            if len(marker) > 3:  # initials are too short to search for
                assert marker not in seen, f"{field} leaked: {seen[:2000]}"


@dataclass
class FaultDatabase:
    """A PostgreSQL schema of this module's own (it gets a constraint no other test wants)."""

    url: str  # SQLAlchemy's, with the schema on the search path
    schema: str
    tmp: Path

    def conninfo(self) -> str:
        return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)

    def connect(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(self.conninfo(), connect_timeout=10)
        connection.execute(f"SET search_path TO {self.schema}")
        connection.execute("SET lock_timeout = '60s'")  # fail, naming the lock, never hang
        return connection

    def cli(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "escalation", "--now", MONDAY_10AM, *args],
            cwd=self.tmp,
            env=clean_env(ESCALATION_DATABASE_URL=self.url, **kwargs),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        process = self.cli(*args)
        stdout, stderr = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def challenges(self) -> int:
        with self.connect() as connection:
            row = connection.execute("SELECT count(*) FROM challenges").fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(scope="module")
def fault_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultDatabase]:
    schema = f"escalation_faults_{uuid.uuid4().hex[:10]}"
    base = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        if not __import__("os").environ.get("CI"):
            pytest.skip(f"PostgreSQL not reachable: {type(exc).__name__}")
        raise
    admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    database = FaultDatabase(url, schema, tmp_path_factory.mktemp("faults"))
    imported = database.run("orgs", "import", str(FIXTURES / "web_directory.csv"))
    assert imported.returncode == 0, imported.stderr
    try:
        yield database
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


class Locked:
    """Holds SHARE MODE on challenges; ends the backend that waits behind it with a raise."""

    def __init__(self, database: FaultDatabase) -> None:
        self.connection = database.connect()
        # pg_stat_activity is a snapshot per transaction: watch it from outside the lock's.
        self.watcher = psycopg.connect(database.conninfo(), autocommit=True, connect_timeout=10)

    def __enter__(self) -> Locked:
        self.connection.execute("LOCK TABLE challenges IN SHARE MODE")
        return self

    def terminate_the_waiting_insert(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = self.watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'INSERT INTO challenges %'"
            ).fetchone()
            if row:
                self.watcher.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                return
            time.sleep(0.05)
        raise AssertionError("no INSERT INTO challenges waited on the lock within 60 s")

    def __exit__(self, *_: object) -> None:
        self.connection.rollback()
        self.connection.close()
        self.watcher.close()


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    token: str
    log: list[str]

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, str]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=90) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def up(self) -> bool:
        try:
            return self.post("/api/v1/challenges", {})[0] == 422  # signed in, validating
        except urllib.error.URLError:
            return False

    def log_since(self, mark: int) -> str:
        time.sleep(0.3)  # the log line is written just after the response
        return "".join(self.log[mark:])


@pytest.fixture(scope="module")
def server(fault_db: FaultDatabase) -> Iterator[Server]:
    created = fault_db.run(
        "api-tokens", "create", "--org", SCHOOL, "--label", "case system", "--by", "Ari Admin"
    )
    assert created.returncode == 0, created.stderr
    token = next(line for line in created.stdout.splitlines() if line.startswith("esc_"))
    port = free_port()
    process = fault_db.cli("serve", "--port", str(port), ESCALATION_FRONTEND_DIR=FRONTEND)
    log: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(
        target=lambda: log.extend(iter(process.stderr.readline, "")), daemon=True
    )
    reader.start()
    running = Server(process, port, token, log)
    deadline = time.monotonic() + 30
    while not running.up():
        assert process.poll() is None, f"escalation serve exited: {''.join(log)}"
        assert time.monotonic() < deadline, (
            f"escalation serve did not answer on 127.0.0.1:{port} within 30 s: {''.join(log)}"
        )
        time.sleep(0.2)
    yield running
    process.terminate()
    process.communicate(timeout=30)
    reader.join(timeout=10)


def test_it_names_no_child_detail_when_the_connection_is_killed_mid_raise(
    fault_db: FaultDatabase,
) -> None:
    with Locked(fault_db) as lock:
        process = fault_db.cli(*RAISE_ARGS)
        lock.terminate_the_waiting_insert()
        stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, (stdout, stderr)
    assert ONE_ERROR_LINE.match(stderr), stderr
    assert stderr.startswith(
        "error: the connection to the database at postgresql+psycopg://postgres@127.0.0.1"
    )
    assert "(the server ended the connection)" in stderr
    assert_no_marker(stdout, stderr)
    assert fault_db.challenges() == 0


def test_it_answers_the_api_without_details_when_the_connection_is_killed(
    fault_db: FaultDatabase, server: Server
) -> None:
    mark = len(server.log)
    answer: list[tuple[int, str]] = []
    with Locked(fault_db) as lock:
        poster = threading.Thread(
            target=lambda: answer.append(server.post("/api/v1/challenges", API_BODY)),
            daemon=True,
        )
        poster.start()
        lock.terminate_the_waiting_insert()
        poster.join(timeout=120)
        assert not poster.is_alive(), "POST /api/v1/challenges had no answer within 120 s"
    status, body = answer[0]
    assert status == 503, body
    assert json.loads(body) == {"detail": "service unavailable"}
    log = server.log_since(mark)
    assert "POST /api/v1/challenges failed: the connection to the database" in log
    assert "Traceback" not in log
    assert_no_marker(body, log)
    assert fault_db.challenges() == 0


@pytest.fixture
def refusing_markers(fault_db: FaultDatabase) -> Iterator[None]:
    """A CHECK constraint the raise breaks, so PostgreSQL's DETAIL quotes the whole row."""
    with fault_db.connect() as connection:
        connection.execute(
            "ALTER TABLE challenges ADD CONSTRAINT no_markers CHECK (child_ref NOT LIKE 'MARKER%')"
        )
    yield
    with fault_db.connect() as connection:
        connection.execute("ALTER TABLE challenges DROP CONSTRAINT no_markers")


def test_it_never_echoes_postgresql_details_of_a_refused_row(
    fault_db: FaultDatabase, server: Server, refusing_markers: None
) -> None:
    result = fault_db.run(*RAISE_ARGS)
    assert result.returncode == 1, result
    assert result.stderr == (
        "error: the database at postgresql+psycopg://postgres@127.0.0.1:5432/test?options="
        f"-csearch_path%3D{fault_db.schema} refused the change (constraint no_markers); "
        "nothing was recorded\n"
    )
    mark = len(server.log)
    status, body = server.post("/api/v1/challenges", API_BODY)
    assert status == 500 and json.loads(body) == {"detail": "internal error"}
    log = server.log_since(mark)
    assert "POST /api/v1/challenges failed: unexpected error (IntegrityError at escalation/" in log
    assert "Failing row" not in log and "Traceback" not in log
    assert_no_marker(result.stdout, result.stderr, body, log)
    assert fault_db.challenges() == 0


def test_it_says_a_connection_lost_at_commit_was_lost_not_unreachable(
    fault_db: FaultDatabase,
) -> None:
    """At COMMIT SQLAlchemy reports no statement, as for a failure to connect; but the write
    may have been committed, and the reader must be told to check."""
    engine = db.make_engine(fault_db.url)
    with (
        fault_db.connect() as killer,
        pytest.raises(OperationalError) as caught,
        engine.begin() as connection,
    ):
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.3)  # let the server end it before our COMMIT
    engine.dispose()
    failure = failures.describe(caught.value, make_url(fault_db.url))
    assert failure.status == 2 and failure.unavailable
    assert failure.message.startswith("the connection to the database at postgresql+psycopg:")
    assert "rolled back unless the database had already committed it" in failure.message
