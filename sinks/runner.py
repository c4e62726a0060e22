"""The sink process (``forgood sink``; ``forgood run`` starts it): Kafka -> ClickHouse.

A kafka-python consumer reads every partition of the totals and minutes topics, assigned
manually (no group membership: aggregate volume is small, one sink per deployment suffices,
and it avoids group-join pauses and the local broker's stuck-rebalance edge), and stores its
offsets under group ``<app_id>-sink`` with auto-commit off. Records are added to :class:`~sinks.clickhouse.ClickHouseSink`; when the
batch is due it is flushed (retrying through ClickHouse outages) and only then are the
consumed offsets committed. A crash before the commit re-delivers rows that ClickHouse may
already hold, which the versioned tables absorb. Blocks until SIGINT/SIGTERM, then flushes,
commits and closes.
"""

from __future__ import annotations

import logging
import threading

from kafka import KafkaConsumer, TopicPartition

from forgood.observability import CONSUMER_LAG, serve_metrics
from forgood.records import CampaignMinute, CampaignTotal
from forgood.signals import stop_on_signals
from forgood.settings import Settings
from forgood.topics import ensure_topics
from sinks import metrics
from sinks.clickhouse import ClickHouseSink

log = logging.getLogger(__name__)


def make_consumer(settings: Settings) -> KafkaConsumer:
    """A consumer assigned every partition of the aggregate topics, resuming at committed offsets."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        group_id=f"{settings.app_id}-sink",
        client_id=f"{settings.app_id}-sink",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.sink_batch_rows,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    consumer.assign(
        [
            TopicPartition(topic, partition)
            for topic in (settings.totals_topic, settings.minutes_topic)
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
    )
    return consumer


def decode(settings: Settings, topic: str, value: bytes) -> CampaignTotal | CampaignMinute | None:
    """Decode an aggregate record; None (and a metric, and a log line) if it is corrupt."""
    try:
        if topic == settings.totals_topic:
            metrics.SINK_RECORDS.labels("total").inc()
            return CampaignTotal.from_bytes(value)
        metrics.SINK_RECORDS.labels("minute").inc()
        return CampaignMinute.from_bytes(value)
    except (ValueError, TypeError) as exc:
        metrics.SINK_BAD_RECORDS.inc()
        log.error("skipping corrupt aggregate record on %s: %s", topic, exc)
        return None


def run_sink(settings: Settings, stop: threading.Event | None = None) -> None:
    """Consume aggregates and write them to ClickHouse until ``stop`` is set or a signal."""
    stop = stop or stop_on_signals()
    ensure_topics(settings)
    serve_metrics(settings, settings.sink_metrics_port)
    sink = ClickHouseSink(settings)
    sink.start()
    consumer = make_consumer(settings)
    log.info("sink writing %s and %s to %s", settings.totals_topic, settings.minutes_topic, settings.clickhouse.database)
    try:
        pending = False
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=200, max_records=settings.sink_batch_rows)
            for tp, records in polled.items():
                for record in records:
                    row = decode(settings, tp.topic, record.value)
                    if row is not None:
                        sink.add(row)
                    pending = True
            if pending and (sink.due() or not sink.buffered):
                sink.flush()
                consumer.commit()
                pending = False
                _report_lag(consumer)
        sink.flush()
        if pending:
            consumer.commit()
    finally:
        consumer.close(autocommit=False)
        log.info("sink stopped")


def _report_lag(consumer: KafkaConsumer) -> None:
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is not None:
            lag = max(0, highwater - consumer.position(tp))
            CONSUMER_LAG.labels("sink", tp.topic, str(tp.partition)).set(lag)
