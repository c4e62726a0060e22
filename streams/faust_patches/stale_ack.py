"""Fix 1: a message Faust skips is released without being acknowledged, and read again.

**Upstream bug** (faust-streaming 0.15.3). ``Stream._py_aiter`` skips a message read while flow
control is suspended (a rebalance) or fetched under an older consumer generation, and then
*acknowledges* it (``Consumer.ack``), so the committer may move past it. Not acknowledging it
is not enough: unless the partition is sought back, the message is never fetched again (the
commit then stays behind it forever and the event is never counted). Seen on Kafka after a
worker restart: while the rebalance awaited the seek of never-committed partitions
(:mod:`.never_committed`), the committed partitions were fetched and their messages skipped
-- ~5 % of the events of the pipeline test in 3 runs of 10 under CPU load.

**Patch.** ``Consumer.ack`` of a stale message (older generation, or flow suspended) marks it
acknowledged on the message only (so it is not acknowledged twice), drops it from the
consumer's unacknowledged set (so it no longer holds a commit back) and returns False without
recording its offset; every partition is then sought back to its committed offset
(:mod:`.reseek`), so it is read again once flow resumes. Any other message goes to Faust's
own ``ack``, unchanged. Idempotent counting makes the re-processing harmless.

**Verified on** faust-streaming 0.15.3 (aiokafka 0.14.0, mode-streaming 0.7.1).
"""

from __future__ import annotations

from typing import Any

from faust.transport import consumer as faust_consumer
from faust.types import Message

from streams.faust_patches import reseek, targets, versions

Consumer = faust_consumer.Consumer
TARGETS = [
    targets.Target(Consumer, "ack", "(self, message)"),
    *reseek.TARGETS,  # what the seek back calls
    targets.Target(faust_consumer, "ack_lock"),
]
#: The targets as they were before :func:`install` (the tests call them to show upstream).
UPSTREAM: dict[str, Any] = {}
_installed = False


def install() -> None:
    """Wrap ``faust.transport.consumer.Consumer.ack`` once per process (idempotent)."""
    global _installed
    if _installed:
        return
    versions.require()
    found = targets.check(__name__, TARGETS)
    original_ack = found["Consumer.ack"]

    def ack(consumer: faust_consumer.Consumer, message: Message) -> bool:
        app = consumer.app
        stale = message.generation_id != app.consumer_generation_id or not app.flow_control.is_active()
        if stale:
            with faust_consumer.ack_lock:
                message.acked = True  # never acknowledged under this fetch
                consumer._unacked_messages.discard(message)  # noqa: SLF001 (Faust's set of messages that hold its commit back: release this one)
            reseek.schedule(consumer)  # ... and fetched again from the committed offset
            return False
        return original_ack(consumer, message)

    UPSTREAM.update(found)
    targets.replace(Consumer, "ack", ack, __name__,
                    "Acknowledge a message unless it is stale (see streams.faust_patches.stale_ack).")
    _installed = True
