"""Contract of streams.faust_patches.offset_reset_paths (fix 4): Faust's livelock check
(``AIOKafkaConsumerThread.verify_event_path``) leaves partitions that await an offset reset
alone.

Upstream, the check reads the partition's fetch position, and aiokafka asserts on the position
of a partition just sought to its beginning: the AssertionError stops the worker. Patched,
such a partition (or one not assigned) is skipped and any other goes to Faust's check.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka.consumer.subscription_state import Assignment
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams import faust_patches
from streams.faust_patches import offset_reset_paths

faust_patches.install()
verify = faust_aiokafka.AIOKafkaConsumerThread.verify_event_path
upstream_verify = offset_reset_paths.UPSTREAM["AIOKafkaConsumerThread.verify_event_path"]
SOURCE = "video-created"


def partition_states():
    """Real aiokafka partition states: partition 0 just sought (no position), 1 at offset 42."""

    async def make():
        assignment = Assignment({TopicPartition(SOURCE, 0), TopicPartition(SOURCE, 1)})
        assignment.state_value(TopicPartition(SOURCE, 1)).seek(42)
        return assignment

    return asyncio.run(make())


def fake_thread(assignment, verified: list, already_logged: bool = True):
    """What ``verify_event_path`` touches of Faust's AIOKafkaConsumerThread: aiokafka's partition
    states, and the first check of Faust's original (recorded; "already logged" returns at once,
    otherwise Faust goes on to read the partition's highwater and position)."""
    subscriptions = SimpleNamespace(subscription=SimpleNamespace(assignment=assignment))
    aiokafka_consumer = SimpleNamespace(_fetcher=SimpleNamespace(_subscriptions=subscriptions))
    app = SimpleNamespace(monitor=object(), topics=SimpleNamespace(acks_enabled_for=lambda topic: True))
    return SimpleNamespace(
        _ensure_consumer=lambda: aiokafka_consumer,
        _verify_aiokafka_event_path=lambda now, tp: verified.append(tp) or already_logged,
        consumer=SimpleNamespace(app=app),
        time_started=0.0,
        tp_stream_timeout_secs=1e9,
    )


def test_upstream_crashes_on_the_position_of_a_just_sought_partition():
    thread = fake_thread(partition_states(), [], already_logged=False)
    with pytest.raises(AssertionError):  # aiokafka's subscription_state.position: the worker stops
        upstream_verify(thread, 0.0, TP(SOURCE, 0))
    assert upstream_verify(thread, 0.0, TP(SOURCE, 1)) is None  # a position: checked as usual


def test_the_livelock_check_skips_a_partition_awaiting_its_offset_reset():
    verified: list = []
    thread = fake_thread(partition_states(), verified)
    assert verify(thread, 0.0, TP(SOURCE, 0)) is None  # no position: skipped, no AssertionError
    assert verify(thread, 0.0, TP(SOURCE, 1)) is None  # position set: Faust's check runs
    assert verify(thread, 0.0, TP(SOURCE, 9)) is None  # not assigned: skipped
    assert verified == [TP(SOURCE, 1)]
    unlogged = fake_thread(partition_states(), [], already_logged=False)
    assert verify(unlogged, 0.0, TP(SOURCE, 0)) is None  # where upstream raised


def test_the_livelock_check_skips_everything_without_a_subscription():
    verified: list = []
    thread = fake_thread(None, verified)
    assert verify(thread, 0.0, TP(SOURCE, 1)) is None
    thread = SimpleNamespace(_ensure_consumer=lambda: SimpleNamespace(_fetcher=SimpleNamespace()))
    assert verify(thread, 0.0, TP(SOURCE, 1)) is None  # rebalancing or stopping
    assert verified == []
