"""Contract of streams.faust_patches.undecodable_batches: a record batch that can never be
decoded is skipped, counted and logged.

First what aiokafka 0.14 does without the patch (the batch raises out of the fetch, and the
partition's position stays before it, so every retry -- and every restarted worker -- meets
it again: the crash loop), then the patch: the batch yields nothing, the position moves past
it, it is counted and logged once, and Faust's commit bookkeeping moves past its offsets.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from types import SimpleNamespace

import aiokafka.codec
import pytest
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.consumer.fetcher import READ_UNCOMMITTED, FetchResult, PartitionRecords
from aiokafka.errors import CorruptRecordException, UnsupportedCodecError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import TopicPartition
from faust.transport import consumer as faust_consumer
from faust.types import TP
from prometheus_client import REGISTRY

from forgood.domain.errors import PatchError
from streams import faust_patches
from streams.faust_patches import undecodable_batches as undecodable
from streams.faust_patches import versions
from tests.support.faust_patches_fakes import FakeFaustConsumer

faust_patches.install()
add_gap = faust_consumer.Consumer._add_gap  # noqa: SLF001 (the patched method under test)
new_offset = faust_consumer.Consumer._new_offset  # noqa: SLF001 (Faust's commit computation, upstream)
patched_getmany = faust_consumer.ThreadDelegateConsumer._getmany  # noqa: SLF001 (the patched method under test)

NONE, GZIP, SNAPPY, LZ4, ZSTD = range(5)
HEADER = 61  # bytes before a v2 batch's (possibly compressed) records
CRC_AT, CRC_FROM = 17, 21  # the CRC32C field, and where the bytes it covers begin


def batch(codec: int, base: int, count: int) -> bytearray:
    """A v2 record batch of ``count`` records at offsets ``base..base+count-1``."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    for delta in range(count):
        value = b'{"video_id": "v-%d", "hashtags": ["PlainTag"], "pad": "%s"}' % (base + delta, b"x" * 40)
        builder.append(delta, timestamp=None, key=b"v-%d" % (base + delta), value=value, headers=[])
    data = bytearray(builder.build())
    struct.pack_into(">q", data, 0, base)
    return data


def with_crc(data: bytearray) -> bytearray:
    struct.pack_into(">I", data, CRC_AT, calc_crc32c(bytes(data[CRC_FROM:])))
    return data


def scrambled(data: bytearray, crc: bool = True) -> bytearray:
    """The compressed bytes damaged in the middle; the CRC recomputed (``crc``) or left stale."""
    middle = HEADER + (len(data) - HEADER) // 2
    for i in range(middle, min(middle + 8, len(data))):
        data[i] ^= 0x5A
    return with_crc(data) if crc else data


def unknown_codec(data: bytearray) -> bytearray:
    (attributes,) = struct.unpack_from(">h", data, CRC_FROM)
    struct.pack_into(">h", data, CRC_FROM, (attributes & ~0x7) | 5)
    return with_crc(data)


def fetched(topic: str, *batches: bytearray, check_crcs: bool = True) -> PartitionRecords:
    """What aiokafka's fetcher builds from one partition's fetch response (offset 0 on)."""
    return PartitionRecords(TopicPartition(topic, 0), MemoryRecords(b"".join(map(bytes, batches))),
                            None, 0, None, None, check_crcs, READ_UNCOMMITTED)


def fetch_result(records: PartitionRecords, position: int = 0):
    """aiokafka's FetchResult over ``records`` and the partition state it moves."""
    state = SimpleNamespace(position=position, paused=False)
    state.consumed_to = lambda offset: setattr(state, "position", offset)
    assignment = SimpleNamespace(active=True, state_value=lambda tp: state)
    tp = records._tp  # noqa: SLF001 (aiokafka's PartitionRecords keeps its partition private)
    return FetchResult(tp, assignment=assignment, partition_records=records, backoff=0), state


def counted(topic: str, reason: str) -> tuple[float, float]:
    batches = REGISTRY.get_sample_value("forgood_undecodable_batches_total", {"topic": topic, "reason": reason})
    records = REGISTRY.get_sample_value("forgood_undecodable_records_total", {"topic": topic})
    return batches or 0.0, records or 0.0


@pytest.fixture(autouse=True)
def fresh_state():
    undecodable.reset()
    yield
    undecodable.reset()


@pytest.fixture
def no_lz4(monkeypatch):
    """Call it to make aiokafka what it is without cramjam: lz4 batches cannot be decoded
    (nor built: build them first)."""
    return lambda: monkeypatch.setattr(aiokafka.codec, "has_lz4", lambda: False)


@pytest.fixture
def upstream(monkeypatch):
    """aiokafka's PartitionRecords as shipped (the patch undone for one test)."""
    monkeypatch.setattr(PartitionRecords, "__init__", undecodable.UPSTREAM["PartitionRecords.__init__"])


