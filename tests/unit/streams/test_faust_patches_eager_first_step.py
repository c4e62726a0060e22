"""Contract of streams.faust_patches.eager_first_step: mode's ``wait_first`` on Faust's
consumer runs the delivery's first step at once, in the caller's task, with the same outcomes.

Upstream, ``wait_first`` wraps the delivery (and the flow, stop and crash waits) in tasks: the
delivery runs in another task, on a later loop iteration. Patched, a delivery that does not
suspend completes inside the call; one that suspends is resumed inside the original, so a
suspended flow, a stop or a crash still win exactly as before.
"""

from __future__ import annotations

import asyncio

import pytest
from faust.transport import consumer as faust_consumer
from mode import Service

from streams import faust_patches
from streams.faust_patches import eager_first_step
from streams.faust_patches.eager_first_step import Resumed

faust_patches.install()
wait_first = faust_consumer.Consumer.wait_first
upstream_wait_first = eager_first_step.UPSTREAM["Consumer.wait_first"]


class Svc(Service):
    """Stands in for Faust's Consumer: a mode Service with a ``suspend_flow`` event."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 5))


@pytest.mark.parametrize("patched", [False, True], ids=["upstream", "patched"])
def test_where_a_delivery_that_does_not_suspend_runs(patched):
    async def scenario():
        svc = Svc()
        ran_in = []

        async def deliver():
            ran_in.append(asyncio.current_task())
            return 42

        caller = asyncio.current_task()
        before = len(asyncio.all_tasks())
        call = (wait_first if patched else upstream_wait_first)(svc, deliver(), svc.suspend_flow.wait())
        result = await call
        return result, ran_in == [caller], before

    result, in_caller, _ = run(scenario())
    assert (result.results, result.stopped) == ([42], False)  # the same outcome either way
    assert in_caller is patched  # upstream: in a task of its own; patched: in the caller's


def test_a_delivery_that_does_not_suspend_completes_at_once():
    async def scenario():
        svc = Svc()
        log = []

        async def deliver():
            log.append("delivered")
            return 42

        result = await wait_first(svc, deliver(), svc.suspend_flow.wait())
        assert log == ["delivered"]  # ran in the call itself
        return result

    result = run(scenario())
    assert (result.results, result.stopped) == ([42], False)


@pytest.mark.parametrize("other", ["suspend_flow", "another_event"])
def test_a_delivery_that_suspends_is_resumed_and_its_value_returned(other):
    # suspend_flow: the one-task path; another event: resumed inside mode's wait_first.
    async def scenario():
        svc = Svc()
        never = svc.suspend_flow if other == "suspend_flow" else asyncio.Event()
        queue: asyncio.Queue = asyncio.Queue(maxsize=1)
        await queue.put("full")

        async def deliver():
            await queue.put("message")  # blocks until the consumer below makes room
            await asyncio.sleep(0)  # a bare yield to the loop, too
            return "put"

        async def drain_later():
            await asyncio.sleep(0.05)
            return await queue.get()

        drained = asyncio.ensure_future(drain_later())
        result = await wait_first(svc, deliver(), never.wait())
        assert await drained == "full"
        assert queue.get_nowait() == "message"
        return result

    result = run(scenario())
    assert result.results == ["put"] and result.stopped is False


@pytest.mark.parametrize("patched", [False, True], ids=["upstream", "patched"])
def test_suspended_flow_still_wins_over_a_blocked_delivery(patched):
    async def scenario():
        svc = Svc()
        suspend = svc.suspend_flow
        queue: asyncio.Queue = asyncio.Queue(maxsize=1)
        await queue.put("full")

        async def deliver():
            await queue.put("message")

        asyncio.get_running_loop().call_later(0.05, suspend.set)
        result = await (wait_first if patched else upstream_wait_first)(svc, deliver(), suspend.wait())
        assert queue.qsize() == 1  # the blocked put was cancelled, nothing delivered
        return result

    result = run(scenario())
    assert len(result.done) == 1 and result.stopped is False


def test_a_stopped_service_is_handed_to_the_original_unchanged():
    async def scenario(call):
        svc = Svc()
        await svc.stop()
        delivered = []

        async def deliver():
            delivered.append(1)

        result = await call(svc, deliver(), svc.suspend_flow.wait())
        return result.stopped, result.results, delivered

    assert run(scenario(wait_first)) == run(scenario(upstream_wait_first))
    assert run(scenario(wait_first))[0] is True


def test_errors_propagate_from_the_eager_step_and_after_resuming():
    async def fails_at_once():
        raise ValueError("at once")

    async def fails_later():
        await asyncio.sleep(0.01)
        raise KeyError("later")

    async def scenario(coro):
        svc = Svc()
        return await wait_first(svc, coro, svc.suspend_flow.wait())

    with pytest.raises(ValueError, match="at once"):
        run(scenario(fails_at_once()))
    with pytest.raises(KeyError, match="later"):
        run(scenario(fails_later()))


def test_resumed_forwards_exceptions_into_the_coroutine():
    async def scenario():
        caught = []

        async def guarded():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                caught.append("cancelled")
                raise

        coro = guarded()
        task = asyncio.ensure_future(Resumed(coro, coro.send(None)))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return caught

    assert run(scenario()) == ["cancelled"]
