"""A current ClickHouse in-process (chdb) behind the part of clickhouse-driver's ``Client``
that forgood's code calls, so the real ``migrate``, ``ClickHouseSink`` and ``load_clickhouse``
run on it unchanged.

:class:`ChdbClient` implements ``execute(query, params=None, with_column_types=False,
columnar=False)`` as clickhouse-driver does for what forgood sends:

* ``INSERT ... VALUES`` with data (rows, or columns when ``columnar=True`` — the sink's
  path): the data is rendered as a ``VALUES`` literal list, values converted as
  clickhouse-driver converts them (an aware ``datetime`` is its instant, a naive one is
  wall-clock time in the column's timezone);
* any other statement: its rows as tuples (or columns when ``columnar=True``), typed as
  clickhouse-driver returns them (``[U]Int*`` int, ``Float*`` float, ``Decimal*`` Decimal,
  ``String`` str, ``DateTime``/``Date`` naive datetime/date in the column's timezone),
  with ``[(name, type), ...]`` when ``with_column_types=True``;
* errors as ``clickhouse_driver.errors.ServerException`` with the server's error code,
  as the sink and the counter service expect.

``disconnect()`` does nothing (the sink and the counter service call it; the session stays
open); ``close()`` ends the session. chdb allows one session per process at a time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from clickhouse_driver.errors import ServerException

MISSING = ("chdb (an in-process current ClickHouse) is not installed in this environment: "
           "`make setup` installs it (pyproject.toml's test extra)")

_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+.*\bVALUES\s*$", re.I | re.S)
_CODE = re.compile(r"\s*Code:\s*(\d+)")
_WRAPPER = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")


def chdb_session(path: Path) -> Any:
    """A chdb session storing its data under ``path``; ImportError saying how to get chdb."""
    try:
        from chdb import session
    except ImportError as exc:
        raise ImportError(MISSING) from exc
    return session.Session(str(path))


def literal(value: Any) -> str:
    """``value`` as a ClickHouse literal for a VALUES list."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # an instant: its epoch seconds, whatever the column's timezone
            return str(int(value.timestamp()))
        return f"'{value:%Y-%m-%d %H:%M:%S}'"  # wall-clock time in the column's timezone
    if isinstance(value, date):
        return f"'{value:%Y-%m-%d}'"
    if isinstance(value, list | tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    raise TypeError(f"no ClickHouse literal for {type(value).__name__} {value!r}")


def _typed(value: Any, type_: str) -> Any:
    """A JSONCompact value of ClickHouse type ``type_`` as clickhouse-driver returns it."""
    while match := _WRAPPER.match(type_):
        type_ = match.group(1)
    if value is None:
        return None
    if re.fullmatch(r"U?Int\d+", type_):
        return int(value)
    if type_.startswith("Float"):
        return float(value)
    if type_.startswith("Decimal"):
        return Decimal(str(value))
    if re.fullmatch(r"DateTime(\(.*\))?", type_):
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    if type_ == "Date":
        return date.fromisoformat(value)
    return value


class ChdbClient:
    """clickhouse-driver's ``Client.execute`` on an in-process chdb session (see the module)."""

    def __init__(self, path: Path) -> None:
        self.session = chdb_session(path)
        #: Every statement sent, in order (what ran, for failure messages).
        self.sent: list[str] = []

    def version(self) -> str:
        return self.execute("SELECT version()")[0][0]

    def execute(self, query: str, params: Iterable | None = None, with_column_types: bool = False,
                columnar: bool = False, **unsupported: Any) -> Any:
        if unsupported:
            raise TypeError(f"ChdbClient.execute does not implement {sorted(unsupported)}")
        if params is not None:
            if not _INSERT.match(query):
                raise NotImplementedError("ChdbClient substitutes no query parameters; only INSERT ... VALUES data")
            return self._insert(query, params, columnar)
        result = self._run(query, "JSONCompact")
        if not result:
            rows, meta = [], []  # DDL, INSERT ... VALUES (...), SYSTEM ...: no result set
        else:
            decoded = json.loads(result, parse_float=Decimal)
            meta = [(m["name"], m["type"]) for m in decoded["meta"]]
            rows = [tuple(_typed(v, t) for v, (_, t) in zip(row, meta, strict=True)) for row in decoded["data"]]
        data: Any = [list(column) for column in zip(*rows, strict=True)] if columnar else rows
        return (data, meta) if with_column_types else data

    def _insert(self, query: str, params: Iterable, columnar: bool) -> int:
        rows: Sequence = list(zip(*params, strict=True)) if columnar else list(params)
        if not rows:
            return 0
        values = ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)
        self._run(f"{query.rstrip()} {values}", "JSONCompact")
        return len(rows)

    def _run(self, sql: str, fmt: str) -> bytes:
        self.sent.append(sql)
        try:
            return self.session.query(sql, fmt).bytes()
        except RuntimeError as exc:  # chdb's ChdbError: "Code: 60. DB::Exception: ..."
            code = _CODE.match(str(exc))
            message = str(exc)[code.end():].lstrip(". ") if code else str(exc)
            raise ServerException(message, code=int(code.group(1)) if code else None) from exc

    def disconnect(self) -> None:
        """As clickhouse-driver's: the next ``execute`` works again (the session stays open)."""

    def close(self) -> None:
        self.session.close()
