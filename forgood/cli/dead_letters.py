"""Dead letters: read the dead-letter topics of the three source topics (``video-created.dlq``,
``video-status.dlq``, ``video-stats.dlq``) for people (``forgood dlq show``), and re-send
their events after a fix (``forgood dlq replay``).

Each dead letter carries the original key and value bytes and headers naming the reason
(``forgood-reason``), a human message, the source topic/partition/offset and when it failed.
Replaying sends the original bytes back to the letter's own source topic
(:func:`producers.replay.replay_records`): the topic its ``forgood-source-topic`` header names
when that is one of the three source topics, else the source the dead-letter topic belongs to.
Events the fix made valid are counted (and any already counted are not counted twice); events
still invalid return to their dead-letter topic. Replay remembers how far it got on each
dead-letter topic (offsets of group ``<app_id>-dlq-replay``), so running it again sends only
dead letters that arrived since.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from forgood.domain.kafka import ReadTimeout, make_consumer, read_to_end
from forgood.domain.settings import Settings
from forgood.domain.topics import ensure_topics
from producers.replay import replay_records, source_topic
from producers.sending import SendReport


@dataclass(frozen=True)
class DeadLetter:
    topic: str  # the dead-letter topic it was read from
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    reason: str
    message: str
    source_topic: str  # where replay sends it
    position: str  # "[<partition>]@<offset>" in the source topic, as the headers say ("?" where missing)
    failed_at: str

    @property
    def source(self) -> str:
        """``<source topic>[<partition>]@<offset>``: where the event was read when it failed."""
        return self.source_topic + self.position

    @property
    def preview(self) -> str:
        text = self.value[:120].decode("utf-8", errors="backslashreplace")
        return text + ("…" if len(self.value) > 120 else "")


def dead_letter_topics(settings: Settings, only: str | None = None) -> dict[str, str]:
    """Dead-letter topic -> its source topic, for every source topic (or only the source topic
    ``only`` names, by role or name: :func:`producers.replay.source_topic`)."""
    sources = [source_topic(settings, only)] if only else list(settings.source_topics)
    return {settings.dlq_topic_for(source): source for source in sources}


def to_letter(record: ConsumerRecord, settings: Settings, own_source: str) -> DeadLetter:
    """The dead letter in ``record``, read from the dead-letter topic of ``own_source``. Pure."""
    headers = {k: v.decode("utf-8", errors="replace") for k, v in (record.headers or [])}
    named = headers.get("forgood-source-topic", "")
    position = "[{}]@{}".format(headers.get("forgood-source-partition", "?"), headers.get("forgood-source-offset", "?"))
    return DeadLetter(
        topic=record.topic, partition=record.partition, offset=record.offset,
        timestamp_ms=record.timestamp,
        key=record.key, value=record.value or b"",
        reason=headers.get("forgood-reason", "unknown"), message=headers.get("forgood-message", ""),
        source_topic=named if named in settings.source_topics else own_source,
        position=position, failed_at=headers.get("forgood-failed-at", ""),
    )


def read_dead_letters(settings: Settings, *, from_committed: bool = False, topic: str | None = None,
                      timeout_s: float = 30.0) -> tuple[KafkaConsumer, list[DeadLetter]]:
    """Return (consumer, letters): the dead letters of every dead-letter topic (or only the one
    of source ``topic``, by role or name) up to each topic's end as of the call, oldest first
    per partition; the caller closes the consumer (or commits through it first: it commits
    exactly the letters returned, on the topics read).

    Creates the topics if needed. With ``from_committed`` reading starts at the replay group's
    committed offsets. Blocks up to ``timeout_s`` (plus connecting); letters not read by then
    are left out (shown or replayed next time), without an error. Raises ``ConfigError`` for
    an unknown ``topic``.
    """
    topics = dead_letter_topics(settings, topic)
    ensure_topics(settings)
    consumer = make_consumer(settings, client_id="forgood-dlq", group_id=f"{settings.app_id}-dlq-replay",
                             auto_offset_reset="earliest")
    try:
        partitions = [TopicPartition(name, p) for name in topics
                      for p in sorted(consumer.partitions_for_topic(name) or ())]
        try:
            records = read_to_end(consumer, partitions, timeout_s=timeout_s, from_committed=from_committed)
        except ReadTimeout as exc:
            records = exc.records  # as before: what was read in time is shown or replayed; the rest waits
    except BaseException:
        consumer.close()
        raise
    return consumer, [to_letter(record, settings, topics[record.topic]) for record in records]


def show(settings: Settings, limit: int = 50, topic: str | None = None) -> list[DeadLetter]:
    """The dead letters on the dead-letter topics (or the one of source ``topic``), oldest
    first by the time they were dead-lettered; the last ``limit`` of that list unless 0.
    Blocks like :func:`read_dead_letters`."""
    consumer, letters = read_dead_letters(settings, topic=topic)
    consumer.close()
    letters.sort(key=lambda d: (d.timestamp_ms, d.topic, d.partition, d.offset))
    return letters[-limit:] if limit else letters


def replay(settings: Settings, reason: str | None = None, topic: str | None = None) -> SendReport:
    """Re-send dead letters not replayed before (optionally only one reason, only one source
    topic's) each to its own source topic.

    Blocks until every re-sent event is acknowledged, then commits the replay position of each
    dead-letter topic read (past the letters skipped for another reason too; a topic not read
    keeps its position). Raises ``ProducerError``, committing nothing, if any send fails;
    ``ConfigError`` for an unknown ``topic``.
    """
    consumer, letters = read_dead_letters(settings, from_committed=True, topic=topic)
    try:
        report = replay_records(settings, ((letter.source_topic, letter.key, letter.value) for letter in letters
                                           if not reason or letter.reason == reason))
        consumer.commit()
    finally:
        consumer.close()
    return report
