"""Contract of streams.faust_patches.never_committed (fix 3): after a rebalance, source
partitions that were never committed are sought to their beginning.

Upstream, Faust's ``AIOKafkaConsumerThread.seek_to_committed`` relies on aiokafka's, which
seeks only partitions committed at an offset > 0: a partition never committed keeps its
position, past what was fetched and skipped while recovering. Patched, those partitions go
back to their beginning (changelogs excepted), and what Faust gets back is unchanged.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams import faust_patches
from streams.faust_patches import never_committed

faust_patches.install()
seek_to_committed = faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed
upstream_seek_to_committed = never_committed.UPSTREAM["AIOKafkaConsumerThread.seek_to_committed"]

SOURCE, CHANGELOG = "video-created", "forgood-ledger-changelog"
COMMITTED = {TP(SOURCE, 0): None, TP(SOURCE, 1): 0, TP(SOURCE, 2): 17, TP(CHANGELOG, 0): None}


class FakeConsumerThread:
    """What ``seek_to_committed`` touches of Faust's AIOKafkaConsumerThread."""

    def __init__(self, reset: str = "earliest") -> None:
        self.app = SimpleNamespace(tables=SimpleNamespace(changelog_topics={CHANGELOG}),
                                   conf=SimpleNamespace(consumer_auto_offset_reset=reset))
        self.to_beginning: list[TP] = []
        self.consumer = SimpleNamespace(seek_to_committed=self.aiokafka_seek_to_committed)

    async def aiokafka_seek_to_committed(self):  # aiokafka: seeks only offsets > 0 (here: partition 2)
        return dict(COMMITTED)

    def _ensure_consumer(self):
        return self.consumer

    async def call_thread(self, method, *args, **kwargs):
        return await method(*args, **kwargs)

    async def seek_to_beginning(self, *partitions) -> None:
        self.to_beginning.extend(partitions)


def test_upstream_leaves_never_committed_partitions_where_they_are():
    thread = FakeConsumerThread()
    assert asyncio.run(upstream_seek_to_committed(thread)) == COMMITTED
    assert thread.to_beginning == []  # partitions 0 and 1 stay past what was skipped


def test_never_committed_source_partitions_go_back_to_their_beginning():
    thread = FakeConsumerThread()
    committed = asyncio.run(seek_to_committed(thread))
    assert committed == COMMITTED  # what Faust's perform_seek expects, unchanged
    # None and 0 mean "nothing committed yet"; changelogs are positioned by table recovery.
    assert thread.to_beginning == [TP(SOURCE, 0), TP(SOURCE, 1)]


def test_nothing_extra_when_offsets_reset_to_latest():
    thread = FakeConsumerThread(reset="latest")
    asyncio.run(seek_to_committed(thread))
    assert thread.to_beginning == []
