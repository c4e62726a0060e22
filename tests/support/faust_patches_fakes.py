"""Stand-ins for the parts of Faust's objects the patches in streams.faust_patches touch.

Each fake holds exactly the state the patched (and the upstream) methods read and write, under
Faust's own attribute names, so the contract tests can call both on it; the tests read that
state through the fakes' public helpers.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.types import TP
from intervaltree import IntervalTree


class FakeFaustConsumer:
    """What ``Consumer.ack``, ``_add_gap``, ``_new_offset`` and ``ThreadDelegateConsumer._getmany``
    touch of Faust's consumer: the app's generation and flow control, the commit bookkeeping,
    the assignment, the consumer thread, and ``perform_seek`` (recorded)."""

    def __init__(self, generation: int = 1, flow_active: bool = True, assigned=(), committed=None,
                 thread: Any = None) -> None:
        self.app = SimpleNamespace(consumer_generation_id=generation,
                                   flow_control=SimpleNamespace(is_active=lambda: flow_active),
                                   topics=SimpleNamespace(acks_enabled_for=lambda topic: True))
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
