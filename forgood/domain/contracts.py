"""What a record is on each wire: its Kafka key, its value codec and its ClickHouse columns.

A :class:`RecordContract` is attached to each record class of :mod:`forgood.domain.records`
as ``Record.contract``; every process that sends, stores or reads a record goes through it
instead of spelling the record's shape again:

* **Kafka key** — :meth:`RecordContract.key` (also ``row.key()``): the record's key fields
  as text, joined by :data:`KEY_SEP`, UTF-8. The key fields are also what the sink keeps one
  row per (the newest version) and the ClickHouse table's ``ORDER BY``.
* **value** — the record class's own ``to_bytes`` / ``from_bytes`` (compact JSON; the
  format of topics already written never changes).
* **ClickHouse columns** — :attr:`RecordContract.columns`, name and ClickHouse type in the
  table's column order, on ClickHouse 18.16 and current releases alike (so no
  LowCardinality, DateTime64, Map, Nullable...). Epoch-second fields are ``DateTime('UTC')``
  columns, inserted as the integers they are (clickhouse-driver writes an ``int`` to a
  ``DateTime`` column as is: 4.6× faster than converting ``datetime`` objects, measured on
  200,000 audit rows), and :meth:`RecordContract.latest_sql` reads them back as ``toUInt32``.

The migrations in ``sinks/schema.py`` stay literal SQL (a shipped migration never changes);
the unit tests check that they create exactly these columns and key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Generic, TypeVar, cast

#: Separator between key fields in a Kafka key (ASCII unit separator: never in an id).
KEY_SEP = "\x1f"

#: ClickHouse types a contract may use: those 18.16 and current releases read and write alike.
_PORTABLE_TYPE = re.compile(r"^(String|U?Int(8|16|32|64)|Float(32|64)|DateTime\('UTC'\))$")

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Column:
    """One ClickHouse column: the record field of the same name and its ClickHouse type."""

    name: str
    type: str

    def __post_init__(self) -> None:
        if not _PORTABLE_TYPE.fullmatch(self.type):
            raise ValueError(f"column {self.name}: {self.type!r} is not a type ClickHouse 18.16 and current "
                             "releases share (String, [U]Int8-64, Float32/64, DateTime('UTC'))")

    @property
    def epoch_seconds(self) -> bool:
        """An epoch-second ``int`` field stored as ``DateTime('UTC')``."""
        return self.type.startswith("DateTime")

    def from_clickhouse(self, value: Any) -> Any:
        """A value read by :meth:`RecordContract.latest_sql` as the field's Python value."""
        if self.type == "String":
            return value
        return float(value) if self.type.startswith("Float") else int(value)


@dataclass(frozen=True)
class RecordContract(Generic[R]):
    """Key, codec and (optionally) ClickHouse columns of one record class."""

    record: type[R]
    #: Fields that identify a row: the Kafka key, the sink's one-row-per key, the ORDER BY.
    key_fields: tuple[str, ...]
    #: ClickHouse columns in table order, one per record field; empty: not stored in ClickHouse.
    columns: tuple[Column, ...] = ()
    #: The field whose highest value wins (ReplacingMergeTree's version, argMax's order).
    version_field: str | None = None

    def __post_init__(self) -> None:
        names = [f.name for f in fields(cast(Any, self.record))]
        unknown = [f for f in (*self.key_fields, self.version_field or names[0]) if f not in names]
        if unknown or not self.key_fields:
            raise ValueError(f"{self.record.__name__}: key/version fields {unknown} are not fields of the record")
        if self.columns and [c.name for c in self.columns] != names:
            raise ValueError(f"{self.record.__name__}: columns {[c.name for c in self.columns]} "
                             f"are not its fields {names} in order")

    # --- Kafka -----------------------------------------------------------------------------

    def key(self, row: R) -> bytes:
        """The Kafka message key of ``row``: its key fields joined by :data:`KEY_SEP`."""
        return KEY_SEP.join(str(getattr(row, name)) for name in self.key_fields).encode()

    def to_bytes(self, row: R) -> bytes:
        return row.to_bytes()  # type: ignore[attr-defined]

    def from_bytes(self, raw: bytes) -> R:
        return self.record.from_bytes(raw)  # type: ignore[attr-defined]

    # --- ClickHouse ------------------------------------------------------------------------

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def insert_sql(self, table: str) -> str:
        """``INSERT INTO table (columns...) VALUES`` for clickhouse-driver."""
        return f"INSERT INTO {table} ({', '.join(self.column_names)}) VALUES"

    def to_columns(self, rows: Sequence[R]) -> list[list]:
        """``rows`` as clickhouse-driver's columnar data, in :attr:`columns` order."""
        return [[getattr(row, column.name) for row in rows] for column in self.columns]

    def latest_sql(self, table: str, where: str = "") -> str:
        """A SELECT of the newest version of every key in ``table``: key columns, ``argMax(…,
        version)`` of the others and ``max(version)``, in :attr:`columns` order, epoch-second
        columns as ``toUInt32`` — rows for :meth:`from_row`."""
        if self.version_field is None:
            raise ValueError(f"{self.record.__name__} has no version field")
        exprs = []
        for column in self.columns:
            if column.name == self.version_field:
                expr = f"max({column.name})"
            elif column.name in self.key_fields:
                expr = column.name
            else:
                expr = f"argMax({column.name}, {self.version_field})"
            exprs.append(f"toUInt32({expr})" if column.epoch_seconds else expr)
        return (f"SELECT {', '.join(exprs)} FROM {table}{f' WHERE {where}' if where else ''} "
                f"GROUP BY {', '.join(self.key_fields)}")

    def from_row(self, values: Sequence[Any]) -> R:
        """A record from a ClickHouse row in :attr:`columns` order (as :meth:`latest_sql` reads)."""
        if len(values) != len(self.columns):
            raise ValueError(f"{self.record.__name__}: {len(values)} values for {len(self.columns)} columns")
        return self.record(**{c.name: c.from_clickhouse(v) for c, v in zip(self.columns, values, strict=True)})


class Contracted:
    """Mixin of the record classes: ``row.key()`` through the class's :class:`RecordContract`."""

    __slots__ = ()
    contract: ClassVar[RecordContract]

    def key(self) -> bytes:
        """The Kafka message key of this record (see :meth:`RecordContract.key`)."""
        return self.contract.key(self)


__all__ = ["KEY_SEP", "Column", "Contracted", "RecordContract"]
