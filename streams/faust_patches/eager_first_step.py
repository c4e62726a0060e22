"""Hand a fetched message to its stream without four tasks per message (a cost, not a bug).

**Upstream cost** (faust-streaming 0.15.3 on mode-streaming 0.7.1). Faust delivers every
fetched message with ``await self.wait_first(callback(message), self.suspend_flow.wait())``
(``Consumer._drain_messages``): mode's ``Service.wait_first`` wraps both coroutines *and* the
service's stopped/crashed events in tasks and runs ``asyncio.wait`` -- measured here at ~46 µs
per call, against ~0.1 µs for the delivery itself, which almost always completes without
suspending (the stream's queue has room). At ~8k events/s that was a third of the worker's CPU.

**Patch.** ``wait_first`` on Faust's ``Consumer`` (its only caller there is the delivery above)
gets an eager first step: the first coroutine is run until it first suspends. If it finishes
-- the common case -- its result is returned as ``wait_first`` would have; an exception it
raises propagates as it would have. The original would have run the same first step in a task
on the next loop iteration; it now runs at once, in the caller's context. If it suspends (the
stream's queue is full) it is resumed inside the original ``wait_first``, so flow suspension (a
rebalance), stop and crash win exactly as before. A service already stopped or crashed, or a
first argument that is not a coroutine, goes to the original unchanged.

Measured here: a delivery that does not block went from ~46 µs to ~1.5 µs; the Faust floor (a
do-nothing ``take_events`` agent draining 200k pre-produced events, three runs each) went from
~13.1k events/s (Faust as shipped) to ~15.0k. A cheaper wait for the blocked case (one task,
polling the flow every 50 ms; ~16.2k events/s) stalled the match agent after a restart in
the pipeline test (half the events never counted in 180 s, 3 runs of 3) and was dropped: a
blocked delivery must be cancelled the moment the flow is suspended.

**Verified on** faust-streaming 0.15.3, mode-streaming 0.7.1 (aiokafka 0.14.0).
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator, Iterable
from types import CoroutineType
from typing import Any

from faust.transport import consumer as faust_consumer
from mode import services as mode_services

from forgood.domain.errors import PatchError
from streams.faust_patches import targets, versions

Consumer = faust_consumer.Consumer
WaitResults = mode_services.WaitResults
TARGETS = [
    targets.Target(Consumer, "wait_first", "(self, *coros, timeout=None)", coroutine=True),
    targets.Target(mode_services, "WaitResults"),
]
#: The targets as they were before :func:`install` (the tests call them to show upstream).
UPSTREAM: dict[str, Any] = {}
_installed = False


class Resumed:
    """Awaitable that continues a coroutine which already yielded ``pending`` to its driver.

    It re-yields ``pending`` to the task that awaits it, then forwards every resumption and
    exception to the coroutine, like ``yield from`` after the coroutine's first step.
    """

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine, pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, None, Any]:
        pending = self.pending
        while True:
            try:
                yield pending
            except GeneratorExit:
                self.coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - forwarded, as yield from does
                try:
                    pending = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = self.coro.send(None)
                except StopIteration as stop:
                    return stop.value


def _close(coros: Iterable[object]) -> None:
    """Close coroutines that will never be awaited (no 'never awaited' warning)."""
    for coro in coros:
        if isinstance(coro, CoroutineType):
            coro.close()


def install() -> None:
    """Override ``wait_first`` on ``faust.transport.consumer.Consumer`` once per process (idempotent)."""
    global _installed
    if _installed:
        return
    versions.require()
    found = targets.check(__name__, TARGETS)
    if tuple(WaitResults._fields) != ("done", "results", "stopped"):
        raise PatchError(
            f"{__name__} refuses to install: mode.services.WaitResults has fields {WaitResults._fields}, "
            "expected ('done', 'results', 'stopped'); re-check the patch against the installed mode."
        )
    original = found["Consumer.wait_first"]

    async def wait_first(consumer: faust_consumer.Consumer, *coros: Any, timeout: Any = None) -> Any:
        first = coros[0] if coros else None
        if (
            not isinstance(first, CoroutineType)
            or consumer._stopped.is_set()  # noqa: SLF001 (mode's stop event, which the original also waits on)
            or consumer._crashed.is_set()  # noqa: SLF001 (mode's crash event, which the original also waits on)
        ):
            return await original(consumer, *coros, timeout=timeout)
        try:
            pending = first.send(None)
        except StopIteration as stop:
            _close(coros[1:])
            return WaitResults([first], [stop.value], False)
        except BaseException:
            _close(coros[1:])
            raise
        return await original(consumer, Resumed(first, pending), *coros[1:], timeout=timeout)

    UPSTREAM.update(found)
    targets.replace(Consumer, "wait_first", wait_first, __name__,
                    "mode's wait_first with an eager first step (see streams.faust_patches.eager_first_step).")
    _installed = True
