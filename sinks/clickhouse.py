"""The ClickHouse sink: ``add`` rows, ``write`` a batch, ``flush`` = write until empty.

The runner calls :meth:`ClickHouseSink.add` for every aggregate record it consumes and
:meth:`ClickHouseSink.flush` when the batch is full or old enough, and commits Kafka offsets
only after ``flush`` returned: ClickHouse has then accepted every row. ``flush`` retries a
failing INSERT with exponential backoff (logging each retry) for as long as ClickHouse is
unreachable, so an outage delays rows but never drops them. Within one batch only the
highest version per key is kept; across batches the ReplacingMergeTree/argMax views make
repeated or out-of-order rows harmless. One INSERT path serves every table of
:data:`sinks.schema.TABLES`: columns, conversions and the per-key rule come from each
record's contract (:mod:`forgood.domain.contracts`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError
from tenacity import Retrying, before_sleep_log, retry_if_exception_type, wait_exponential

from forgood.domain.errors import SinkUnavailable
from forgood.domain.records import CampaignChange, CampaignMinute, CampaignTotal, CampaignVideoRow
from forgood.domain.settings import Settings
from sinks import metrics
from sinks.schema import TABLES, Table, migrate, require_columns

log = logging.getLogger(__name__)
T = TypeVar("T")
#: A row of one of :data:`sinks.schema.TABLES`.
Row = CampaignTotal | CampaignMinute | CampaignVideoRow | CampaignChange


def connect(settings: Settings) -> Client:
    """A clickhouse-driver client for the configured server (connects lazily)."""
    target = settings.clickhouse
    return Client(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password,
        secure=target.secure,
        connect_timeout=5,
        send_receive_timeout=30,
        settings={"insert_block_size": 100_000},
    )


class ClickHouseSink:
    """Buffers aggregate rows and writes them to ClickHouse in columnar INSERTs."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.settings = settings
        self.database = settings.clickhouse.database
        self.client = client or connect(settings)
        #: Per table, in write order: the newest buffered row per key (``row.key()``).
        self._buffers: dict[Table, dict[bytes, Row]] = {t: {} for t in TABLES}
        self._table_of = {t.contract.record: t for t in TABLES}
        #: When the worker published each buffered row (epoch s), for the freshness histogram.
        self._published_at: dict[Table, dict[bytes, float]] = {t: {} for t in TABLES}
        self._first_added: float | None = None

    def start(self) -> None:
        """Create or migrate the schema, retrying while ClickHouse is unreachable, then check
        that the live columns are the contracts' (:class:`~forgood.domain.errors.SinkError`,
        not retried, naming each difference, when they are not)."""
        self._retrying(lambda: migrate(self.client, self.database), "migrate schema")
        self._retrying(lambda: require_columns(self.client, self.database), "check the schema")

    def add(self, record: Row, published_at: float | None = None) -> None:
        """Buffer one row, keeping only the newest version per key (the last added on a tie;
        immutable rows, which have no version: the last added). Never blocks.

        ``published_at`` (epoch s) is when the worker published the row — its Kafka record's
        timestamp — and feeds ``forgood_counted_to_visible_seconds`` once the row is written.
        """
        if self._first_added is None:
            self._first_added = time.monotonic()
        table = self._table_of[type(record)]
        buffer = self._buffers[table]
        key = record.key()
        old = buffer.get(key)
        version = table.contract.version_field
        if old is None or version is None or getattr(record, version) >= getattr(old, version):
            buffer[key] = record
            if published_at is not None and table.freshness:
                self._published_at[table][key] = published_at

    @property
    def buffered(self) -> int:
        return sum(len(buffer) for buffer in self._buffers.values())

    def due(self) -> bool:
        """True when the buffer is full or its oldest row has waited ``sink_flush_s``."""
        if not self.buffered:
            return False
        if self.buffered >= self.settings.sink_batch_rows:
            return True
        return time.monotonic() - (self._first_added or 0) >= self.settings.sink_flush_s

    def write(self) -> int:
        """INSERT the buffered rows once; raise :class:`SinkUnavailable` on failure.

        On failure the buffer is kept intact, so calling ``write`` again writes the same rows.
        """
        rows = self.buffered
        if not rows:
            return 0
        started = time.perf_counter()
        try:
            for table, buffer in self._buffers.items():
                if not buffer:
                    continue
                self.client.execute(
                    table.insert_sql(self.database),
                    table.contract.to_columns(list(buffer.values())),
                    columnar=True,
                )
                buffer.clear()  # written: a failure of a later table retries only that one
                self._observe_visible(self._published_at[table])
        except (ClickHouseError, OSError, EOFError) as exc:
            self.client.disconnect()
            metrics.SINK_FAILURES.inc()
            raise SinkUnavailable(f"ClickHouse refused a batch of {rows} rows: {exc}") from exc
        metrics.SINK_BATCH_ROWS.observe(rows)
        metrics.SINK_WRITE_SECONDS.observe(time.perf_counter() - started)
        metrics.SINK_LAST_WRITE.set_to_current_time()
        self._first_added = None
        return rows

    @staticmethod
    def _observe_visible(published_at: dict[bytes, float]) -> None:
        """Observe, for rows just written, the seconds since the worker published them."""
        now = time.time()
        for at in published_at.values():
            metrics.COUNTED_TO_VISIBLE.observe(max(0.0, now - at))
        published_at.clear()

    def flush(self) -> int:
        """Write everything buffered, retrying with backoff until ClickHouse accepts it.

        Blocks for as long as ClickHouse is down (each retry is logged); returns the rows
        written. Only after it returns may the caller commit the offsets of those rows.
        """
        return self._retrying(self.write, "write batch")

    def _retrying(self, call: Callable[[], T], what: str) -> T:
        for attempt in Retrying(
            retry=retry_if_exception_type((SinkUnavailable, ClickHouseError, OSError, EOFError)),
            wait=wait_exponential(multiplier=0.2, max=10),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        ):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    metrics.SINK_RETRIES.inc()
                return call()
        raise AssertionError("unreachable")
