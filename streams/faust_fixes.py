"""A workaround for a Faust behaviour that loses events across rebalances.

faust-streaming 0.15.3, ``Stream._py_aiter``: a message read while flow control is
suspended (during a rebalance) or fetched under an older consumer generation is *skipped* —
not given to the agent — and then *acknowledged*. The acknowledgement lets the offset
committer move past it, so a message that was never processed can be committed and is never
read again. The fault-injection suite showed exactly that: contiguous runs of source offsets
on every partition, never forwarded, after a worker joined the group.

:func:`install` wraps ``Consumer.ack`` so that such a stale message is released (no longer
waited for) but not acknowledged: its offset is not committed, and the partition's new owner
(or this worker, after seeking to the committed offset) reads and processes it again, which
the idempotent counting makes harmless. Called once at import of :mod:`streams.app`.
"""

from __future__ import annotations

from faust.transport import consumer as faust_consumer

_installed = False


def install() -> None:
    """Patch ``faust.transport.consumer.Consumer.ack`` once per process (idempotent)."""
    global _installed
    if _installed:
        return
    original_ack = faust_consumer.Consumer.ack

    def ack(self, message) -> bool:
        app = self.app
        stale = message.generation_id != app.consumer_generation_id or not app.flow_control.is_active()
        if stale:
            with faust_consumer.ack_lock:
                message.acked = True  # never acknowledged again under this fetch
                self._unacked_messages.discard(message)
            return False
        return original_ack(self, message)

    ack.__doc__ = "Acknowledge a message unless it is stale (see streams.faust_fixes)."
    faust_consumer.Consumer.ack = ack
    _installed = True
