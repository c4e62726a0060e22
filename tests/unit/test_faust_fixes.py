"""streams.faust_fixes: never-committed partitions are sought to their beginning; the
livelock check leaves partitions that await an offset reset alone."""

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


def fake_thread_with(states: dict, verified: list):
    """What the patched ``verify_event_path`` touches: aiokafka's partition states, and the
    first check of Faust's original (recorded, then "already logged" so it returns at once)."""
    assignment = SimpleNamespace(state_value=lambda tp: states.get((tp.topic, tp.partition)))
    fetcher = SimpleNamespace(_subscriptions=SimpleNamespace(subscription=SimpleNamespace(assignment=assignment)))
    return SimpleNamespace(
        _ensure_consumer=lambda: SimpleNamespace(_fetcher=fetcher),
        _verify_aiokafka_event_path=lambda now, tp: verified.append(tp) or True,
    )


def unset_and_set_states():
    """Real aiokafka partition states: one just sought (no position), one at offset 42."""
    from aiokafka.consumer.subscription_state import Assignment
    from aiokafka.structs import TopicPartition

    async def make():
        assignment = Assignment({TopicPartition(SOURCE, 0), TopicPartition(SOURCE, 1)})
        assignment.state_value(TopicPartition(SOURCE, 1)).seek(42)
        return {(SOURCE, p): assignment.state_value(TopicPartition(SOURCE, p)) for p in (0, 1)}

    return asyncio.run(make())


def test_upstream_aiokafka_asserts_on_the_position_of_a_just_sought_partition():
    states = unset_and_set_states()
    assert not states[(SOURCE, 0)].has_valid_position
    try:
        states[(SOURCE, 0)].position
    except AssertionError:
        pass  # what crashed Faust's livelock check
    else:
        raise AssertionError("aiokafka no longer asserts on an unset position: re-check fix 4")
    assert states[(SOURCE, 1)].position == 42


def test_livelock_check_skips_a_partition_awaiting_its_offset_reset():
    verified: list = []
    thread = fake_thread_with(unset_and_set_states(), verified)
    verify = faust_aiokafka.AIOKafkaConsumerThread.verify_event_path
    assert verify(thread, 0.0, TP(SOURCE, 0)) is None  # no position: skipped, no AssertionError
    assert verify(thread, 0.0, TP(SOURCE, 1)) is None  # position set: Faust's check runs
    assert verify(thread, 0.0, TP(SOURCE, 9)) is None  # not assigned: skipped
    assert verified == [TP(SOURCE, 1)]


class FakeMessage:
    def __init__(self, generation_id: int, offset: int) -> None:
        self.generation_id, self.offset, self.acked, self.tp = generation_id, offset, False, TP(SOURCE, 0)


class FakeFaustConsumer:
    """What the patched ``Consumer.ack`` touches: the app's generation and flow control, the
    unacked set, and ``perform_seek`` (recorded)."""

    def __init__(self, generation: int, flow_active: bool) -> None:
        self.app = SimpleNamespace(consumer_generation_id=generation,
                                   flow_control=SimpleNamespace(is_active=lambda: flow_active))
        self._unacked_messages: set = set()
        self.seeks = 0

    async def perform_seek(self) -> None:
        self.seeks += 1


def test_a_message_skipped_while_flow_is_suspended_is_not_acked_and_is_read_again():
    from faust.transport import consumer as faust_consumer

    async def scenario():
        consumer = FakeFaustConsumer(generation=2, flow_active=False)
        messages = [FakeMessage(2, offset) for offset in (5, 6)]
        consumer._unacked_messages.update(messages)
        for message in messages:
            assert faust_consumer.Consumer.ack(consumer, message) is False
        assert not consumer._unacked_messages  # released: no longer holds a commit back
        await asyncio.sleep(0.2)  # the re-seek is scheduled 50 ms later, once for both
        return consumer

    consumer = asyncio.run(scenario())
    assert consumer.seeks == 1  # every partition back to its committed offset: fetched again


def test_a_message_of_an_older_generation_is_not_acked_either():
    from faust.transport import consumer as faust_consumer

    async def scenario():
        consumer = FakeFaustConsumer(generation=3, flow_active=True)
        message = FakeMessage(2, 5)
        assert faust_consumer.Consumer.ack(consumer, message) is False
        await asyncio.sleep(0.2)
        return consumer

    assert asyncio.run(scenario()).seeks == 1
