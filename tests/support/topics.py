"""Reading a Kafka topic back in a test."""

from __future__ import annotations

from forgood.domain.settings import Settings


def read_topic(settings: Settings, topic: str, timeout: float = 30.0) -> list:
    """Every record of ``topic`` from the beginning to its end as of the call
    (:func:`forgood.domain.kafka.read_topic`); AssertionError if not read in ``timeout`` s."""
    from forgood.domain.kafka import ReadTimeout
    from forgood.domain.kafka import read_topic as read_to_its_end

    try:
        return read_to_its_end(settings, topic, timeout_s=timeout, client_id="forgood-tests")
    except ReadTimeout as exc:
        raise AssertionError(f"could not read {topic} to its end in {timeout}s") from exc
