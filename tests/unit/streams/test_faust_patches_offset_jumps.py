"""Contract of streams.faust_patches.offset_jumps (fix 2): a jump in fetched offsets is answered
by a seek back to the committed offsets, never by marking the unread offsets as acknowledged.

Upstream, Faust's ``Consumer._add_gap`` marks the offsets a fetch jumped over as a gap, and its
commit computation (``_new_offset``) then moves past them: events nobody processed are
committed. Patched, nothing is marked, the jump is logged and counted, and every partition is
sought back, so the skipped offsets are fetched and processed.
"""

from __future__ import annotations

import asyncio
import logging

from faust.transport import consumer as faust_consumer
from faust.types import TP
from prometheus_client import REGISTRY

from streams import faust_patches
from streams.faust_patches import offset_jumps, undecodable_batches
from tests.support.faust_patches_fakes import FakeFaustConsumer

faust_patches.install()
TP0 = TP("jump-topic", 0)
upstream_add_gap = offset_jumps.UPSTREAM["Consumer._add_gap"]
#: offset_jumps' own handler, and the one the worker runs (undecodable_batches' wrapper of it).
jump_handler = undecodable_batches.UPSTREAM["Consumer._add_gap"]
installed = faust_consumer.Consumer._add_gap  # noqa: SLF001 (the patched method under test)
new_offset = faust_consumer.Consumer._new_offset  # noqa: SLF001 (Faust's commit computation, upstream)


def jumps() -> float:
    return REGISTRY.get_sample_value("forgood_offset_jumps_total") or 0.0


def test_upstream_marks_the_unread_offsets_as_acknowledged_and_commits_past_them():
    consumer = FakeFaustConsumer(committed={TP0: 4})
    # Faust's _drain_messages read offset 6, then 12: it calls _add_gap(tp, 7, 12).
    asyncio.run(upstream_add_gap(consumer, TP0, 7, 12))
    assert consumer.gaps(TP0) == [(7, 13)]  # upstream's interval ends one past offset_to
    consumer.set_acked(TP0, [5, 6, 12])
    assert new_offset(consumer, TP0) == 13  # 7..11 were never read, yet committed


def test_upstream_is_the_handler_faust_calls_for_a_jump():
    assert offset_jumps.UPSTREAM["Consumer._add_gap"].__qualname__ == "Consumer._add_gap"
    assert jump_handler.__forgood_patch__ == offset_jumps.__name__
    assert installed.__forgood_patch__ == undecodable_batches.__name__  # wraps jump_handler


def test_a_jump_is_logged_counted_and_answered_by_a_seek_back(caplog):
    caplog.set_level(logging.WARNING, logger=offset_jumps.__name__)
    for handler in (jump_handler, installed):
        consumer = FakeFaustConsumer(committed={TP0: 4})
        before = jumps()

        async def scenario(handler=handler, consumer=consumer):
            await handler(consumer, TP0, 7, 12)
            await consumer.pending_reseek()

        asyncio.run(scenario())
        assert jumps() == before + 1 and consumer.seeks == 1
        assert consumer.flow_at_seek == [False] and consumer.flow_active  # flow stopped around it (reseek)
        assert consumer.gaps(TP0) == []  # nothing marked: the commit cannot pass 7..11
        consumer.set_acked(TP0, [5, 6, 12, 13])
        assert new_offset(consumer, TP0) == 7
    assert [r.getMessage() for r in caplog.records] == [
        "offset jump on jump-topic[0]: offsets 7..11 were not read; seeking back to committed offsets"
    ] * 2


def test_jumps_in_a_burst_are_answered_by_one_seek():
    consumer = FakeFaustConsumer()

    async def scenario():
        for first in (7, 20, 30):
            await installed(consumer, TP0, first, first + 3)
        await consumer.pending_reseek()

    asyncio.run(scenario())
    assert consumer.seeks == 1
