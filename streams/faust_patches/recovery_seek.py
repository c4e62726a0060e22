"""Fix 5: after recovery, stream partitions are sought with the consumer's flow stopped.

**Upstream bug** (faust-streaming 0.15.3 on mode-streaming 0.7.1). At the end of every
recovery, ``Recovery.on_recovery_completed`` (``Recovery._resume_streams`` for an app without
tables) resumes the stream partitions, awaits ``Consumer.perform_seek`` (seek to the
committed offsets), then calls ``app.flow_control.resume()`` and ``consumer.resume_flow()``.
But the consumer's flow is already active at that point: the same recovery resumed it
("Resuming flow...") to read the changelogs, or because there was nothing to read. So while
``perform_seek`` is awaited, Faust's fetcher goes on fetching from the positions just sought
and delivers the events into the streams' channel queues; then ``flow_control.resume()``
empties those queues (mode's ``FlowControlEvent.resume`` clears every queue created with
``clear_on_resume=True``, which every Faust channel is). The events are dropped, neither
processed nor acknowledged; ``perform_seek`` has reset Faust's read offsets to the committed
offsets, so no offset jump is seen (:mod:`.offset_jumps`), and aiokafka's fetch position is
past them: nothing reads them again until something else seeks back. The window is the time
``perform_seek`` takes: the committed-offset look-ups, plus up to ``fetch_max_wait`` (Faust's
default 1.5 s) when :mod:`.never_committed`'s seek to the beginning waits for an in-flight
fetch. Seen in the pipeline test after a SIGKILLed worker was restarted (~8 % of runs): the
whole backlog of the source topic was fetched 0.1 s into the seek and dropped 1.5 s later;
the worker then sat at the end of the topic with half the events never counted and the
source topic's commits at half, without an error. The task dump showed a healthy worker (flow
active, partitions active, queues empty, fetcher waiting at the end of every partition).

**Patch.** Both methods first stop the consumer's flow (``Consumer.stop_flow``, what Faust
does when partitions are revoked), then run Faust's own, unchanged. Nothing is delivered
while the stream partitions are sought; what was fetched before is dropped (by Faust, as it
drops what it fetches while the flow is stopped) and read again from the committed offsets,
which is what the seek is for. Faust's own code resumes the flow once the seek is done, as
before. If it returns early because another rebalance started, the flow stays stopped
until that rebalance's recovery resumes it, as every recovery does. ``app.flow_control``
(what streams check before processing an event) is not touched.

**Verified on** faust-streaming 0.15.3, mode-streaming 0.7.1 (aiokafka 0.14.0).
"""

from __future__ import annotations

from typing import Any

from faust.tables.recovery import Recovery
from faust.transport import consumer as faust_consumer

from streams.faust_patches import targets, versions

TARGETS = [
    targets.Target(Recovery, "on_recovery_completed", "(self, generation_id=0)", coroutine=True),
    targets.Target(Recovery, "_resume_streams", "(self, generation_id=0)", coroutine=True),
    targets.Target(faust_consumer.Consumer, "stop_flow", "(self)"),
]
#: The targets as they were before :func:`install` (the tests call them to show upstream).
UPSTREAM: dict[str, Any] = {}
_installed = False


def install() -> None:
    """Wrap Faust's ``Recovery.on_recovery_completed`` and ``_resume_streams`` once per process
    (idempotent)."""
    global _installed
    if _installed:
        return
    versions.require()
    found = targets.check(__name__, TARGETS)
    original_completed = found["Recovery.on_recovery_completed"]
    original_resume_streams = found["Recovery._resume_streams"]

    async def on_recovery_completed(recovery: Recovery, generation_id: int = 0) -> None:
        recovery.app.consumer.stop_flow()  # resumed by Faust's own code once the seek is done
        await original_completed(recovery, generation_id)

    async def _resume_streams(recovery: Recovery, generation_id: int = 0) -> None:
        recovery.app.consumer.stop_flow()  # resumed by Faust's own code once the seek is done
        await original_resume_streams(recovery, generation_id)

    UPSTREAM.update(found)
    targets.replace(Recovery, "on_recovery_completed", on_recovery_completed, __name__,
                    "Faust's on_recovery_completed with the consumer's flow stopped while the stream "
                    "partitions are sought (see streams.faust_patches.recovery_seek).")
    targets.replace(Recovery, "_resume_streams", _resume_streams, __name__,
                    "Faust's _resume_streams with the consumer's flow stopped while the stream "
                    "partitions are sought (see streams.faust_patches.recovery_seek).")
    _installed = True
