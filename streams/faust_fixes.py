"""Workarounds for Faust behaviours that lose events or crash the worker; all found by tests.

faust-streaming 0.15.3 can commit past events that were never processed:

1. **Skipped-then-acknowledged messages.** ``Stream._py_aiter`` skips a message read while
   flow control is suspended (a rebalance) or fetched under an older consumer generation,
   and then *acknowledges* it, so the committer may move past it. Not acknowledging it is
   not enough: unless the partition is sought back, the message is never fetched again (the
   commit then stays behind it forever and the event is never counted). Seen on Kafka after
   a worker restart: while the rebalance awaited the seek of never-committed partitions
   (fix 3), the committed partitions were fetched and their messages skipped — ~5 % of the
   events of the pipeline test in 3 runs of 10 under CPU load.
2. **Offset jumps treated as gaps.** ``Consumer._drain_messages`` treats any jump in a
   partition's offsets as a gap of a compacted topic and marks the missing offsets as
   acknowledged (``_add_gap``). After a restart, messages fetched before the seek to the
   committed offsets arrive after it, the next offset jumps, and the skipped range — events
   nobody processed — is committed. The suite saw runs of ~100 lost offsets per partition.
3. **Never-committed partitions are not re-read.** ``perform_seek`` ("seek stream partitions
   to committed offsets", after every rebalance and after an offset jump) relies on aiokafka's
   ``seek_to_committed``, which seeks only partitions whose committed offset is > 0. A
   partition with no commit yet keeps its current position — past whatever was fetched and
   skipped during the rebalance. Seen in the pipeline test when the first worker was killed
   before its first commit: the restarted worker fetched the whole topic while recovering,
   skipped it (flow suspended) and never read it again; half the events were never counted.
   Such partitions are now sought to their beginning (``auto_offset_reset=earliest``).
4. **The livelock check crashes on a just-sought partition.** Every few seconds Faust's
   ``verify_event_path`` reads each partition's fetch position; right after a seek to the
   beginning (fix 3, or aiokafka's own reset) the position is unset until the offset reset
   completes, and aiokafka asserts (``AssertionError`` in ``subscription_state.position``),
   which stops the worker. Seen after Kafka broker restarts, when fix 2 re-seeks many times
   in a second. Partitions awaiting an offset reset are now skipped by the check.

:func:`install` patches all four, once per process: a stale message is released without being
acknowledged and every partition is sought back to its committed offset (so it is read again,
once flow resumes); a jump is logged and answered by seeking every partition back to its committed
offset (the beginning when there is none), so the skipped events are fetched and processed
(idempotent counting makes the re-processing harmless) and commits cannot pass them.
forgood's source topics are never compacted and its producers are not transactional, so
their offsets have no real gaps.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import TopicPartition
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

log = logging.getLogger(__name__)
_installed = False


def install() -> None:
    """Patch ``faust.transport.consumer.Consumer`` once per process (idempotent)."""
    global _installed
    if _installed:
        return
    Consumer = faust_consumer.Consumer
    original_ack = Consumer.ack

    def ack(self, message) -> bool:
        app = self.app
        stale = message.generation_id != app.consumer_generation_id or not app.flow_control.is_active()
        if stale:
            with faust_consumer.ack_lock:
                message.acked = True  # never acknowledged under this fetch
                self._unacked_messages.discard(message)
            _schedule_reseek(self)  # ... and fetched again from the committed offset
            return False
        return original_ack(self, message)

    async def add_gap(self, tp, offset_from: int, offset_to: int) -> None:
        from streams import metrics

        metrics.OFFSET_JUMPS.inc()
        log.warning(
            "offset jump on %s[%d]: offsets %d..%d were not read; seeking back to committed offsets",
            tp.topic, tp.partition, offset_from, offset_to - 1,
        )
        _schedule_reseek(self)

    def _schedule_reseek(self) -> None:
        """Seek every partition back to its committed offset soon, once (coalesced)."""
        if getattr(self, "_forgood_reseek", None) is None or self._forgood_reseek.done():
            self._forgood_reseek = asyncio.ensure_future(_reseek(self))

    async def _reseek(self) -> None:
        await asyncio.sleep(0.05)  # let the current fetch batch drain first
        try:
            await self.perform_seek()
        except Exception as exc:  # partitions moved meanwhile: the rebalance seeks anyway
            log.warning("re-seek to committed offsets failed: %r", exc)

    ack.__doc__ = "Acknowledge a message unless it is stale (see streams.faust_fixes)."
    add_gap.__doc__ = "Never mark unread offsets as acknowledged (see streams.faust_fixes)."
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original_seek_to_committed = thread.seek_to_committed

    async def seek_to_committed(self):
        committed = await original_seek_to_committed(self)
        changelogs = self.app.tables.changelog_topics  # positioned by table recovery, never committed
        uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
        if uncommitted and self.app.conf.consumer_auto_offset_reset == "earliest":
            log.info("seeking %d never-committed partition(s) to their beginning", len(uncommitted))
            await self.seek_to_beginning(*uncommitted)
        return committed

    seek_to_committed.__doc__ = "Seek to committed offsets, never-committed partitions to the beginning."
    original_verify_event_path = thread.verify_event_path

    def verify_event_path(self, now, tp):
        try:
            assignment = self._ensure_consumer()._fetcher._subscriptions.subscription.assignment
            state = assignment.state_value(TopicPartition(tp.topic, tp.partition)) if assignment else None
        except AttributeError:  # no subscription right now (rebalancing, stopping)
            return None
        if state is None or not state.has_valid_position:
            return None  # just sought, awaiting its offset reset: nothing to verify yet
        return original_verify_event_path(self, now, tp)

    verify_event_path.__doc__ = "Skip partitions awaiting an offset reset (see streams.faust_fixes)."
    Consumer.ack = ack
    Consumer._add_gap = add_gap
    thread.seek_to_committed = seek_to_committed
    thread.verify_event_path = verify_event_path
    _installed = True
