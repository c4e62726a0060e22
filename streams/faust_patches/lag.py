"""Consumer lag per partition, read from Faust's consumer state (an accessor, not a patch).

Faust keeps the last committed offset per partition in ``Consumer._committed_offset`` and has
no public reader for it; asking the broker (``committed()``) would cost a round trip per
partition every 2 s. This is the one place outside a patch that reads it, so a rename upstream
shows up here and in its test, not as a silently zero lag.

**Verified on** faust-streaming 0.15.3 (aiokafka 0.14.0, mode-streaming 0.7.1).
"""

from __future__ import annotations

from faust.types import TP
from faust.types.transports import ConsumerT


def partition_lag(consumer: ConsumerT, tp: TP) -> int | None:
    """Fetch highwater minus the last committed offset of ``tp`` (0 when nothing is
    committed yet), or None while the partition has not been fetched. Never blocks."""
    try:
        highwater = consumer.highwater(tp)
    except Exception:  # the partition is not fetched yet (aiokafka asserts it is assigned)
        return None
    if highwater is None or highwater < 0:  # type: ignore[redundant-expr]  # aiokafka may say None
        return None
    committed = consumer._committed_offset.get(tp) or 0  # type: ignore[attr-defined]  # noqa: SLF001 (no public reader)
    return max(0, highwater - committed)
