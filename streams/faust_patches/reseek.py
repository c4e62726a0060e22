"""The seek back to the committed offsets shared by :mod:`.stale_ack` and :mod:`.offset_jumps`.

Not a patch: both patches answer an offset that was fetched but must not count as read by
seeking every partition of Faust's consumer back to its committed offset (the beginning when
there is none, :mod:`.never_committed`), so the events are fetched and processed again.
Requests are coalesced: one seek per burst, 50 ms after the first request.
"""

from __future__ import annotations

import asyncio
import logging

from faust.transport.consumer import Consumer

log = logging.getLogger(__name__)


#: forgood's own attribute on Faust's consumer: the pending seek (a future), while there is one.
PENDING = "_forgood_reseek"


def schedule(consumer: Consumer) -> None:
    """Seek every partition of Faust's ``consumer`` back to its committed offset soon, once."""
    pending = getattr(consumer, PENDING, None)
    if pending is None or pending.done():
        setattr(consumer, PENDING, asyncio.ensure_future(_reseek(consumer)))


async def _reseek(consumer: Consumer) -> None:
    await asyncio.sleep(0.05)  # let the current fetch batch drain first
    try:
        await consumer.perform_seek()
    except Exception as exc:  # partitions moved meanwhile: the rebalance seeks anyway
        log.warning("re-seek to committed offsets failed: %r", exc)
