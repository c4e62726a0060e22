"""streams.faust_fixes: never-committed partitions are sought to their beginning."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams import faust_fixes

faust_fixes.install()

SOURCE, CHANGELOG = "video-created", "forgood-ledger-changelog"
COMMITTED = {TP(SOURCE, 0): None, TP(SOURCE, 1): 0, TP(SOURCE, 2): 17, TP(CHANGELOG, 0): None}


class FakeConsumerThread:
    """What the patched ``seek_to_committed`` touches of Faust's AIOKafkaConsumerThread."""

    def __init__(self, reset: str = "earliest") -> None:
        self.app = SimpleNamespace(tables=SimpleNamespace(changelog_topics={CHANGELOG}),
                                   conf=SimpleNamespace(consumer_auto_offset_reset=reset))
        self.to_beginning: list[TP] = []

    def _ensure_consumer(self):
        async def seek_to_committed():  # aiokafka: seeks only offsets > 0 (here: partition 2)
            return dict(COMMITTED)
        return SimpleNamespace(seek_to_committed=seek_to_committed)

    async def call_thread(self, method, *args, **kwargs):
        return await method(*args, **kwargs)

    async def seek_to_beginning(self, *partitions) -> None:
        self.to_beginning.extend(partitions)


def test_never_committed_source_partitions_go_back_to_their_beginning():
    thread = FakeConsumerThread()
    committed = asyncio.run(faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed(thread))
    assert committed == COMMITTED  # what Faust's perform_seek expects, unchanged
    # None and 0 mean "nothing committed yet"; changelogs are positioned by table recovery.
    assert thread.to_beginning == [TP(SOURCE, 0), TP(SOURCE, 1)]


def test_nothing_extra_when_offsets_reset_to_latest():
    thread = FakeConsumerThread(reset="latest")
    asyncio.run(faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed(thread))
    assert thread.to_beginning == []
