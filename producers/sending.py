"""Sending raw event bytes with delivery accounting and a progress line."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import orjson
from kafka import KafkaProducer

from forgood.domain.errors import ProducerError


@dataclass
class SendReport:
    """What a producer run did: records handed to Kafka (in all and per topic), acknowledged,
    failed."""

    sent: int = 0
    acked: int = 0
    failed: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    by_topic: Counter[str] = field(default_factory=Counter)

    def on_ack(self, _metadata: object) -> None:
        """A record's future succeeded (called on the producer's I/O thread)."""
        self.acked += 1

    def on_error(self, exc: BaseException) -> None:
        """A record's future failed (called on the producer's I/O thread); keeps the first 5."""
        self.failed += 1
        if len(self.errors) < 5:
            self.errors.append(repr(exc))

    def per_topic(self) -> str:
        """``"3 to video-created, 1 to video-status"`` (topics in the order first sent); ``"none"``."""
        return ", ".join(f"{n:,} to {topic}" for topic, n in self.by_topic.items()) or "none"


def key_of(raw: bytes) -> bytes | None:
    """The Kafka key of an event: its ``video_id`` if readable, else None (still sent)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    video_id = value.get("video_id") if isinstance(value, dict) else None
    return video_id.encode() if isinstance(video_id, str) else None


def send_raw(producer: KafkaProducer, topic: str, raw: bytes, report: SendReport) -> None:
    """Hand one event to the producer, keyed by :func:`key_of` (see :func:`send_record`)."""
    send_record(producer, topic, key_of(raw), raw, report)


def send_record(producer: KafkaProducer, topic: str, key: bytes | None, value: bytes, report: SendReport) -> None:
    """Hand one record to the producer (never blocks for long; the producer batches); its
    acknowledgement or failure is counted in ``report`` when it arrives."""
    future = producer.send(topic, key=key, value=value)
    future.add_callback(report.on_ack).add_errback(report.on_error)
    report.sent += 1
    report.by_topic[topic] += 1


def finish(producer: KafkaProducer, report: SendReport) -> SendReport:
    """Flush and close; raise :class:`ProducerError` if any record was not acknowledged."""
    producer.flush(timeout=60)
    producer.close(timeout=10)
    if report.failed or report.acked != report.sent:
        raise ProducerError(
            f"{report.sent - report.acked} of {report.sent} events were not acknowledged: "
            + "; ".join(report.errors)
        )
    return report
