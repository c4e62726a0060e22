"""Contract of streams.faust_patches.recovery_seek (fix 5): after recovery, the stream partitions
are sought with the consumer's flow stopped.

Upstream, Faust's ``Recovery.on_recovery_completed`` (``Recovery._resume_streams`` for an app
without tables) seeks the stream partitions to their committed offsets while the consumer's
flow is still active from reading the changelogs: the fetcher delivers what it fetches from the
sought positions into the streams' queues meanwhile, and ``app.flow_control.resume()`` then
empties those queues (mode's ``FlowControlEvent``, for real here). The events are dropped and
the fetch position is past them. Patched, nothing is delivered during the seek, and the same
events are delivered once Faust resumes the flow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from faust.tables.recovery import Recovery
from faust.transport import consumer as faust_consumer
from faust.types import TP
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from streams import faust_patches
from streams.faust_patches import recovery_seek

faust_patches.install()
METHODS = ["on_recovery_completed", "_resume_streams"]
SOURCE = TP("video-created", 0)
COMMITTED, END = 420, 425  # the worker before the crash processed and committed up to 420


class FakeConsumer:
    """What the two recovery methods touch of Faust's consumer, with Faust's own ``stop_flow``
    and ``resume_flow``; and its fetcher (:meth:`drain`), which delivers what it fetches into
    the stream's queue while the flow is active, as ``Consumer._drain_messages`` does."""

    stop_flow = faust_consumer.Consumer.stop_flow
    resume_flow = faust_consumer.Consumer.resume_flow

    def __init__(self, queue: FlowControlQueue) -> None:
        self.flow_active = True  # resumed by the recovery to read the changelogs
        self.can_resume_flow = asyncio.Event()
        self.suspend_flow = asyncio.Event()
        self.queue = queue
        self.position = END  # fetched up to here before the seek (and dropped by the rebalance)
        self.seeking = False
        self.seeks = 0
        self.delivered_while_seeking: list[int] = []

    def assignment(self) -> set[TP]:
        return {SOURCE}

    def resume_partitions(self, tps: Any) -> None:
        assert set(tps) == {SOURCE}

    async def perform_seek(self) -> None:
        self.seeks += 1
        self.position = COMMITTED  # aiokafka's seek to the committed offset: at once
        self.seeking = True
        # ... then e.g. never_committed's seek to the beginning of another partition, which
        # waits for the fetch in flight (up to fetch_max_wait, 1.5 s).
        await asyncio.sleep(0.05)
        self.seeking = False

    async def drain(self) -> None:
        while True:
            if self.flow_active and self.position < END:
                self.queue.put_nowait(self.position)
                if self.seeking:
                    self.delivered_while_seeking.append(self.position)
                self.position += 1
            await asyncio.sleep(0.001)


class FakeTables(dict):
    def on_actives_ready(self) -> None: ...

    def on_standbys_ready(self) -> None: ...


async def nothing(*args: Any, **kwargs: Any) -> None: ...


def fake_recovery(generation: int = 1) -> tuple[Any, FakeConsumer, FlowControlQueue]:
    """What the two methods touch of Faust's Recovery and app; a stream queue as Faust makes
    one (``clear_on_resume=True``) on the app's flow control, active since the changelogs."""
    flow_control = FlowControlEvent(initially_suspended=False)
    queue: FlowControlQueue = FlowControlQueue(flow_control=flow_control, clear_on_resume=True)
    consumer = FakeConsumer(queue)

    async def wait(coro: Any, timeout: float | None = None) -> None:
        await coro

    app = SimpleNamespace(
        consumer=consumer, flow_control=flow_control, consumer_generation_id=generation,
        on_rebalance_complete=SimpleNamespace(send=nothing), conf=SimpleNamespace(broker_request_timeout=30.0),
        _fetcher=SimpleNamespace(maybe_start=nothing), assignor=SimpleNamespace(assigned_standbys=set),
        on_rebalance_end=lambda: None,
    )
    log = SimpleNamespace(info=lambda *a: None, dev=lambda *a: None, warning=lambda *a: None)
    recovery = SimpleNamespace(
        app=app, log=log, tables=FakeTables(), actives_for_table={}, standbys_for_table={},
        _set_recovery_ended=lambda: None, _is_changelog_tp=lambda tp: False, _wait=wait,
        completed=asyncio.Event(),
    )
    return recovery, consumer, queue


def run(method: Callable[..., Awaitable[None]], generation: int = 1) -> tuple[FakeConsumer, list[int]]:
    """Recovery generation 1 ends with ``method``; the fetcher runs throughout. Returns the
    consumer and what the stream can still read afterwards."""

    async def scenario() -> tuple[FakeConsumer, list[int]]:
        recovery, consumer, queue = fake_recovery(generation)
        fetcher = asyncio.ensure_future(consumer.drain())
        await method(recovery, 1)
        await asyncio.sleep(0.05)  # the fetcher goes on, if the flow was resumed
        fetcher.cancel()
        return consumer, [queue.get_nowait() for _ in range(queue.qsize())]

    return asyncio.run(scenario())


@pytest.mark.parametrize("name", METHODS)
def test_upstream_drops_what_is_fetched_while_the_stream_partitions_are_sought(name: str) -> None:
    consumer, readable = run(recovery_seek.UPSTREAM[f"Recovery.{name}"])
    assert consumer.delivered_while_seeking == [420, 421, 422, 423, 424]
    assert readable == []  # emptied by flow_control.resume(): never processed, never acknowledged
    assert consumer.position == END  # ... and not fetched again


@pytest.mark.parametrize("name", METHODS)
def test_nothing_is_delivered_during_the_seek_and_everything_after_it(name: str) -> None:
    consumer, readable = run(getattr(Recovery, name))
    assert consumer.seeks == 1
    assert consumer.delivered_while_seeking == []
    assert consumer.flow_active  # resumed by Faust's own code, after the seek
    assert readable == [420, 421, 422, 423, 424]  # read from the committed offset


@pytest.mark.parametrize("name", METHODS)
def test_the_flow_stays_stopped_when_another_rebalance_started_meanwhile(name: str) -> None:
    consumer, readable = run(getattr(Recovery, name), generation=2)
    assert consumer.seeks == 0  # Faust returns early, as upstream
    assert not consumer.flow_active and readable == []  # the next recovery seeks and resumes it
    consumer, _ = run(recovery_seek.UPSTREAM[f"Recovery.{name}"], generation=2)
    assert consumer.flow_active  # upstream: left delivering what the rebalance will drop


def test_the_streams_flow_control_is_left_alone() -> None:
    async def scenario() -> list[tuple[bool, bool]]:
        recovery, consumer, _ = fake_recovery()
        stopped_at_seek: list[tuple[bool, bool]] = []
        seek = consumer.perform_seek

        async def perform_seek() -> None:
            stopped_at_seek.append((consumer.flow_active, recovery.app.flow_control.is_active()))
            await seek()

        consumer.perform_seek = perform_seek  # type: ignore[method-assign]
        await Recovery.on_recovery_completed(recovery, 1)
        return stopped_at_seek

    # The consumer's flow is stopped during the seek; the streams' flow control (what makes
    # a stream skip an event, see stale_ack) stays active.
    assert asyncio.run(scenario()) == [(False, True)]
