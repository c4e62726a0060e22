"""Fix 3: partitions never committed are sought to their beginning, so they are read again.

**Upstream bug** (faust-streaming 0.15.3 on aiokafka 0.14.0). ``Consumer.perform_seek`` ("seek
stream partitions to committed offsets", after every rebalance and after an offset jump)
relies on aiokafka's ``seek_to_committed`` (via ``AIOKafkaConsumerThread.seek_to_committed``),
which seeks only partitions whose committed offset is > 0. A partition with no commit yet
keeps its current position -- past whatever was fetched and skipped during the rebalance.
Seen in the pipeline test when the first worker was killed before its first commit: the
restarted worker fetched the whole topic while recovering, skipped it (flow suspended) and
never read it again; half the events were never counted.

**Patch.** ``AIOKafkaConsumerThread.seek_to_committed`` runs Faust's own, then seeks the
partitions it reports without a committed offset (None or 0) to their beginning, when
``consumer_auto_offset_reset`` is ``earliest`` (forgood's setting) -- except table changelogs,
which table recovery positions and which are never committed. What it returns (the committed
offsets Faust's ``perform_seek`` expects) is unchanged.

**Verified on** faust-streaming 0.15.3, aiokafka 0.14.0 (mode-streaming 0.7.1).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.faust_patches import targets, versions

log = logging.getLogger(__name__)
Thread = faust_aiokafka.AIOKafkaConsumerThread
TARGETS = [
    targets.Target(Thread, "seek_to_committed", "(self)", coroutine=True),
    targets.Target(Thread, "seek_to_beginning", "(self, *partitions)", coroutine=True),
]
#: The targets as they were before :func:`install` (the tests call them to show upstream).
UPSTREAM: dict[str, Any] = {}
_installed = False


def install() -> None:
    """Wrap Faust's ``AIOKafkaConsumerThread.seek_to_committed`` once per process (idempotent)."""
    global _installed
    if _installed:
        return
    versions.require()
    found = targets.check(__name__, TARGETS)
    original_seek_to_committed = found["AIOKafkaConsumerThread.seek_to_committed"]

    async def seek_to_committed(thread: faust_aiokafka.AIOKafkaConsumerThread) -> Mapping[TP, int]:
        committed = await original_seek_to_committed(thread)
        changelogs = thread.app.tables.changelog_topics  # positioned by table recovery, never committed
        uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
        if uncommitted and thread.app.conf.consumer_auto_offset_reset == "earliest":
            log.info("seeking %d never-committed partition(s) to their beginning", len(uncommitted))
            await thread.seek_to_beginning(*uncommitted)
        return committed

    UPSTREAM.update(found)
    targets.replace(Thread, "seek_to_committed", seek_to_committed, __name__,
                    "Seek to committed offsets, never-committed partitions to the beginning "
                    "(see streams.faust_patches.never_committed).")
    _installed = True
