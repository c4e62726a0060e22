"""Fix 2: a jump in fetched offsets is answered by a seek back, not marked as acknowledged.

**Upstream bug** (faust-streaming 0.15.3). ``Consumer._drain_messages`` treats any jump in a
partition's offsets as a gap of a compacted topic and marks the missing offsets as
acknowledged (``Consumer._add_gap``). After a restart, messages fetched before the seek to the
committed offsets arrive after it, the next offset jumps, and the skipped range -- events
nobody processed -- is committed. The suite saw runs of ~100 lost offsets per partition.

**Patch.** ``Consumer._add_gap`` no longer marks anything: the jump is logged (WARNING
``offset jump on TOPIC[P]: offsets A..B were not read``), counted in
``forgood_offset_jumps_total``, and answered by seeking every partition back to its committed
offset (the beginning when there is none; :mod:`.reseek`), so the skipped events are fetched
and processed (idempotent counting makes the re-processing harmless) and commits cannot pass
them. forgood's source topics are never compacted and its producers are not transactional, so
their offsets have no real gaps. (:mod:`.undecodable_batches` wraps this handler: a jump over
batches it skipped only is marked as acknowledged, as upstream does.)

**Verified on** faust-streaming 0.15.3 (aiokafka 0.14.0, mode-streaming 0.7.1).
"""

from __future__ import annotations

import logging
from typing import Any

from faust.transport import consumer as faust_consumer
from faust.types import TP

from streams.faust_patches import reseek, targets, versions

log = logging.getLogger(__name__)
Consumer = faust_consumer.Consumer
TARGETS = [
    # Read (never called) so that a rename or a new signature upstream is found at start-up.
    targets.Target(Consumer, "_add_gap", "(self, tp, offset_from, offset_to)", coroutine=True),
    *reseek.TARGETS,  # what the seek back calls
]
#: The targets as they were before :func:`install` (the tests call them to show upstream).
UPSTREAM: dict[str, Any] = {}
_installed = False


def install() -> None:
    """Replace ``faust.transport.consumer.Consumer._add_gap`` once per process (idempotent)."""
    global _installed
    if _installed:
        return
    versions.require()
    found = targets.check(__name__, TARGETS)

    async def add_gap(consumer: faust_consumer.Consumer, tp: TP, offset_from: int, offset_to: int) -> None:
        from streams import metrics

        metrics.OFFSET_JUMPS.inc()
        log.warning(
            "offset jump on %s[%d]: offsets %d..%d were not read; seeking back to committed offsets",
            tp.topic, tp.partition, offset_from, offset_to - 1,
        )
        reseek.schedule(consumer)

    UPSTREAM.update(found)
    targets.replace(Consumer, "_add_gap", add_gap, __name__,
                    "Never mark unread offsets as acknowledged (see streams.faust_patches.offset_jumps).")
    _installed = True
