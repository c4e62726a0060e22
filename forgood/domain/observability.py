"""What every forgood process shares for observability: the /metrics server and consumer lag.

Each process (worker, sink, producer) serves the default prometheus-client registry on its own
port with :func:`serve_metrics`; consumer lag has one metric name across processes, told apart
by the ``consumer`` label.
"""

from __future__ import annotations

import logging

from prometheus_client import Gauge, start_http_server

from forgood.domain.settings import Settings

log = logging.getLogger(__name__)

CONSUMER_LAG = Gauge(
    "forgood_consumer_lag_messages",
    "Messages on a partition not yet processed and committed, from the fetch highwater "
    "(ListOffsets can under-report on some brokers).",
    ["consumer", "topic", "partition"],
)


def serve_metrics(settings: Settings, port: int) -> None:
    """Serve ``/metrics`` on ``settings.metrics_host:port`` in a daemon thread (0 = off).

    Returns at once; raises OSError if the port is taken.
    """
    if port:
        start_http_server(port, addr=settings.metrics_host)
        log.info("serving /metrics on %s:%d", settings.metrics_host, port)
