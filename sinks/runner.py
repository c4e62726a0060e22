"""The sink process (``forgood sink``; ``forgood run`` starts it): Kafka -> ClickHouse.

A kafka-python consumer reads every partition of the topics of :data:`sinks.schema.TABLES`
(per-video audit rows, totals, minutes, campaign changes), assigned
manually, and stores its offsets under group ``<app_id>-sink`` with auto-commit off (no group
membership: one sink per deployment; aggregate volume is small). Group membership was tried
with Apache Kafka and dropped: kafka-python 3.0.12's ``poll()`` hung for good after a
rebalance in 2 of ~30 loaded test runs (``Fetcher.fetch_records`` waiting without a timeout
on its network thread). Records are added to :class:`~sinks.clickhouse.ClickHouseSink`; when
the batch is due it is flushed (retrying through ClickHouse outages) and only then are the
consumed offsets committed; a commit that fails while the broker is unreachable is retried.
A crash before the commit re-delivers rows that ClickHouse may already hold, which the
versioned tables absorb. Blocks until SIGINT/SIGTERM, then flushes, commits and closes.
"""

from __future__ import annotations

import logging
import threading

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from forgood.domain import kafka as kafka_clients
from forgood.domain.errors import SinkError
from forgood.domain.observability import CONSUMER_LAG, serve_metrics
from forgood.domain.settings import Settings
from forgood.domain.signals import stop_on_signals
from forgood.domain.topics import ensure_topics
from sinks import metrics
from sinks.clickhouse import ClickHouseSink, Row
from sinks.schema import TABLES

log = logging.getLogger(__name__)


def make_consumer(settings: Settings) -> KafkaConsumer:
    """A consumer assigned every partition of the aggregate topics, resuming at committed offsets."""
    consumer = kafka_clients.make_consumer(
        settings,
        group_id=f"{settings.app_id}-sink",
        client_id=f"{settings.app_id}-sink",
        auto_offset_reset="earliest",
        max_poll_records=settings.sink_batch_rows,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    consumer.assign(
        [
            TopicPartition(topic, partition)
            for topic in dict.fromkeys(table.topic(settings) for table in TABLES)
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
    )
    return consumer


def decode(settings: Settings, topic: str, value: bytes) -> list[Row]:
    """The rows of one record of ``topic``; none (and a metric, and a log line) if it is corrupt."""
    table = next((t for t in TABLES if t.topic(settings) == topic), TABLES[-1])
    metrics.SINK_RECORDS.labels(table.label).inc()
    try:
        return table.decode(value)
    except (ValueError, TypeError) as exc:
        metrics.SINK_BAD_RECORDS.inc()
        log.error("skipping corrupt record on %s: %s", topic, exc)
        return []


def run_sink(settings: Settings, stop: threading.Event | None = None) -> None:
    """Consume aggregates and write them to ClickHouse until ``stop`` is set or a signal."""
    stop = stop or stop_on_signals()
    ensure_topics(settings)
    serve_metrics(settings, settings.sink_metrics_port)
    sink = ClickHouseSink(settings)
    try:
        sink.start()
    except SinkError as exc:  # a schema this sink cannot write: say so and exit, no traceback
        log.critical("%s", exc)
        raise SystemExit(f"forgood sink: {exc}") from None
    consumer = make_consumer(settings)
    log.info("sink writing %s to %s", ", ".join(t.topic(settings) for t in TABLES), settings.clickhouse.database)
    try:
        uncommitted = False
        while not stop.is_set():
            try:
                polled = consumer.poll(timeout_ms=200, max_records=settings.sink_batch_rows)
            except KafkaError as exc:  # kafka-python 3.0.12 can raise here while the broker is down
                if not exc.retriable:
                    raise
                log.warning("sink poll failed, retrying: %r", exc)
                stop.wait(0.5)
                continue
            for tp, records in polled.items():
                for record in records:
                    # the record's timestamp: when the worker published it
                    published = record.timestamp / 1000 if record.timestamp and record.timestamp > 0 else None
                    for row in decode(settings, tp.topic, record.value):
                        sink.add(row, published)
                    uncommitted = True
            if uncommitted and (sink.due() or not sink.buffered):
                sink.flush()
                uncommitted = not _commit(consumer)
                _report_lag(consumer)
        sink.flush()
        if uncommitted:
            _commit(consumer)
    finally:
        consumer.close(autocommit=False)
        log.info("sink stopped")


def _commit(consumer: KafkaConsumer) -> bool:
    """Commit consumed offsets; False if it must be tried again (the broker is unreachable).

    Never raises for Kafka errors: the rows are already in ClickHouse. A commit that failed
    (the broker is down: connection refused, timeout) is retried after the next poll; a crash
    meanwhile re-reads from the last commit, which the versioned tables absorb.
    """
    try:
        consumer.commit()
    except KafkaError as exc:
        log.warning("sink commit failed, will retry (rows are written): %r", exc)
        return False
    return True


def _report_lag(consumer: KafkaConsumer) -> None:
    """Set the lag gauges; while the broker is unreachable they keep their last values."""
    try:
        for tp in consumer.assignment():
            highwater, position = consumer.highwater(tp), consumer.position(tp)
            if highwater is not None and position is not None:
                lag = max(0, highwater - position)
                CONSUMER_LAG.labels("sink", tp.topic, str(tp.partition)).set(lag)
    except KafkaError as exc:  # position() asks the broker when it must validate an offset
        log.debug("sink lag not reported: %r", exc)
