"""Stand-ins for the parts of Faust's objects the patches in streams.faust_patches touch.

Each fake holds exactly the state the patched (and the upstream) methods read and write, under
Faust's own attribute names, so the contract tests can call both on it; the tests read that
state through the fakes' public helpers.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport import consumer as faust_consumer
from faust.types import TP
from intervaltree import IntervalTree


class FakeFaustConsumer:
    """What ``Consumer.ack``, ``_add_gap``, ``_new_offset``, ``ThreadDelegateConsumer._getmany``
    and the seek back (:mod:`streams.faust_patches.reseek`) touch of Faust's consumer: the app's
    generation, rebalancing flag and flow control, the commit bookkeeping, the assignment, the
    consumer thread, the consumer's own flow (Faust's ``stop_flow``/``resume_flow``), and
    ``perform_seek`` (recorded, with the consumer's flow at the time).

    ``flow_active`` is the app's flow control (what streams check); the consumer's own flow
    (``self.flow_active``) starts active."""

    stop_flow = faust_consumer.Consumer.stop_flow
    resume_flow = faust_consumer.Consumer.resume_flow
    maybe_wait_for_commit_to_finish = faust_consumer.Consumer.maybe_wait_for_commit_to_finish

    def __init__(self, generation: int = 1, flow_active: bool = True, assigned=(), committed=None,
                 thread: Any = None) -> None:
        self.app = SimpleNamespace(consumer_generation_id=generation, rebalancing=False,
                                   flow_control=SimpleNamespace(is_active=lambda: flow_active),
                                   topics=SimpleNamespace(acks_enabled_for=lambda topic: True))
        self.flow_active = True
        self.can_resume_flow = asyncio.Event()
        self.suspend_flow = asyncio.Event()
        self._commit_fut: Any = None
        self.flow_at_seek: list[bool] = []
        self._committed_offset: defaultdict = defaultdict(lambda: None, committed or {})
        self._gap: defaultdict = defaultdict(IntervalTree)
        self._acked: defaultdict = defaultdict(list)
        self._acked_index: defaultdict = defaultdict(set)
        self._n_acked = 0
        self._unacked_messages: set = set()
        self._waiting_for_ack = None
        self._assigned = set(assigned)
        self._thread = thread
        self._forgood_reseek: Any = None
        self.seeks = 0

    def assignment(self) -> set:
        return self._assigned

    async def perform_seek(self) -> None:
        self.seeks += 1
        self.flow_at_seek.append(self.flow_active)

    # --- read by the tests -------------------------------------------------------------------

    def gaps(self, tp) -> list[tuple[int, int]]:
        """Offsets marked as acknowledged without a message ([begin, end) ranges)."""
        return sorted((i.begin, i.end) for i in self._gap[tp])

    def acked(self, tp) -> list[int]:
        return list(self._acked[tp])

    def set_acked(self, tp, offsets: list[int]) -> None:
        self._acked[tp] = list(offsets)

    def unacked(self) -> set:
        return set(self._unacked_messages)

    def hold(self, *messages) -> None:
        """Messages delivered to a stream and not yet acknowledged (they hold the commit back)."""
        self._unacked_messages.update(messages)

    async def pending_reseek(self) -> None:
        if self._forgood_reseek is not None:
            await self._forgood_reseek


class FakeMessage:
    def __init__(self, generation_id: int, offset: int, topic: str = "video-created") -> None:
        self.generation_id, self.offset, self.acked = generation_id, offset, False
        self.topic = topic
        self.tp = TP(topic, 0)
