"""The declarative base every table shares, and the column type that keeps instants in UTC.

Instants are stored in UTC on SQLite and PostgreSQL alike through `UTCDateTime` (SQLite would
otherwise store whatever offset it is given and hand back naive values). The tables are in
`models` (the record) and `models_service` (the service's own); importing `models` registers
both on `Base.metadata`. `dialect_insert` is the INSERT with ON CONFLICT of the database a session
is on, which both databases spell alike but SQLAlchemy builds per dialect.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from escalation.errors import EscalationError


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; naive values are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; instants must be aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Every table of the package, whichever module defines it, is on `Base.metadata`."""

    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy's own attribute)


def dialect_insert(
    session: Session,
) -> Callable[[Any], postgresql.Insert] | Callable[[Any], sqlite.Insert]:
    """`insert` of the session's database, whose statements have `on_conflict_do_nothing` and
    `on_conflict_do_update` (PostgreSQL's and SQLite's are the same SQL, built apart)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise EscalationError(f"database {name} is not supported: use PostgreSQL or SQLite")
