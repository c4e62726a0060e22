"""Skip a record batch the worker can never decode, instead of crash-looping on it.

**Upstream cost** (aiokafka 0.14.0 under faust-streaming 0.15.3). aiokafka decodes the record
batches of a fetch lazily, while Faust's fetcher drains them (``PartitionRecords.
_unpack_records``, under ``Fetcher.fetched_records``, under Faust's ``Consumer.getmany``). A
batch it cannot decode raises out of ``getmany``: a codec without its library
(``UnsupportedCodecError: Libraries for lz4 compression codec not found`` when ``cramjam`` is
missing), a codec aiokafka does not know, or compressed bytes that do not decompress
(``zlib.error``, ``EOFError``, ``cramjam.DecompressionError``, ...). Faust's
``_drain_messages`` re-raises, the worker crashes, and the restarted worker fetches the same
batch from the same committed offset and crashes again: a crash loop that stops all counting,
on every partition, until someone deletes the batch or installs the library.

**Patch.** :func:`install` (once per process) changes three things:

1. **All or nothing per batch** (``PartitionRecords.__init__`` wrapped). Each batch is decoded
   in full before its first record is handed out. If decoding raises and the batch's CRC is
   valid -- its bytes are exactly what the producer wrote, so every retry fails the same way
   -- the batch yields no record, and aiokafka's own loop moves the partition's position past
   it (``next_offset``). A batch whose CRC is wrong (it may have been damaged on the way) is
   left to aiokafka, which raises as before and fetches it again.
2. **Loud.** The first time a batch is skipped it is logged (ERROR: topic, partition, offset
   range, codec, reason) and counted in ``forgood_undecodable_batches_total{topic,reason}``
   and ``forgood_undecodable_records_total{topic}`` (records = offsets in the batch). The
   same batch met again in this process (re-fetched after a seek) is skipped silently.
3. **Committed past** (``ThreadDelegateConsumer._getmany`` and ``Consumer._add_gap``
   wrapped). The skipped offsets are marked as acknowledged (a "gap" in Faust's commit
   bookkeeping, exactly as Faust itself treats offsets missing from a compacted topic), so the
   commit moves on once the records after them are processed; and an offset jump that spans
   only skipped batches is not answered by :mod:`.offset_jumps`' seek back to the committed
   offsets (that seek is for offsets that were never *read*; here it would re-fetch and
   re-skip the batch forever). :mod:`.offset_jumps` must therefore be installed first.

**The events of a skipped batch are not counted.** They are still on the source topic until
its retention ends: the log line names the partition and offsets, so they can be re-read and
replayed (``forgood produce --from``) once the cause is fixed. Dead-lettering the raw batch
is not done here (see the README). The patch applies to every aiokafka consumer of the
process (Faust's and the campaign registry's); only Faust's needs the commit bookkeeping.

**Verified on** aiokafka 0.14.0, faust-streaming 0.15.3 (mode-streaming 0.7.1).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from aiokafka import TopicPartition
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.errors import UnsupportedCodecError
from faust.transport import consumer as faust_consumer
from faust.types import TP

from streams import metrics
from streams.faust_patches import offset_jumps, targets, versions

log = logging.getLogger(__name__)

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
PartitionRecords = aiokafka_fetcher.PartitionRecords
Consumer = faust_consumer.Consumer
Delegate = faust_consumer.ThreadDelegateConsumer
TARGETS = [
    targets.Target(PartitionRecords, "__init__", "(self, tp, records, aborted_transactions, fetch_offset, "
                   "key_deserializer, value_deserializer, check_crcs, isolation_level)"),
    targets.Target(Delegate, "_getmany", "(self, active_partitions, timeout)", coroutine=True),
    # offset_jumps' handler (the first parameter of a forgood patch is named for what it is).
    targets.Target(Consumer, "_add_gap", "(consumer, tp, offset_from, offset_to)", coroutine=True,
                   patched_by=offset_jumps.__name__),
]
#: The targets as they were before :func:`install` (``Consumer._add_gap`` is then
#: :mod:`.offset_jumps`' own); the tests use them to check the upstream behaviour.
UPSTREAM: dict[str, Any] = {}

_installed = False
_lock = threading.Lock()
#: (topic, partition) -> sorted, merged [first, next) offset ranges skipped in this process.
_skipped: dict[tuple[str, int], list[tuple[int, int]]] = {}
#: Skips not yet marked on Faust's consumer: (topic, partition, first, next). Appended by the
#: consumer thread, drained on the event loop after each fetch (deque ops are thread-safe).
_pending: collections.deque = collections.deque()


def reset() -> None:
    """Forget every skipped batch (for tests: each starts from a process that skipped none)."""
    with _lock:
        _skipped.clear()
    _pending.clear()


def pending() -> int:
    """Skips not yet marked as acknowledged on Faust's consumer."""
    return len(_pending)


