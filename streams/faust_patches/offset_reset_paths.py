"""Fix 4: Faust's livelock check skips partitions that await an offset reset.

**Upstream bug** (faust-streaming 0.15.3 on aiokafka 0.14.0). Every few seconds Faust's
``AIOKafkaConsumerThread.verify_event_path`` reads each partition's fetch position; right after
a seek to the beginning (:mod:`.never_committed`, or aiokafka's own reset) the position is
unset until the offset reset completes, and aiokafka asserts (``AssertionError`` in
``TopicPartitionState.position``), which stops the worker. Seen after Kafka broker restarts,
when :mod:`.offset_jumps` re-seeks many times in a second.

**Patch.** ``verify_event_path`` first looks the partition up in aiokafka's subscription
state: a partition not assigned (or no subscription at all: rebalancing, stopping) or
without a valid position (awaiting its offset reset) is skipped -- there is nothing to verify
yet; any other goes to Faust's own check, unchanged.

**Verified on** faust-streaming 0.15.3, aiokafka 0.14.0 (mode-streaming 0.7.1).
"""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition
from aiokafka.consumer.subscription_state import TopicPartitionState
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.faust_patches import targets, versions

Thread = faust_aiokafka.AIOKafkaConsumerThread
TARGETS = [
    targets.Target(Thread, "verify_event_path", "(self, now, tp)"),
    targets.Target(Thread, "_ensure_consumer", "(self)"),
    targets.Target(TopicPartitionState, "has_valid_position"),
]
#: The targets as they were before :func:`install` (the tests call them to show upstream).
UPSTREAM: dict[str, Any] = {}
_installed = False


def install() -> None:
    """Wrap Faust's ``AIOKafkaConsumerThread.verify_event_path`` once per process (idempotent)."""
    global _installed
    if _installed:
        return
    versions.require()
    found = targets.check(__name__, TARGETS)
    original_verify_event_path = found["AIOKafkaConsumerThread.verify_event_path"]

    def verify_event_path(thread: faust_aiokafka.AIOKafkaConsumerThread, now: float, tp: TP) -> None:
        try:
            consumer = thread._ensure_consumer()  # noqa: SLF001 (Faust's aiokafka consumer, as its own verify_event_path reads it)
            assignment = consumer._fetcher._subscriptions.subscription.assignment  # noqa: SLF001 (aiokafka's partition states, where Faust's check reads the position)
            state = assignment.state_value(TopicPartition(tp.topic, tp.partition)) if assignment else None
        except AttributeError:  # no subscription right now (rebalancing, stopping)
            return None
        if state is None or not state.has_valid_position:
            return None  # just sought, awaiting its offset reset: nothing to verify yet
        return original_verify_event_path(thread, now, tp)

    UPSTREAM.update(found)
    targets.replace(Thread, "verify_event_path", verify_event_path, __name__,
                    "Skip partitions awaiting an offset reset (see streams.faust_patches.offset_reset_paths).")
    _installed = True
