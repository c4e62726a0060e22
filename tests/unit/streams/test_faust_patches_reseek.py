"""Contract of streams.faust_patches.reseek: the seek back to the committed offsets (what
stale_ack and offset_jumps schedule) runs with the consumer's flow stopped.

Upstream, Faust's ``Consumer.perform_seek`` (run here for real) moves aiokafka's fetch
position first and resets Faust's read offset only once the seek is done; the fetch loop,
active meanwhile, gets the events from the sought position with offsets below the old read
offset and drops them (``_drain_messages``' "DROPPED MESSAGE ROFF"), and the fetch position
is then past them: exactly the events the seek was for are not read again. Patched, nothing
is fetched during the seek and everything from the committed offset is delivered after it;
what was delivered before stays in the stream's queue (mode's ``FlowControlQueue`` on the
app's ``FlowControlEvent``, for real here: nothing resumes or clears it). If a rebalance began
meanwhile, the flow stays stopped for that rebalance's recovery to resume.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport import consumer as faust_consumer
from faust.types import TP
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from streams import faust_patches
from streams.faust_patches import offset_jumps, reseek, stale_ack

faust_patches.install()
SOURCE = TP("video-created", 0)
END = 430  # fetched up to here before the seek
#: Handed over to the stream before the seek and still in its queue (the seek is for 420..424:
#: skipped as stale, or jumped over).
QUEUED = [425, 426, 427, 428, 429]
#: The committed offset (420), or never committed: the beginning of the partition (415).
CASES = {"committed": (420, 420), "never-committed": (None, 415)}


class FetchingConsumer:
    """Faust's consumer as the seek sees it: Faust's own ``perform_seek``, ``stop_flow``,
    ``resume_flow`` and ``maybe_wait_for_commit_to_finish``; aiokafka's seek (the fetch position
    moves at once, :meth:`seek_to_committed`); and the fetch loop (:meth:`drain`), which hands
    over to the stream an offset at or above the read offset while the flow is active and drops
    any other, as ``Consumer._drain_messages`` does."""

    perform_seek = faust_consumer.Consumer.perform_seek
    stop_flow = faust_consumer.Consumer.stop_flow
    resume_flow = faust_consumer.Consumer.resume_flow
    maybe_wait_for_commit_to_finish = faust_consumer.Consumer.maybe_wait_for_commit_to_finish

    def __init__(self, committed: int | None, beginning: int) -> None:
        flow_control = FlowControlEvent(initially_suspended=False)
        self.queue: FlowControlQueue = FlowControlQueue(flow_control=flow_control, clear_on_resume=True)
        for offset in QUEUED:
            self.queue.put_nowait(offset)
        self.app = SimpleNamespace(consumer_generation_id=1, rebalancing=False, flow_control=flow_control)
        self.flow_active = True
        self.can_resume_flow = asyncio.Event()
        self.suspend_flow = asyncio.Event()
        self._commit_fut: Any = None
        self._read_offset: defaultdict = defaultdict(lambda: None, {SOURCE: END - 1})
        self._committed_offset: defaultdict = defaultdict(lambda: None)
        self.committed, self.beginning = committed, beginning
        self.position = END
        self.dropped: list[int] = []
        self.events: list[str] = []
        #: Called halfway through the seek (e.g. a rebalance beginning).
        self.during_seek: Callable[[FetchingConsumer], None] = lambda consumer: None

    async def seek_to_committed(self) -> dict[TP, int | None]:
        # aiokafka, in the consumer thread: Fetcher.seek_to moves the fetch position at once
        # (never_committed: to the beginning) ...
        self.events.append("seek")
        self.position = self.beginning if self.committed is None else self.committed
        # ... then the other partitions' committed() look-ups and seeks, never_committed's wait.
        await asyncio.sleep(0.05)
        self.during_seek(self)
        return {SOURCE: self.committed}

    async def drain(self) -> None:
        while True:
            if self.flow_active and self.position < END:
                offset, self.position = self.position, self.position + 1  # consumed by aiokafka
                read = self._read_offset[SOURCE]
                if read is None or offset >= read:
                    self.queue.put_nowait(offset)
                    self._read_offset[SOURCE] = offset
                else:
                    self.dropped.append(offset)  # "DROPPED MESSAGE ROFF"
            await asyncio.sleep(0.001)

    def readable(self) -> list[int]:
        return [self.queue.get_nowait() for _ in range(self.queue.qsize())]


async def unguarded(consumer: Any) -> None:
    """What the seek back was before this fix: Faust's ``perform_seek`` with the flow active."""
    await consumer.perform_seek()


