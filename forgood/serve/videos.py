"""Per-video answers of ``forgood serve``: "did my video count?" and each campaign's top videos.

The topics the service follows carry aggregates only, so these two answers are read from
ClickHouse's audit trail (``campaign_videos``, written by the sink) when asked, with
:mod:`forgood.audit.lookup` — the same functions as the ``forgood video`` command.

clickhouse-driver blocks, so every read runs in a small thread pool of its own
(:data:`WORKERS` threads: a slow or hung ClickHouse can tie up at most those, never the
event loop nor the executor the topic follower uses), on a fresh connection with short
timeouts, and the caller waits at most :data:`TIMEOUT_S` seconds for it. A read that fails
or times out raises :class:`ClickHouseUnavailable` (the API answers 503); reads queued
behind busy threads are cancelled when their wait ends, so the queue cannot grow without
bound.

Top videos are cached per campaign for :data:`TOP_TTL_S` seconds and read once however many
requests ask at the same time, so page refreshes and every open page re-reading after a push
cost ClickHouse at most one query per campaign per :data:`TOP_TTL_S`. They are therefore up
to that old, plus the sink's flush interval (the live counters come from the topics, the top
list from what the sink has written). When ClickHouse cannot be read, the last list read is
answered again with its (older) ``as_of``, or none when there never was one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from forgood.audit.lookup import TOP_LIMIT, TopVideo, VideoLookup, iso_utc, lookup_video, top_videos
from forgood.domain.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Longest wait for one ClickHouse read (seconds); then the API answers 503.
TIMEOUT_S = 3.0
#: How long a campaign's top videos are reused before ClickHouse is asked again (seconds).
TOP_TTL_S = 5.0
#: Threads reading ClickHouse for the service (connections at most this many at a time).
WORKERS = 4


class ClickHouseUnavailable(Exception):
    """ClickHouse could not answer a read in time (down, unreachable, refusing, too slow).
    The message is fit for the public API: it names no host and no internal error."""


@dataclass(frozen=True, slots=True)
class TopVideos:
    """A campaign's top videos as read at ``as_of`` (epoch s); ``videos`` None when they
    could not be read yet."""

    videos: tuple[TopVideo, ...] | None
    as_of: float | None

    def to_json(self) -> dict[str, Any]:
        """``{"top_videos": [...] | null, "top_videos_as_of": ISO 8601 UTC | null}``."""
        return {"top_videos": None if self.videos is None else [v.to_json() for v in self.videos],
                "top_videos_as_of": None if self.as_of is None else iso_utc(int(self.as_of))}


NO_TOP_VIDEOS = TopVideos(None, None)


def clickhouse_client(settings: Settings, timeout_s: float = TIMEOUT_S) -> Client:
    """A clickhouse-driver client for one read: the configured server, connect and socket
    timeouts within ``timeout_s``, and the same bound on the server's execution time."""
    target = settings.clickhouse
    return Client(host=target.host, port=target.port, user=target.user, password=target.password,
                  secure=target.secure, connect_timeout=min(2.0, timeout_s), send_receive_timeout=timeout_s,
                  settings={"max_execution_time": max(1, int(timeout_s))})


class VideoReader:
    """Reads lookups and top videos from ClickHouse for the API (see the module).

    ``connect`` returns a new clickhouse-driver ``Client`` (or anything with its ``execute``
    and ``disconnect``) for each read; ``clock`` is monotonic seconds (cache ages), ``wall``
    epoch seconds (``as_of``).
    """

    def __init__(self, connect: Callable[[], Any], database: str, *, timeout_s: float = TIMEOUT_S,
                 top_ttl_s: float = TOP_TTL_S, workers: int = WORKERS,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.connect = connect
        self.database = database
        self.timeout_s = timeout_s
        self.top_ttl_s = top_ttl_s
        self.clock = clock
        self.wall = wall
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="serve-clickhouse")
        #: Per campaign: (when it was read, by ``clock``; the answer).
        self._top: dict[str, tuple[float, TopVideos]] = {}
        self._reading: dict[str, asyncio.Future[TopVideos]] = {}
        self._failing = False
        #: ClickHouse reads started (tests count them to check the cache).
        self.reads = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoReader:
        return cls(lambda: clickhouse_client(settings), settings.clickhouse.database)

    async def lookup(self, campaign_id: str, video_id: str) -> VideoLookup:
        """The lookup answer; raises :class:`ClickHouseUnavailable`."""
        return await self._read(lookup_video, campaign_id, video_id)

    async def top(self, campaign_id: str) -> TopVideos:
        """The campaign's top :data:`~forgood.audit.lookup.TOP_LIMIT` videos, at most
        ``top_ttl_s`` old while ClickHouse answers; never raises for ClickHouse (see the module)."""
        cached = self._top.get(campaign_id)
        if cached is not None and self.clock() - cached[0] < self.top_ttl_s:
            return cached[1]
        reading = self._reading.get(campaign_id)
        if reading is None:
            reading = self._reading[campaign_id] = asyncio.ensure_future(self._read_top(campaign_id))
            reading.add_done_callback(lambda _: self._reading.pop(campaign_id, None))
        return await asyncio.shield(reading)  # a caller going away does not cancel the others' read

    def forget(self, keep: Callable[[str], bool]) -> None:
        """Drop cached top lists of campaigns ``keep`` refuses (no longer defined)."""
        for campaign_id in [c for c in self._top if not keep(c)]:
            del self._top[campaign_id]

    def close(self) -> None:
        """Stop the threads' queue; a read in progress ends by its own socket timeout."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _read_top(self, campaign_id: str) -> TopVideos:
        as_of = self.wall()
        try:
            answer = TopVideos(tuple(await self._read(top_videos, campaign_id, TOP_LIMIT)), as_of)
        except Exception as exc:  # the campaign's answer must not fail for its top list
            if not isinstance(exc, ClickHouseUnavailable):
                log.exception("reading the top videos of %r failed", campaign_id)
            previous = self._top.get(campaign_id)
            answer = previous[1] if previous is not None else NO_TOP_VIDEOS
        self._top[campaign_id] = (self.clock(), answer)  # a failure too is not retried before the TTL
        return answer

    async def _read(self, read: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        self.reads += 1
        try:
            result = await asyncio.wait_for(loop.run_in_executor(self._pool, self._blocking, read, *args),
                                            self.timeout_s)
        except TimeoutError:
            self._down(f"no answer within {self.timeout_s:g} s")
            raise ClickHouseUnavailable(
                f"ClickHouse did not answer within {self.timeout_s:g} s; retry in a moment") from None
        except (ClickHouseError, OSError, EOFError) as exc:
            self._down(f"{type(exc).__name__}: {exc}")
            raise ClickHouseUnavailable("ClickHouse is unreachable right now; retry in a moment") from None
        if self._failing:
            self._failing = False
            log.info("ClickHouse answers again: video lookups and top videos are back")
        return result

    def _blocking(self, read: Callable[..., T], *args: Any) -> T:
        """Runs in the pool: one read on a connection of its own, closed after."""
        client = self.connect()
        try:
            return read(client, self.database, *args)
        finally:
            with contextlib.suppress(Exception):
                client.disconnect()

    def _down(self, why: str) -> None:
        if not self._failing:
            self._failing = True
            log.warning("cannot read ClickHouse for video lookups and top videos (%s); answering 503 / "
                        "the last top videos until it answers", why)
        else:
            log.debug("ClickHouse still unavailable (%s)", why)