# --- upstream: the crash loop ------------------------------------------------------------------


def test_upstream_a_batch_without_its_codec_library_raises_and_the_position_stays_before_it(no_lz4, upstream):
    batches = batch(NONE, 0, 3), batch(LZ4, 3, 5), batch(NONE, 8, 2)
    no_lz4()
    result, state = fetch_result(fetched("up-lz4", *batches))
    with pytest.raises(UnsupportedCodecError, match="lz4"):
        result.getall()  # what Fetcher.fetched_records -> Faust's getmany calls
    # The three records before it were handed out inside the failed call, then lost with it;
    # the partition's position never moved, so the next fetch (or a restarted worker, from
    # the committed offset) returns the same batch, which raises the same way: a crash loop.
    assert state.position == 0
    again, _ = fetch_result(fetched("up-lz4", *batches))
    with pytest.raises(UnsupportedCodecError):
        again.getall()


@pytest.mark.parametrize("codec", [GZIP, SNAPPY, LZ4, ZSTD])
def test_upstream_corrupt_compressed_bytes_with_a_valid_crc_raise_on_every_fetch(upstream, codec):
    bad = scrambled(batch(codec, 0, 20))
    assert MemoryRecords(bytes(bad)).next_batch().validate_crc()
    for _ in range(2):
        result, state = fetch_result(fetched("up-corrupt", bad))
        with pytest.raises(Exception) as raised:
            result.getall()
        assert not isinstance(raised.value, CorruptRecordException)  # a decoder's own error
        assert state.position == 0


# --- the patch -----------------------------------------------------------------------------


def test_a_batch_without_its_codec_library_is_skipped_counted_and_logged(no_lz4, caplog):
    topic = "fix-lz4"
    before = counted(topic, "codec_unavailable")
    caplog.set_level(logging.DEBUG, logger=undecodable.__name__)
    first, lz4, last = batch(NONE, 0, 3), batch(LZ4, 3, 5), batch(NONE, 8, 2)
    no_lz4()
    result, state = fetch_result(fetched(topic, first, lz4, last))
    assert [r.offset for r in result.getall()] == [0, 1, 2, 8, 9]
    assert state.position == 10  # past the skipped batch: the next fetch goes on from there
    assert counted(topic, "codec_unavailable") == (before[0] + 1, before[1] + 5)
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    message = error.getMessage()
    assert f"{topic}[0] offsets 3..7 (5 records, codec lz4)" in message
    assert "UnsupportedCodecError" in message and "NOT counted" in message
    assert undecodable.covered(topic, 0, 3, 8) and not undecodable.covered(topic, 0, 2, 8)

    # Fetched again (a seek back, a re-fetch): skipped again, but counted and logged once.
    caplog.clear()
    records = fetched(topic, lz4, last)
    records.next_fetch_offset = 3  # as aiokafka builds it for a fetch from offset 3
    result, state = fetch_result(records, position=3)
    assert [r.offset for r in result.getall()] == [8, 9]
    assert counted(topic, "codec_unavailable") == (before[0] + 1, before[1] + 5)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("codec", [GZIP, SNAPPY, LZ4, ZSTD])
def test_corrupt_compressed_bytes_with_a_valid_crc_are_skipped(codec):
    topic = f"fix-corrupt-{codec}"
    before = counted(topic, "corrupt")
    records = fetched(topic, batch(codec, 0, 4), scrambled(batch(codec, 4, 20)), batch(codec, 24, 1))
    result, state = fetch_result(records)
    assert [r.offset for r in result.getall()] == [0, 1, 2, 3, 24]
    assert state.position == 25
    assert counted(topic, "corrupt") == (before[0] + 1, before[1] + 20)


def test_an_unknown_codec_is_skipped_as_unavailable():
    topic = "fix-unknown"
    before = counted(topic, "codec_unavailable")
    result, state = fetch_result(fetched(topic, unknown_codec(batch(NONE, 0, 3)), batch(NONE, 3, 1)))
    assert [r.offset for r in result.getall()] == [3]
    assert counted(topic, "codec_unavailable") == (before[0] + 1, before[1] + 3)


def test_a_batch_damaged_on_the_way_is_not_skipped():
    # A wrong CRC means the bytes may be fine on the broker: fetch again, as upstream does.
    damaged = scrambled(batch(GZIP, 0, 20), crc=False)
    result, state = fetch_result(fetched("fix-damaged", damaged))
    with pytest.raises(CorruptRecordException):
        result.getall()  # aiokafka's own CRC check (check_crcs, the default)
    result, state = fetch_result(fetched("fix-damaged", damaged, check_crcs=False))
    with pytest.raises(zlib.error):
        result.getall()  # the decoder's error, re-raised by the patch after its own CRC check
    assert state.position == 0 and not undecodable.covered("fix-damaged", 0, 0, 20)


