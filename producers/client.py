"""The kafka-python producer every forgood publisher uses.

``acks=all`` and bounded retries: :meth:`kafka.KafkaProducer.send` returns at once
(it buffers); :meth:`~kafka.KafkaProducer.flush` blocks until every buffered record is
acknowledged or has failed. A record that fails is reported by its future and counted.
"""

from __future__ import annotations

from kafka import KafkaProducer

from forgood.domain.settings import Settings


def make_producer(settings: Settings, *, client_id: str = "forgood-producer") -> KafkaProducer:
    """A batching producer (20 ms linger, 256 KiB batches); blocks until the broker answers."""
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        client_id=client_id,
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
        retries=5,
        request_timeout_ms=30_000,
        reconnect_backoff_max_ms=1000,  # the 30 s default outlasts a broker restart
    )
