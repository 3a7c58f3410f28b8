"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time zones, no JSONB and only auto-increments ``INTEGER`` keys, so
each type here picks the right form per dialect and the models never need to care.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Enum, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

# 64-bit keys on PostgreSQL; on SQLite only ``INTEGER PRIMARY KEY`` is the rowid alias
# that auto-increments (and it is 64-bit there anyway).
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class NaiveDatetimeError(ValueError):
    """A timestamp without a time zone reached the store; its meaning would be a guess."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every dialect.

    Naive values are refused rather than assumed to be UTC: the importers and the
    API convert local time explicitly, so a naive value here is a bug upstream.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetimeError(f"timestamp {value.isoformat()} has no time zone; pass an aware datetime")
        utc = value.astimezone(UTC)
        # SQLite stores text without an offset: write UTC wall time so ordering and comparisons hold.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def str_enum(enum_cls: type[StrEnum]) -> Enum:
    """A vocabulary column stored as VARCHAR(32) holding the enum's values.

    Not a native PostgreSQL ENUM and no CHECK constraint, so a later migration can add
    a value without rewriting a type; SQLAlchemy still refuses unknown values on write.
    """
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        validate_strings=True,
        values_callable=_enum_values,
    )


def _enum_values(enum_cls: Any) -> list[str]:
    return [member.value for member in enum_cls]
