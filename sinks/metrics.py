"""Prometheus metrics of the ClickHouse sink (served on ``FORGOOD_SINK_METRICS_PORT``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SINK_RECORDS = Counter("forgood_sink_records_total", "Records consumed by the sink, by kind of row.", ["kind"])
SINK_BAD_RECORDS = Counter("forgood_sink_bad_records_total", "Records the sink could not decode (skipped).")
SINK_BATCH_ROWS = Histogram(
    "forgood_sink_batch_rows", "Rows per ClickHouse write.", buckets=(1, 10, 100, 1000, 5000, 20000, 100000)
)
SINK_WRITE_SECONDS = Histogram("forgood_sink_write_seconds", "Time to write one batch to ClickHouse.")
SINK_RETRIES = Counter("forgood_sink_retries_total", "Retried ClickHouse writes.")
SINK_FAILURES = Counter("forgood_sink_failures_total", "Failed ClickHouse writes (each is retried).")
SINK_LAST_WRITE = Gauge("forgood_sink_last_write_timestamp_seconds", "Wall-clock time of the last successful write.")
COUNTED_TO_VISIBLE = Histogram(
    "forgood_counted_to_visible_seconds",
    "Seconds from an aggregate row's publication by the worker to ClickHouse accepting it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
