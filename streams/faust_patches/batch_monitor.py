"""Faust's Prometheus sensor without its per-message bookkeeping (a cost, not a bug).

**Upstream cost** (faust-streaming 0.15.3). Faust calls four sensor hooks for every message and
event (``on_message_in``, ``on_stream_event_in``/``out``, ``on_message_out``). With batched
agents those hooks of ``faust.sensors.prometheus.PrometheusMonitor`` were the largest single
cost left in the worker: py-spy put ~12 % of its CPU in them at ~7k events/s (label look-ups,
a runtime deque, per-partition gauges).

**Patch.** Not a change to Faust's classes: :class:`BatchMonitor`, the monitor the worker sets
(:func:`prometheus_monitor`), is a ``PrometheusMonitor`` that overrides those four hooks. It
keeps the cheap, useful part -- messages received per topic (``faust_messages_received_per_
topics``), with the labelled child cached -- and drops the rest (total and active messages and
events, events per stream, event runtime, per-partition read offset, and the base
``Monitor``'s in-memory counters behind them); per-batch figures come from forgood's own
metrics (events consumed, batches, lag). Every other Faust metric (commits, sends, table
operations, rebalances) is unchanged. :func:`install` checks that the hooks it overrides are
still the ones Faust calls, with the same parameters; :func:`prometheus_monitor` refuses to
build the monitor before it.

**Verified on** faust-streaming 0.15.3 (aiokafka 0.14.0, mode-streaming 0.7.1).
"""

from __future__ import annotations

from typing import Any

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP, EventT, Message, StreamT
from prometheus_client import REGISTRY

from forgood.domain.errors import PatchError
from streams.faust_patches import targets, versions

TARGETS = [
    targets.Target(PrometheusMonitor, "__init__", "(self, metrics, **kwargs)"),
    targets.Target(PrometheusMonitor, "on_message_in", "(self, tp, offset, message)"),
    targets.Target(PrometheusMonitor, "on_stream_event_in", "(self, tp, offset, stream, event)"),
    targets.Target(PrometheusMonitor, "on_stream_event_out", "(self, tp, offset, stream, event, state=None)"),
    targets.Target(PrometheusMonitor, "on_message_out", "(self, tp, offset, message)"),
    targets.Target(FaustMetrics, "messages_received_per_topics"),
    targets.Target(FaustMetrics, "create", "(registry, app_name)"),
]
#: The targets as they were at :func:`install` (the tests call them to show upstream).
UPSTREAM: dict[str, Any] = {}
_installed = False


class BatchMonitor(PrometheusMonitor):
    """``PrometheusMonitor`` whose per-message hooks cost one cached counter increment."""

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics, **kwargs)
        self._received = metrics.messages_received_per_topics
        self._received_by_topic: dict[str, Any] = {}

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        counter = self._received_by_topic.get(tp.topic)
        if counter is None:
            counter = self._received.labels(topic=tp.topic)
            self._received_by_topic[tp.topic] = counter
        counter.inc()

    def on_stream_event_in(self, tp: TP, offset: int, stream: StreamT, event: EventT) -> dict | None:
        return None

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: StreamT, event: EventT, state: dict | None = None
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        return None


def install() -> None:
    """Check the ``PrometheusMonitor`` hooks :class:`BatchMonitor` overrides (idempotent)."""
    global _installed
    if _installed:
        return
    versions.require()
    UPSTREAM.update(targets.check(__name__, TARGETS))
    _installed = True


def prometheus_monitor() -> BatchMonitor:
    """The monitor the worker installs, registering Faust's metrics (prefix ``faust_``)."""
    if not _installed:
        raise PatchError(f"{__name__}: install the Faust patches first (streams.faust_patches.install())")
    return BatchMonitor(metrics=FaustMetrics.create(REGISTRY, "faust"))
