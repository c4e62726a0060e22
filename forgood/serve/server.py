"""``forgood serve``: the live counter service as one process.

Why a process of its own rather than the stream worker's Faust web server: that server is
disabled (``web_enabled=False``) and workers scale, rebalance and restart independently —
a counter page must not blink when a worker is SIGKILLed, and public, read-only traffic
should not share a process with the code that counts money. The service only reads: it
follows the same topics the sink follows and writes nothing anywhere; video lookups and top
videos are read from ClickHouse when asked (:mod:`forgood.serve.videos`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from forgood.domain.errors import ConfigError
from forgood.domain.settings import Settings
from forgood.serve.api import make_app
from forgood.serve.settings import ServeSettings
from forgood.serve.sources import Follower
from forgood.serve.state import CounterState
from forgood.serve.videos import VideoReader

log = logging.getLogger(__name__)


async def serve(settings: Settings, serve_settings: ServeSettings, stop: asyncio.Event | None = None) -> None:
    """Answer HTTP on the configured address and follow the topics until ``stop`` is set."""
    stop = stop or asyncio.Event()
    state = CounterState()
    videos = VideoReader.from_settings(settings)  # per-video answers, read from ClickHouse when asked
    app = make_app(state, videos=videos)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, serve_settings.host, serve_settings.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"cannot listen on {serve_settings.host}:{serve_settings.port}: {exc.strerror or exc} "
            "(set FORGOOD_SERVE_PORT or --port to another port)"
        ) from None
    port = runner.addresses[0][1] if runner.addresses else serve_settings.port
    url = serve_settings.model_copy(update={"port": port}).url
    log.info("serving %s (counter pages at %s/c/<campaign id>, API at %s/api/campaigns)", url, url, url)

    follower = asyncio.create_task(Follower(settings, state).run(), name="follower")

    async def prune() -> None:
        while True:
            await asyncio.sleep(60)
            state.prune()
            videos.forget(lambda campaign_id: campaign_id in state)

    pruner = asyncio.create_task(prune(), name="prune")
    stopped = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({follower, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if follower in done and not stopped.done():
            follower.result()  # raises what ended it
    finally:
        for task in (follower, pruner, stopped):
            task.cancel()
        for task in (follower, pruner, stopped):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await runner.cleanup()
        log.info("serve stopped")


def run_serve(settings: Settings, serve_settings: ServeSettings) -> None:
    """Run :func:`serve` until SIGINT/SIGTERM (blocks)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, serve_settings, stop)

    asyncio.run(main())
