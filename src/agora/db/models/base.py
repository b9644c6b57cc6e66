"""The base of every table: 64-bit ids (see agora.ids), UTC datetimes, `Base`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    Table,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agora.ids import new_id

ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite INTEGER is 64-bit


def _id_col(**kw: Any) -> Mapped[int]:
    return mapped_column(ID, primary_key=True, default=new_id, autoincrement=False, **kw)


def _fk(target: str, ondelete: str = "CASCADE", **kw: Any) -> Mapped[Any]:
    return mapped_column(ID, ForeignKey(target, ondelete=ondelete), **kw)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    if TYPE_CHECKING:
        __table__: ClassVar[Table]  # every model here is mapped to a table of its own