def test_records_of_a_decodable_batch_are_handed_out_unchanged():
    records = fetched("fix-ok", batch(ZSTD, 0, 30), batch(NONE, 30, 2))
    result, state = fetch_result(records)
    got = result.getall()
    assert [r.offset for r in got] == list(range(32))
    assert got[5].key == b"v-5" and got[5].value.startswith(b'{"video_id": "v-5"')
    assert state.position == 32 and not undecodable.covered("fix-ok", 0, 0, 1)


# --- Faust's commit bookkeeping ------------------------------------------------------------


def jumps() -> float:
    return REGISTRY.get_sample_value("forgood_offset_jumps_total") or 0.0


def test_a_jump_over_skipped_batches_is_acknowledged_not_re_sought(no_lz4):
    tp = TP("fix-jump", 0)
    batches = batch(NONE, 0, 3), batch(LZ4, 3, 5), batch(NONE, 8, 2)
    no_lz4()
    fetch_result(fetched(tp.topic, *batches))[0].getall()
    consumer = FakeFaustConsumer(committed={tp: None})
    before = jumps()
    # Faust's _drain_messages read offset 2, then 8: it calls _add_gap(tp, 3, 8).
    asyncio.run(add_gap(consumer, tp, 3, 8))
    assert jumps() == before and consumer.seeks == 0
    assert consumer.gaps(tp) == [(3, 8)]
    # Faust's own commit computation then moves past the skipped offsets.
    consumer.set_acked(tp, [0, 1, 2, 8, 9])
    assert new_offset(consumer, tp) == 10


def test_any_other_jump_still_seeks_back_to_the_committed_offsets():
    tp = TP("fix-jump-unread", 0)
    consumer = FakeFaustConsumer(committed={tp: 5})
    before = jumps()

    async def scenario():
        await add_gap(consumer, tp, 7, 12)
        await consumer.pending_reseek()

    asyncio.run(scenario())
    assert jumps() == before + 1 and consumer.seeks == 1  # offset_jumps, unchanged
    assert not consumer.gaps(tp)


def test_skipped_offsets_of_assigned_partitions_are_acknowledged_after_each_fetch(no_lz4):
    source, other = TP("fix-pending", 0), TP("fix-pending-registry", 0)
    batches = batch(LZ4, 0, 4), batch(NONE, 4, 1)
    no_lz4()

    async def getmany(active_partitions, timeout):  # the consumer thread's fetch
        for tp in (source, other):
            fetch_result(fetched(tp.topic, *batches))[0].getall()
        return {}

    consumer = FakeFaustConsumer(assigned={source}, committed={source: None},
                                 thread=SimpleNamespace(getmany=getmany))
    assert asyncio.run(patched_getmany(consumer, {source}, 1.0)) == {}
    assert consumer.gaps(source) == [(0, 4)]
    assert not consumer.gaps(other)  # not Faust's partition (the campaign registry's consumer)
    assert undecodable.pending() == 0


def test_offsets_at_or_below_the_committed_one_are_not_marked_again():
    tp = TP("fix-committed", 0)
    consumer = FakeFaustConsumer(committed={tp: 5})
    undecodable.mark_acknowledged(consumer, tp, 3, 7)
    assert consumer.gaps(tp) == [(6, 8)]


# --- installation ----------------------------------------------------------------------------


def test_marking_acknowledged_is_upstream_add_gap(monkeypatch):
    # mark_acknowledged repeats Faust's own _add_gap (run synchronously after each fetch).
    tp = TP("fix-same-as-upstream", 0)
    ours, theirs = FakeFaustConsumer(committed={tp: 5}), FakeFaustConsumer(committed={tp: 5})
    undecodable.mark_acknowledged(ours, tp, 3, 9)
    asyncio.run(undecodable.offset_jumps.UPSTREAM["Consumer._add_gap"](theirs, tp, 3, 9))
    assert ours.gaps(tp) == theirs.gaps(tp) == [(6, 10)]


def test_install_refuses_library_versions_it_was_not_verified_with(monkeypatch):
    monkeypatch.setattr(undecodable, "_installed", False)
    monkeypatch.setattr(versions, "installed_versions",
                        lambda: {**versions.VERIFIED, "aiokafka": "0.15.0"})
    original = aiokafka_fetcher.PartitionRecords.__init__
    refusal = "aiokafka 0.15.0 is installed, the patches were verified with aiokafka 0.14.0"
    with pytest.raises(PatchError, match=refusal):
        undecodable.install()
    assert aiokafka_fetcher.PartitionRecords.__init__ is original
