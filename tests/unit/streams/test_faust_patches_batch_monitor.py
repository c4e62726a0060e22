"""Contract of streams.faust_patches.batch_monitor: Faust's Prometheus sensor without its
per-message bookkeeping.

Upstream, ``PrometheusMonitor``'s four per-message hooks update eight series per message and
event (totals, active gauges, a per-partition offset gauge, a runtime histogram); the worker's
``BatchMonitor`` keeps messages received per topic only, and its other metrics untouched.
"""

from __future__ import annotations

import pytest
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry

from forgood.domain.errors import PatchError
from streams import faust_patches
from streams.faust_patches import batch_monitor
from streams.faust_patches.batch_monitor import BatchMonitor

faust_patches.install()
TOPIC = "video-created"


class FakeAgent:
    pass


class FakeStream:
    shortlabel = f"Stream: {TOPIC}"
    task_owner = FakeAgent()


class FakeMessage:
    time_in = time_out = time_total = None


def one_message_through(monitor_class) -> CollectorRegistry:
    """A monitor of ``monitor_class`` on its own registry, after one message and its event."""
    registry = CollectorRegistry()
    monitor = monitor_class(metrics=FaustMetrics.create(registry, "t"))
    tp, stream, message = TP(TOPIC, 3), FakeStream(), FakeMessage()
    for _ in range(2):
        monitor.on_message_in(tp, 41, message)
        state = monitor.on_stream_event_in(tp, 41, stream, None)
        monitor.on_stream_event_out(tp, 41, stream, None, state)
        monitor.on_message_out(tp, 41, message)
    return registry


PER_MESSAGE = [  # (series, labels, value after two messages upstream)
    ("t_messages_received_total", {}, 2),
    ("t_messages_received_per_topic_total", {"topic": TOPIC}, 2),
    ("t_messages_received_per_topics_partition", {"topic": TOPIC, "partition": "3"}, 41),
    ("t_total_events_total", {}, 2),
    ("t_total_events_per_stream_total", {"stream": "stream.video-created.events"}, 2),
    ("t_events_runtime_ms_count", {}, 2),
]


def values(registry: CollectorRegistry) -> dict[str, float | None]:
    return {name: registry.get_sample_value(name, labels) for name, labels, _ in PER_MESSAGE}


def test_upstream_updates_every_per_message_series():
    registry = one_message_through(PrometheusMonitor)
    assert values(registry) == {name: value for name, _, value in PER_MESSAGE}
    assert registry.get_sample_value("t_active_messages") == 0  # in, then out


def test_batch_monitor_counts_messages_per_topic_only():
    registry = one_message_through(BatchMonitor)
    assert values(registry) == {
        "t_messages_received_total": 0,
        "t_messages_received_per_topic_total": 2,  # kept: the one per-message figure the worker serves
        "t_messages_received_per_topics_partition": None,
        "t_total_events_total": 0,
        "t_total_events_per_stream_total": None,
        "t_events_runtime_ms_count": 0,
    }


def test_the_worker_gets_a_batch_monitor_once_the_patches_are_installed(monkeypatch):
    monkeypatch.setattr(batch_monitor, "REGISTRY", CollectorRegistry())
    assert isinstance(batch_monitor.prometheus_monitor(), BatchMonitor)
    monkeypatch.setattr(batch_monitor, "_installed", False)
    with pytest.raises(PatchError, match="install the Faust patches first"):
        batch_monitor.prometheus_monitor()
