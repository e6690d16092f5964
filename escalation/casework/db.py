"""Engines, sessions and schema migrations (Alembic) for SQLite and PostgreSQL.

SQLite: the pysqlite driver's own transaction handling is switched off and every transaction
starts with BEGIN IMMEDIATE, so one writer holds the lock from its first statement; otherwise a
read that later upgrades to a write can fail with "database is locked" under concurrency, and
SQLite ignores FOR UPDATE entirely. PostgreSQL: the sweep claims rows with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from escalation.errors import EscalationError

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaNotReady(EscalationError):
    """The database has not been created or upgraded to this version's schema."""


def make_engine(url: URL | str) -> Engine:
    # hide_parameters: a failing statement's message would otherwise carry its values (a
    # child's reference, the text of a concern) into every traceback and log that shows it.
    engine = create_engine(url, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision`."""
    command.upgrade(_alembic_config(engine), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current_schema(engine: Engine) -> None:
    """Fail with a clear message unless the schema is at this version's head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        state = "has no schema yet" if current is None else f"is at revision {current}"
        raise SchemaNotReady(
            f"the database {where} {state}, this version needs {head}: "
            "run `escalation db upgrade` first"
        )