def run(seek: Callable[[Any], Awaitable[None]], case: str,
        prepare: Callable[[FetchingConsumer], None] = lambda consumer: None) -> FetchingConsumer:
    """The seek back runs while the fetch loop runs, which goes on for a while after it."""

    async def scenario() -> FetchingConsumer:
        consumer = FetchingConsumer(*CASES[case])
        prepare(consumer)
        fetcher = asyncio.ensure_future(consumer.drain())
        await seek(consumer)
        await asyncio.sleep(0.05)
        fetcher.cancel()
        return consumer

    return asyncio.run(scenario())


@pytest.mark.parametrize("case", CASES)
def test_upstream_drops_what_is_fetched_while_the_partitions_are_sought(case: str) -> None:
    consumer = run(unguarded, case)
    first = CASES[case][1]
    assert consumer.dropped == list(range(first, END - 1))  # 420..424 among them: never read again
    assert consumer.readable() == [*QUEUED, END - 1]
    assert consumer.position == END  # ... and the fetch position is past them
    # The read offset is back at the committed offset: the next event (430) is a jump (another
    # seek, same race) when committed; never committed (None), no jump is seen at all, and the
    # commit moves past the dropped events (Faust's _new_offset, with no committed offset).
    assert consumer._read_offset[SOURCE] == CASES[case][0]  # noqa: SLF001 (Faust's read offsets)


@pytest.mark.parametrize("case", CASES)
def test_nothing_is_fetched_during_the_seek_and_everything_after_it(case: str) -> None:
    consumer = run(reseek._reseek, case)  # noqa: SLF001 (the scheduled seek, awaited)
    first = CASES[case][1]
    assert consumer.dropped == []
    assert consumer.flow_active  # resumed after the seek
    # Delivered before the seek: still queued (nothing cleared); then all from the committed offset.
    assert consumer.readable() == [*QUEUED, *range(first, END)]
    assert consumer.app.flow_control.is_active()  # the streams' flow control is left alone


def rebalance_begins(consumer: FetchingConsumer) -> None:
    consumer.app.rebalancing = True  # App.on_rebalance_start
    consumer.stop_flow()  # App.on_partitions_revoked


def new_generation(consumer: FetchingConsumer) -> None:
    consumer.stop_flow()
    consumer.app.consumer_generation_id = 2  # partitions assigned anew


@pytest.mark.parametrize("rebalance", [rebalance_begins, new_generation])
def test_the_flow_stays_stopped_when_a_rebalance_began_during_the_seek(rebalance: Callable) -> None:
    consumer = run(reseek._reseek, "committed",  # noqa: SLF001 (the scheduled seek, awaited)
                   lambda c: setattr(c, "during_seek", rebalance))
    assert consumer.events == ["seek"]
    assert not consumer.flow_active  # the rebalance's recovery seeks and resumes it
    assert consumer.dropped == [] and consumer.readable() == QUEUED


def test_a_flow_already_stopped_is_sought_and_left_stopped() -> None:
    for stopped_by in (FetchingConsumer.stop_flow, rebalance_begins):
        consumer = run(reseek._reseek, "committed", stopped_by)  # noqa: SLF001 (the scheduled seek)
        assert consumer.events == ["seek"] and not consumer.flow_active


def test_the_flow_is_resumed_when_the_seek_fails(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise RuntimeError("partitions moved")

    caplog.set_level(logging.WARNING, logger=reseek.__name__)
    consumer = run(reseek._reseek, "committed",  # noqa: SLF001 (the scheduled seek, awaited)
                   lambda c: setattr(c, "seek_to_committed", fails))
    assert consumer.flow_active
    assert [r.getMessage() for r in caplog.records] == [
        "re-seek to committed offsets failed: RuntimeError('partitions moved')"]


def test_the_seek_waits_for_a_commit_in_flight() -> None:
    """The fetch loop may be in its every-``broker_commit_every`` commit when the flow stops:
    the seek starts once that commit is done, so the loop has seen the stop before."""

    async def scenario() -> FetchingConsumer:
        consumer = FetchingConsumer(*CASES["committed"])
        commit = consumer._commit_fut = asyncio.get_running_loop().create_future()  # noqa: SLF001 (Faust's commit in flight)

        def done() -> None:
            consumer.events.append("commit done")
            commit.set_result(None)

        asyncio.get_running_loop().call_later(0.1, done)
        await reseek._reseek(consumer)  # noqa: SLF001 (the scheduled seek, awaited)
        return consumer

    consumer = asyncio.run(scenario())
    assert consumer.events == ["commit done", "seek"] and consumer.flow_active


@pytest.mark.parametrize("patch", [stale_ack, offset_jumps])
def test_both_patches_check_what_the_seek_calls(patch: Any) -> None:
    keys = {target.key for target in patch.TARGETS}
    assert {target.key for target in reseek.TARGETS} <= keys
    assert {"Consumer.stop_flow", "Consumer.resume_flow", "Consumer.perform_seek",
            "Consumer.maybe_wait_for_commit_to_finish", "AppT.rebalancing",
            "AppT.consumer_generation_id", "Consumer.flow_active"} <= keys