def _merge(ranges: list[tuple[int, int]], first: int, end: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in sorted([*ranges, (first, end)]):
        if merged and start <= merged[-1][1]:  # overlapping or adjacent
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _covered(topic: str, partition: int, first: int, end: int) -> bool:
    position = first
    for start, stop in _skipped.get((topic, partition), ()):
        if start <= position < stop:
            position = stop
    return position >= end


def covered(topic: str, partition: int, first: int, end: int) -> bool:
    """True if every offset in ``[first, end)`` lies in a batch skipped in this process."""
    with _lock:
        return _covered(topic, partition, first, end)


def _skip(tp: TopicPartition, batch: Any, exc: Exception) -> None:
    """Record, count and log (once per batch) a batch that yields no records."""
    first, end = batch.base_offset, batch.next_offset
    codec = CODECS.get(batch.compression_type, f"unknown ({batch.compression_type})")
    key = (tp.topic, tp.partition)
    with _lock:
        seen = _covered(tp.topic, tp.partition, first, end)
        _skipped[key] = _merge(_skipped.get(key, []), first, end)
    _pending.append((tp.topic, tp.partition, first, end))
    if seen:
        log.debug("skipped undecodable batch %s[%d]@%d..%d again", tp.topic, tp.partition, first, end - 1)
        return
    reason = "codec_unavailable" if isinstance(exc, UnsupportedCodecError) else "corrupt"
    error = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
    metrics.UNDECODABLE_BATCHES.labels(tp.topic, reason).inc()
    metrics.UNDECODABLE_RECORDS.labels(tp.topic).inc(end - first)
    log.error(
        "skipping undecodable record batch %s[%d] offsets %d..%d (%d records, codec %s): %s -- "
        "its events are NOT counted; re-read them from the topic once the cause is fixed",
        tp.topic, tp.partition, first, end - 1, end - first, codec, error,
    )


class _Batch:
    """A record batch that is decoded in full (all or nothing) when iterated."""

    __slots__ = ("_tp", "_batch")

    def __init__(self, tp: TopicPartition, batch: Any) -> None:
        self._tp = tp
        self._batch = batch

    def __getattr__(self, name: str) -> Any:  # base_offset, next_offset, validate_crc, producer_id, ...
        return getattr(self._batch, name)

    def __next__(self) -> Any:  # aiokafka reads a control batch's marker with next()
        return next(self._batch)

    def __iter__(self) -> Iterator[Any]:
        batch = self._batch
        try:
            records = list(batch)
        except Exception as exc:
            if getattr(batch, "base_offset", None) is None or not batch.validate_crc():
                raise  # a legacy (v0/v1) batch, or bytes damaged on the way: as upstream
            _skip(self._tp, batch, exc)
            return iter(())
        return iter(records)


class _Records:
    """aiokafka's MemoryRecords of one fetched partition, handing out guarded batches."""

    __slots__ = ("_tp", "_records")

    def __init__(self, tp: TopicPartition, records: Any) -> None:
        self._tp = tp
        self._records = records

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)

    def has_next(self) -> bool:
        return self._records.has_next()

    def next_batch(self) -> _Batch | None:
        batch = self._records.next_batch()
        return None if batch is None else _Batch(self._tp, batch)


def mark_acknowledged(consumer: faust_consumer.Consumer, tp: TP, offset_from: int, offset_to: int) -> None:
    """Faust's own ``Consumer._add_gap`` (upstream, before :mod:`.offset_jumps` replaced it), on
    the event loop without yielding: offsets ``offset_from..offset_to`` (inclusive) count as
    acknowledged when committing."""
    committed = consumer._committed_offset[tp]  # noqa: SLF001 (Faust's last committed offset: never mark below it, as upstream)
    if committed is not None:
        offset_from = max(offset_from, committed + 1)
    if offset_from <= offset_to:
        gap = consumer._gap[tp]  # noqa: SLF001 (Faust's gap bookkeeping, where upstream _add_gap marks offsets)
        gap.addi(offset_from, offset_to + 1)
        gap.merge_overlaps()


def _mark_pending(consumer: faust_consumer.Consumer) -> None:
    assigned = None
    while _pending:
        try:
            topic, partition, first, end = _pending.popleft()
        except IndexError:
            break
        if assigned is None:
            assigned = consumer.assignment()
        tp = TP(topic, partition)
        if tp in assigned:  # not the campaign registry's own consumer
            mark_acknowledged(consumer, tp, first, end - 1)


def install() -> None:
    """Patch aiokafka's PartitionRecords and Faust's consumer once per process (idempotent).

    Installs :mod:`.offset_jumps` first: its offset-jump handler is wrapped here, not replaced.
    """
    global _installed
    if _installed:
        return
    versions.require()
    offset_jumps.install()
    found = targets.check(__name__, TARGETS)
    original_init = found["PartitionRecords.__init__"]
    original_getmany = found["ThreadDelegateConsumer._getmany"]
    on_jump = found["Consumer._add_gap"]

    def __init__(self: Any, tp: TopicPartition, records: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, tp, _Records(tp, records), *args, **kwargs)

    async def _getmany(
        consumer: faust_consumer.ThreadDelegateConsumer, active_partitions: set[TP] | None, timeout: float
    ) -> Mapping[TP, list]:
        records = await original_getmany(consumer, active_partitions, timeout)
        if _pending:
            _mark_pending(consumer)
        return records

    async def _add_gap(consumer: faust_consumer.Consumer, tp: TP, offset_from: int, offset_to: int) -> None:
        # Called by _drain_messages with the unread offsets offset_from..offset_to - 1.
        if covered(tp.topic, tp.partition, offset_from, offset_to):
            mark_acknowledged(consumer, tp, offset_from, offset_to - 1)
            return
        await on_jump(consumer, tp, offset_from, offset_to)

    UPSTREAM.update(found)
    targets.replace(PartitionRecords, "__init__", __init__, __name__,
                    "PartitionRecords over guarded batches (see streams.faust_patches.undecodable_batches).")
    targets.replace(Delegate, "_getmany", _getmany, __name__,
                    "Fetch, then mark batches skipped as undecodable as acknowledged "
                    "(streams.faust_patches.undecodable_batches).")
    targets.replace(Consumer, "_add_gap", _add_gap, __name__,
                    "A jump over skipped undecodable batches only is no jump "
                    "(streams.faust_patches.undecodable_batches).")
    _installed = True
