"""Dead letters: read ``video-created.dlq`` for people, and re-send its events after a fix.

Each dead letter carries the original key and value bytes and headers naming the reason
(``forgood-reason``), a human message, and the source topic/partition/offset. Replaying sends
the original bytes back to the source topic: events the fix made valid are counted (and any
already counted are not counted twice); events still invalid return to the dead-letter topic.
Replay remembers how far it got (offsets of group ``<app_id>-dlq-replay``), so running it
again sends only dead letters that arrived since.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from forgood.domain.settings import Settings
from forgood.domain.topics import ensure_topics
from producers.client import make_producer
from producers.reading import records_to_end
from producers.sending import SendReport, finish


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    reason: str
    message: str
    source: str

    @property
    def preview(self) -> str:
        text = self.value[:120].decode("utf-8", errors="backslashreplace")
        return text + ("…" if len(self.value) > 120 else "")


def _letter(record) -> DeadLetter:
    headers = {k: v.decode("utf-8", errors="replace") for k, v in (record.headers or [])}
    source = "{}[{}]@{}".format(
        headers.get("forgood-source-topic", "?"),
        headers.get("forgood-source-partition", "?"),
        headers.get("forgood-source-offset", "?"),
    )
    return DeadLetter(record.partition, record.offset, record.key, record.value or b"",
                      headers.get("forgood-reason", "unknown"), headers.get("forgood-message", ""), source)


def read_dead_letters(settings: Settings, *, from_committed: bool = False, timeout_s: float = 30.0):
    """Return (consumer, letters): every dead letter up to the topic's current end; the
    caller closes the consumer (or commits through it first).

    With ``from_committed`` reading starts at the replay group's committed offsets.
    """
    ensure_topics(settings)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        group_id=f"{settings.app_id}-dlq-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    tps = [TopicPartition(settings.dlq_topic, p) for p in sorted(consumer.partitions_for_topic(settings.dlq_topic) or ())]
    consumer.assign(tps)
    if not from_committed:
        consumer.seek_to_beginning(*tps)
    letters: list[DeadLetter] = []
    try:
        for record in records_to_end(consumer, tps, timeout_s):
            letters.append(_letter(record))
    except TimeoutError:
        pass  # as before: what was read in time is shown or replayed; the rest waits for next time
    return consumer, letters


def show(settings: Settings, limit: int = 50) -> list[DeadLetter]:
    """The dead letters on the topic (all of them, oldest first per partition)."""
    consumer, letters = read_dead_letters(settings)
    consumer.close()
    return letters[-limit:] if limit else letters


def replay(settings: Settings, reason: str | None = None) -> SendReport:
    """Re-send dead letters not replayed before (optionally only one reason) to the source topic.

    Blocks until every re-sent event is acknowledged, then commits the replay position.
    """
    consumer, letters = read_dead_letters(settings, from_committed=True)
    producer = make_producer(settings, client_id="forgood-dlq-replay")
    report = SendReport()
    try:
        for letter in letters:
            if reason and letter.reason != reason:
                continue
            future = producer.send(settings.video_topic, key=letter.key, value=letter.value)
            future.add_callback(report._ok).add_errback(report._err)
            report.sent += 1
        finish(producer, report)
        consumer.commit()
    finally:
        consumer.close()
    return report
