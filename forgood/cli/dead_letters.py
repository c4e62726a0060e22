"""Dead letters: read ``video-created.dlq`` for people (``forgood dlq show``), and re-send its
events after a fix (``forgood dlq replay``).

Each dead letter carries the original key and value bytes and headers naming the reason
(``forgood-reason``), a human message, and the source topic/partition/offset. Replaying sends
the original bytes back to the source topic (:func:`producers.replay.replay_records`): events
the fix made valid are counted (and any already counted are not counted twice); events still
invalid return to the dead-letter topic. Replay remembers how far it got (offsets of group
``<app_id>-dlq-replay``), so running it again sends only dead letters that arrived since.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from forgood.domain.kafka import ReadTimeout, make_consumer, read_to_end
from forgood.domain.settings import Settings
from forgood.domain.topics import ensure_topics
from producers.replay import replay_records
from producers.sending import SendReport


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


def _letter(record: ConsumerRecord) -> DeadLetter:
    headers = {k: v.decode("utf-8", errors="replace") for k, v in (record.headers or [])}
    source = "{}[{}]@{}".format(
        headers.get("forgood-source-topic", "?"),
        headers.get("forgood-source-partition", "?"),
        headers.get("forgood-source-offset", "?"),
    )
    return DeadLetter(record.partition, record.offset, record.key, record.value or b"",
                      headers.get("forgood-reason", "unknown"), headers.get("forgood-message", ""), source)


def read_dead_letters(settings: Settings, *, from_committed: bool = False,
                      timeout_s: float = 30.0) -> tuple[KafkaConsumer, list[DeadLetter]]:
    """Return (consumer, letters): the dead letters up to the topic's end as of the call; the
    caller closes the consumer (or commits through it first: it commits exactly the letters
    returned).

    Creates the topics if needed. With ``from_committed`` reading starts at the replay group's
    committed offsets. Blocks up to ``timeout_s`` (plus connecting); letters not read by then
    are left out (shown or replayed next time), without an error.
    """
    ensure_topics(settings)
    consumer = make_consumer(settings, client_id="forgood-dlq", group_id=f"{settings.app_id}-dlq-replay",
                             auto_offset_reset="earliest")
    try:
        records = read_to_end(consumer, settings.dlq_topic, timeout_s=timeout_s, from_committed=from_committed)
    except ReadTimeout as exc:
        records = exc.records  # as before: what was read in time is shown or replayed; the rest waits
    except BaseException:
        consumer.close()
        raise
    return consumer, [_letter(record) for record in records]


def show(settings: Settings, limit: int = 50) -> list[DeadLetter]:
    """The dead letters on the topic (all of them, oldest first per partition; the last
    ``limit`` of that list unless 0). Blocks like :func:`read_dead_letters`."""
    consumer, letters = read_dead_letters(settings)
    consumer.close()
    return letters[-limit:] if limit else letters


def replay(settings: Settings, reason: str | None = None) -> SendReport:
    """Re-send dead letters not replayed before (optionally only one reason) to the source topic.

    Blocks until every re-sent event is acknowledged, then commits the replay position (past
    the letters skipped for another reason too). Raises ``ProducerError``, committing nothing,
    if any send fails.
    """
    consumer, letters = read_dead_letters(settings, from_committed=True)
    try:
        report = replay_records(settings, ((letter.key, letter.value) for letter in letters
                                           if not reason or letter.reason == reason))
        consumer.commit()
    finally:
        consumer.close()
    return report
