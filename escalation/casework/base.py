"""The declarative base every table shares, and the column type that keeps instants in UTC.

Instants are stored in UTC on SQLite and PostgreSQL alike through `UTCDateTime` (SQLite would
otherwise store whatever offset it is given and hand back naive values). The tables are in
`models` (the record) and `models_service` (the service's own); importing `models` registers
both on `Base.metadata`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator


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
