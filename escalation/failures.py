"""What a person, a log and an HTTP client are told when something fails: never a child's details.

A database error's own text is never shown. PostgreSQL puts row values in its DETAIL lines
("Failing row contains (…)", "Key (child_ref)=(…) already exists"), even a first line can quote
a value ("invalid input syntax for type integer: …"), and SQLAlchemy's message carries the
statement's parameters unless the engine hides them. So a failure is described only by its
class, where in this package it was raised (path:line, no values), the database's location with
the password hidden and, for a connection problem, a short cause picked from a fixed list.

The CLI's top-level handler, the web service's and the worker's all describe failures here.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from escalation.errors import EscalationError, ProtocolError

# Exit statuses, as `escalation health` has always used them.
EXIT_PROBLEM = 1
EXIT_NO_DATABASE = 2

# (a fragment of the driver's message, lower-cased) -> what the reader is told. Checked in order.
_CONNECTION_CAUSES = (
    ("connection refused", "connection refused"),
    ("could not translate host name", "host name not found"),
    ("name or service not known", "host name not found"),
    ("temporary failure in name resolution", "host name not found"),
    ("timeout expired", "timed out"),
    ("timed out", "timed out"),
    ("password authentication failed", "authentication failed"),
    ("authentication failed", "authentication failed"),
    ("no password supplied", "authentication failed: no password given"),
    ("no pg_hba.conf entry", "this host is not allowed to connect"),
    ("does not exist", "no such database or user"),
    ("terminating connection", "the server ended the connection"),
    ("server closed the connection", "the server closed the connection"),
    ("consuming input failed", "the server closed the connection"),
    ("ssl syscall", "the server closed the connection"),
    ("closed unexpectedly", "the server closed the connection"),
    ("connection reset", "the connection was reset"),
    ("connection already closed", "the connection was closed"),
    ("the database system is starting up", "the server is starting up"),
    ("the database system is shutting down", "the server is shutting down"),
    ("too many clients", "the server has too many connections"),
    ("certificate", "TLS negotiation failed"),
    ("ssl negotiation", "TLS negotiation failed"),
    ("server does not support ssl", "TLS negotiation failed"),
    ("unable to open database file", "the file cannot be opened"),
)


@dataclass(frozen=True)
class Failure:
    """One failure, described safely: `lines` for the person, `status` for the exit code."""

    lines: tuple[str, ...]
    status: int = EXIT_PROBLEM
    unavailable: bool = False  # the database cannot be reached: a web request gets a 503

    @property
    def message(self) -> str:
        return "; ".join(self.lines)


def describe(exc: BaseException, database: URL | None = None) -> Failure:
    """A description of `exc` that names no value it carried, unless it is one of ours."""
    if isinstance(exc, ProtocolError):
        return Failure(tuple(exc.problems))
    if isinstance(exc, EscalationError):  # our own messages are written to be shown
        return Failure((str(exc),))
    if isinstance(exc, SQLAlchemyError):
        return _database_failure(exc, database)
    return Failure((f"unexpected {type(exc).__name__} at {where(exc) or 'an unknown place'}",))


def where(exc: BaseException) -> str | None:
    """The innermost frame of this package in the traceback, as path:line (no values)."""
    ours = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if f"{os.sep}escalation{os.sep}" in frame.filename
    ]
    if not ours:
        return None
    path = ours[-1].filename
    return f"{path[path.rindex(f'{os.sep}escalation{os.sep}') + 1 :]}:{ours[-1].lineno}"


def location(database: URL | None) -> str:
    if database is None:
        return "the database"
    return f"the database at {database.render_as_string(hide_password=True)}"


def _database_failure(exc: SQLAlchemyError, database: URL | None) -> Failure:
    at = location(database)
    if isinstance(exc, PoolTimeout):  # every connection of the pool busy: come back later
        return Failure((f"{at} has no free connection (the pool is exhausted)",), unavailable=True)
    if not isinstance(exc, DBAPIError):
        return Failure((f"{at} gave an unexpected {type(exc).__name__}",))
    # A connection that dies under a statement or at COMMIT (a restart, a failover,
    # pg_terminate_backend) comes back invalidated; only a failure to connect has no statement
    # and a connection never made. At COMMIT the write may have been committed.
    if exc.connection_invalidated:
        cause = connection_cause(exc) or "connection failed"
        return Failure(
            (
                f"the connection to {at} was lost ({cause}); what was being written was rolled "
                "back unless the database had already committed it, so check before doing it "
                "again",
            ),
            EXIT_NO_DATABASE,
            unavailable=True,
        )
    if exc.statement is None:
        cause = connection_cause(exc) or "connection failed"
        sqlite = database is not None and database.get_backend_name() == "sqlite"
        verb = "cannot be opened" if sqlite else "cannot be reached"
        return Failure(
            (f"{at} {verb} ({cause}){_sqlite_hint(database)}",),
            EXIT_NO_DATABASE,
            unavailable=True,
        )
    if "database is locked" in str(exc.orig):
        return Failure((f"{at} stayed locked by another process; nothing was recorded",))
    if isinstance(exc, IntegrityError):
        constraint = _constraint(exc)
        named = f" (constraint {constraint})" if constraint else ""
        return Failure((f"{at} refused the change{named}; nothing was recorded",))
    return Failure(
        (f"{at} could not complete the command ({type(exc.orig).__name__}); nothing was recorded",)
    )


def connection_cause(exc: DBAPIError) -> str | None:
    """A short, fixed phrase for a connection problem, or None if it is not one we know."""
    text = str(exc.orig).lower()
    for fragment, cause in _CONNECTION_CAUSES:
        if fragment in text:
            return cause
    return None


def _sqlite_hint(database: URL | None) -> str:
    if database is None or database.get_backend_name() != "sqlite" or not database.database:
        return ""
    folder = Path(database.database).expanduser().absolute().parent
    if not folder.is_dir():
        return f": the folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f": the folder {folder} cannot be written to"
    return ""


def _constraint(exc: IntegrityError) -> str | None:
    """The constraint's name (psycopg's diagnostics, or SQLite's own wording): no values."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if isinstance(name, str):
        return name
    text = str(exc.orig)
    for kind in ("UNIQUE", "CHECK", "NOT NULL", "FOREIGN KEY"):
        prefix = f"{kind} constraint failed"
        if text.startswith(prefix) and all(c.isalnum() or c in " _.,:" for c in text):
            return text[len(prefix) :].lstrip(": ") or kind.lower()
    return None
