"""Contract of streams.faust_patches.stale_ack (fix 1): a message Faust skips during a
rebalance (flow suspended) or fetched under an older generation is not acknowledged.

Upstream, Faust's ``Consumer.ack`` records the skipped message's offset as acknowledged, so the
commit moves past an event nobody processed; patched, it is released without being
acknowledged and every partition is sought back to its committed offset, so it is read again.
"""

from __future__ import annotations

import asyncio

from faust.transport import consumer as faust_consumer
from faust.types import TP

from streams import faust_patches
from streams.faust_patches import stale_ack
from tests.support.faust_patches_fakes import FakeFaustConsumer, FakeMessage

faust_patches.install()
ack = faust_consumer.Consumer.ack
upstream_ack = stale_ack.UPSTREAM["Consumer.ack"]
TP0 = TP("video-created", 0)


def test_upstream_acknowledges_a_message_skipped_while_flow_is_suspended():
    consumer = FakeFaustConsumer(generation=2, flow_active=False)
    messages = [FakeMessage(2, offset) for offset in (5, 6)]
    consumer.hold(*messages)
    assert [upstream_ack(consumer, m) for m in messages] == [True, True]
    assert consumer.acked(TP0) == [5, 6]  # the committer moves past them: events lost
    assert consumer.seeks == 0


def test_upstream_acknowledges_a_message_of_an_older_generation():
    consumer = FakeFaustConsumer(generation=3, flow_active=True)
    assert upstream_ack(consumer, FakeMessage(2, 5)) is True
    assert consumer.acked(TP0) == [5]


def test_a_message_skipped_while_flow_is_suspended_is_not_acked_and_is_read_again():
    async def scenario():
        consumer = FakeFaustConsumer(generation=2, flow_active=False)
        messages = [FakeMessage(2, offset) for offset in (5, 6)]
        consumer.hold(*messages)
        for message in messages:
            assert ack(consumer, message) is False
            assert message.acked  # never acknowledged again under this fetch
        assert not consumer.unacked()  # released: no longer holds a commit back
        assert consumer.acked(TP0) == []  # ... and not committed past
        await consumer.pending_reseek()  # scheduled once for both, 50 ms later: wait for it to run
        return consumer

    consumer = asyncio.run(scenario())
    assert consumer.seeks == 1  # every partition back to its committed offset: fetched again
    assert consumer.flow_at_seek == [False] and consumer.flow_active  # flow stopped around it (reseek)


def test_a_message_of_an_older_generation_is_not_acked_either():
    async def scenario():
        consumer = FakeFaustConsumer(generation=3, flow_active=True)
        message = FakeMessage(2, 5)
        assert ack(consumer, message) is False
        await consumer.pending_reseek()
        return consumer

    consumer = asyncio.run(scenario())
    assert consumer.seeks == 1 and consumer.acked(TP0) == []


def test_a_current_message_is_acknowledged_by_faust_as_before():
    consumer = FakeFaustConsumer(generation=2, flow_active=True)
    message = FakeMessage(2, 7)
    consumer.hold(message)
    assert ack(consumer, message) is True
    assert consumer.acked(TP0) == [7] and not consumer.unacked() and consumer.seeks == 0
    assert ack(consumer, message) is False  # twice: once only, as upstream
