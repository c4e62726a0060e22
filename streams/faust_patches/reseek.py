"""The seek back to the committed offsets shared by :mod:`.stale_ack` and :mod:`.offset_jumps`.

Not a patch of its own: both patches answer an offset that was fetched but must not count as
read by seeking every partition of Faust's consumer back to its committed offset (the
beginning when there is none, :mod:`.never_committed`), so the events are fetched and
processed again. Requests are coalesced: one seek per burst, 50 ms after the first request.
The seek runs with the consumer's flow stopped, for the reason below (the same race family as
:mod:`.recovery_seek`, fix 5).

**The race** (faust-streaming 0.15.3, aiokafka 0.14.0; line numbers in
``faust/transport/consumer.py`` unless said otherwise). ``Consumer.perform_seek`` (565-581)
first awaits ``seek_to_committed`` -- in the consumer thread, aiokafka's
``AIOKafkaConsumer.seek_to_committed`` (``aiokafka/consumer/consumer.py`` 896-902) awaits
``committed(tp)`` and moves the fetch position (``Fetcher.seek_to``, ``fetcher.py``
1313-1323) one partition after the other, then :mod:`.never_committed` awaits the seek to
the beginning of the never-committed ones -- and only *afterwards*, back in the main loop,
resets Faust's read offsets (``_read_offset``) to the committed offsets. Meanwhile the fetch
loop (``_drain_messages``, 1170-1231) keeps going while the flow is active. Whatever it gets
from a partition already sought has offsets *below* the old read offset: it drops them
("DROPPED MESSAGE ROFF", 1208-1230: only ``offset >= r_offset`` is delivered), and aiokafka
has consumed them (``FetchResult.getall`` -> ``_update_position``, ``fetcher.py`` 108-136), so
the fetch position is past them. Those are exactly the events the seek is for (the skipped
or jumped-over ones). Then ``perform_seek`` sets the read offset back to the committed offset
and the next fetch continues from past them:

* committed offset > 0: the next event on the partition is seen as a jump again
  (``gap > 1 and r_offset``, 1212) and answered by another seek, with the same race; on a
  partition with no further event, the events stay unread (and the commit held back) until
  the next rebalance;
* never committed (read offset reset to None) or committed at 0 (read offset 0, falsy): no
  jump is ever seen (1212), and ``_new_offset`` checks the head of the acknowledged offsets
  only when the committed offset is truthy (1139-1140), so the commit moves past the events
  that were dropped: they are lost.

The other direction is the same race: a batch fetched from the old positions before the
seek and still being handed to the streams when the read offset is reset (each hand-over can
wait on a full stream queue) jumps from the committed offset (a spurious jump, another seek),
and raises the read offset again, so what the seek fetches next is dropped.

Duplicates and double acknowledgements are not the problem: what was delivered before (or
during) the seek stays in the streams' queues and is processed and acknowledged once (Faust's
``ack`` ignores an offset already acknowledged, 825-853); the re-read copies are counted
idempotently. Unlike fix 5 nothing here clears a queue (``app.flow_control`` is not resumed).

**What is done.** The consumer's flow is stopped (``Consumer.stop_flow``, what Faust does when
partitions are revoked) before the seek and resumed (``Consumer.resume_flow``) after it: the
fetch loop hands nothing over meanwhile (``getmany`` stops at the next record, 746-748, and
waits for ``can_resume_flow`` before the next fetch, 779-783; a fetch already in flight is
thrown away and followed by Faust's own ``perform_seek``, 767-775), so once the flow resumes
the read offsets and the fetch positions agree and everything from the committed offsets is
delivered. One place in the fetch loop does not look at the flow: the commit every
``broker_commit_every`` acknowledgements (1216-1219), awaited before a record is handed over;
if the loop is in it when the flow stops and it outlasts the seek, the loop would go on with
the batch from the old positions once the flow resumes. So the seek first waits for a commit
in flight to finish (``Consumer.maybe_wait_for_commit_to_finish``, 963-977); after the stop
no new one starts there (no record gets past 748). The flow is resumed only if it was active
before and no rebalance began meanwhile (same consumer generation, ``app.rebalancing``
false): otherwise the rebalance stopped it and its own recovery seeks and resumes it
(:mod:`.recovery_seek`). It is resumed also when the seek fails (partitions moved meanwhile),
unless a rebalance began. A flow already stopped (a rebalance under way) is sought as before
and left alone.
"""

from __future__ import annotations

import asyncio
import logging

from faust.transport import consumer as faust_consumer
from faust.types.app import AppT

from streams.faust_patches import targets

log = logging.getLogger(__name__)
Consumer = faust_consumer.Consumer

#: What the seek calls or reads of Faust's; checked by each patch that schedules it.
TARGETS = [
    targets.Target(Consumer, "perform_seek", "(self)", coroutine=True),
    targets.Target(Consumer, "stop_flow", "(self)"),
    targets.Target(Consumer, "resume_flow", "(self)"),
    targets.Target(Consumer, "maybe_wait_for_commit_to_finish", "(self)", coroutine=True),
    targets.Target(Consumer, "flow_active"),
    targets.Target(AppT, "consumer_generation_id"),
    targets.Target(AppT, "rebalancing"),
]

#: forgood's own attribute on Faust's consumer: the pending seek (a future), while there is one.
PENDING = "_forgood_reseek"


def schedule(consumer: Consumer) -> None:
    """Seek every partition of Faust's ``consumer`` back to its committed offset soon, once."""
    pending = getattr(consumer, PENDING, None)
    if pending is None or pending.done():
        setattr(consumer, PENDING, asyncio.ensure_future(_reseek(consumer)))


async def _reseek(consumer: Consumer) -> None:
    await asyncio.sleep(0.05)  # let the current fetch batch drain first
    app = consumer.app
    generation = app.consumer_generation_id
    stopped = consumer.flow_active and not app.rebalancing
    try:
        if stopped:
            consumer.stop_flow()  # nothing handed over while read offsets and positions disagree
            await consumer.maybe_wait_for_commit_to_finish()  # the fetch loop may be in one
        await consumer.perform_seek()
    except Exception as exc:  # partitions moved meanwhile: the rebalance seeks anyway
        log.warning("re-seek to committed offsets failed: %r", exc)
    finally:
        if stopped and app.consumer_generation_id == generation and not app.rebalancing:
            consumer.resume_flow()
        # else: a rebalance began; its recovery seeks and resumes the flow.
