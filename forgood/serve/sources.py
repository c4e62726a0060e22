"""Where the counter service's numbers come from: ClickHouse at start, then the topics.

Start-up, in this order (so nothing is missed and nothing is older than ClickHouse):

1. the **sink's committed offsets** (group ``<app_id>-sink``) on the totals and minutes
   topics are read. The sink commits only after ClickHouse accepted a batch, so every row
   before those offsets is in ClickHouse by now;
2. **ClickHouse** is read: the newest version of every campaign's totals and of every minute
   row of the last two hours (from the ``*_versions`` tables, ``argMax(…, version)`` — the
   same rows, with their versions, that the views show);
3. one aiokafka consumer (``group_id=None``, every partition assigned, nothing committed)
   **follows** the totals and minutes topics from those offsets (from the beginning when the
   sink has no offsets or ClickHouse could not be read) and the compacted campaigns topic
   from the beginning. The rows between the sink's offsets and the topics' ends overlap what
   ClickHouse already had; versions decide, so the overlap is harmless. The service is ready
   once the consumer has reached the end offsets seen at start.

clickhouse-driver and kafka-python block, so steps 1–2 run in a thread executor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from clickhouse_driver.errors import ServerException
from kafka import TopicPartition as KafkaTopicPartition

from forgood.domain.campaigns import Campaign
from forgood.domain.errors import ConfigError
from forgood.domain.kafka import make_aio_consumer, make_consumer
from forgood.domain.records import CampaignMinute, CampaignTotal
from forgood.domain.settings import Settings
from forgood.domain.topics import TopicSpec, ensure_topics, pipeline_topics
from forgood.serve.state import KEEP_MINUTES, CounterState, Removed
from sinks.clickhouse import connect
from sinks.schema import MINUTES, TOTALS

log = logging.getLogger(__name__)

T = TypeVar("T")

#: ClickHouse error codes meaning "the sink has not created its schema yet": nothing to load.
_NO_SCHEMA = {60, 81}  # UNKNOWN_TABLE, UNKNOWN_DATABASE
#: Longest wait for the consumer to reach the end offsets seen at start before serving anyway.
CATCH_UP_S = 60.0


@dataclass
class Loaded:
    """What ClickHouse held at start."""

    totals: list[CampaignTotal]
    minutes: list[CampaignMinute]


def sink_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """The sink's committed offsets per (topic, partition); empty when it has none. Blocks."""
    consumer = make_consumer(
        settings,
        group_id=f"{settings.app_id}-sink",  # read only: never subscribed, never committed
        client_id="forgood-serve-offsets",
    )
    try:
        found = {}
        for spec in _aggregate_specs(settings):
            for partition in range(spec.partitions):
                offset = consumer.committed(KafkaTopicPartition(spec.name, partition))
                if offset is not None and offset >= 0:
                    found[(spec.name, partition)] = offset
        return found
    finally:
        consumer.close(autocommit=False)


def load_clickhouse(settings: Settings, now: float | None = None) -> Loaded:
    """Newest totals of every campaign and the recent minute rows, with their versions. Blocks.

    An empty answer when the sink has not created the database yet; other errors propagate.
    """
    db = settings.clickhouse.database
    since = int(now if now is not None else time.time()) // 60 * 60 - KEEP_MINUTES * 60
    client = connect(settings)
    try:
        totals = client.execute(TOTALS.contract.latest_sql(TOTALS.qualified(db)))
        minutes = client.execute(MINUTES.contract.latest_sql(MINUTES.qualified(db), f"minute >= toDateTime({since})"))
    except ServerException as exc:
        if exc.code in _NO_SCHEMA:
            log.info("ClickHouse has no forgood tables in %s yet: starting from the topics alone", db)
            return Loaded([], [])
        raise
    finally:
        client.disconnect()
    return Loaded([TOTALS.contract.from_row(r) for r in totals], [MINUTES.contract.from_row(r) for r in minutes])


def _aggregate_specs(settings: Settings) -> list[TopicSpec]:
    names = {settings.totals_topic, settings.minutes_topic}
    return [s for s in pipeline_topics(settings) if s.name in names]


def decode(settings: Settings, topic: str, key: bytes | None,
           value: bytes | None) -> Campaign | Removed | CampaignTotal | CampaignMinute | None:
    """A record of one of the followed topics as a state change; None if unusable (logged)."""
    try:
        if topic == settings.campaigns_topic:
            if value is None:
                return Removed(key.decode()) if key else None
            return Campaign.from_json(value)
        if value is None:
            return None  # a tombstone on an aggregate topic: nothing to show
        if topic == TOTALS.topic(settings):
            return TOTALS.contract.from_bytes(value)
        return MINUTES.contract.from_bytes(value)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        log.error("skipping unreadable record on %s: %s", topic, exc)
        return None


class Follower:
    """Loads the initial state, then keeps ``state`` current from the topics until stopped."""

    def __init__(self, settings: Settings, state: CounterState) -> None:
        self.settings = settings
        self.state = state
        self.consumer: AIOKafkaConsumer | None = None

    async def run(self) -> None:
        """Load, seek, then follow until cancelled (the service cancels it on shutdown).

        Runs in the service's event loop; the blocking steps run in its thread executor. Kafka
        (and the topic check) are retried until they answer; a :class:`ConfigError` (topics
        with the wrong partition count) propagates. The consumer is stopped on the way out.
        """
        offsets = await self._load()
        consumer = self.consumer = make_aio_consumer(self.settings, client_id="forgood-serve", fetch_max_wait_ms=100)
        await self._retry(consumer.start, "connect to Kafka")
        try:
            tps, ends = await self._seek(consumer, offsets)
            await self._follow(consumer, tps, ends)
        finally:
            await consumer.stop()

    async def _load(self) -> dict[tuple[str, int], int]:
        """Steps 1-2: create/check the topics, read the sink's offsets, apply what ClickHouse holds.

        Returns the offsets to resume the aggregate topics from: the sink's, or none (read from
        the beginning) when ClickHouse could not be read, which is logged, not raised.
        """
        loop = asyncio.get_running_loop()
        settings, state = self.settings, self.state
        await self._retry(lambda: loop.run_in_executor(None, ensure_topics, settings), "create/check topics")
        offsets = await self._retry(lambda: loop.run_in_executor(None, sink_offsets, settings),
                                    "read the sink's offsets")
        try:
            loaded = await loop.run_in_executor(None, load_clickhouse, settings)
        except Exception as exc:  # ClickHouse down: the topics alone, from the beginning
            log.warning("could not read ClickHouse (%s); reading the aggregate topics from the beginning", exc)
            loaded, offsets = None, {}
        if loaded is not None:
            state.apply([*loaded.totals, *loaded.minutes])
            log.info("loaded %d totals and %d minute rows from ClickHouse", len(loaded.totals), len(loaded.minutes))
        return offsets

    async def _seek(self, consumer: AIOKafkaConsumer,
                    offsets: dict[tuple[str, int], int]) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
        """Step 3: assign every partition of the campaigns, totals and minutes topics and position
        each at ``offsets`` or the beginning. Returns the partitions and their end offsets now,
        which :meth:`_follow` must reach to be ready. Kafka errors propagate."""
        settings = self.settings
        tps = [TopicPartition(s.name, p)
               for s in pipeline_topics(settings)
               if s.name in (settings.campaigns_topic, settings.totals_topic, settings.minutes_topic)
               for p in range(s.partitions)]
        consumer.assign(tps)
        resumed = 0
        for tp in tps:
            if (tp.topic, tp.partition) in offsets:
                consumer.seek(tp, offsets[(tp.topic, tp.partition)])
                resumed += 1
            else:
                await consumer.seek_to_beginning(tp)
        ends = await consumer.end_offsets(tps)
        log.info("following %s, %s and %s (%d of %d partitions from the sink's offsets, the rest from "
                 "the beginning)", settings.campaigns_topic, settings.totals_topic, settings.minutes_topic,
                 resumed, len(tps))
        return tps, ends

    async def _follow(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition], ends: dict) -> None:
        """Apply every record read to the state until cancelled; ``state.following`` meanwhile.

        The state becomes ready once every partition reached its end offset from :meth:`_seek`,
        or after ``CATCH_UP_S`` anyway (logged). A failed read is logged and retried after 1 s.
        """
        settings, state = self.settings, self.state
        state.following = True
        started = time.monotonic()
        try:
            while True:
                try:
                    batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the consumer reconnects by itself; say so and go on
                    log.warning("reading the topics failed (%s); retrying", exc)
                    await asyncio.sleep(1.0)
                    continue
                changes = [c for tp, records in batch.items() for r in records
                           if (c := decode(settings, tp.topic, r.key, r.value)) is not None]
                if changes:
                    state.apply(changes)
                if not state.ready:
                    positions = [await consumer.position(tp) for tp in tps]
                    if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                        state.ready = True
                        log.info("ready: %d campaign(s)", len(state.ids()))
                    elif time.monotonic() - started > CATCH_UP_S:
                        state.ready = True
                        log.warning("serving before the topics were read to their end (still catching up)")
        finally:
            state.following = False

    async def _retry(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        delay = 0.5
        while True:
            try:
                return await call()
            except (asyncio.CancelledError, ConfigError):
                raise  # a wrong partition count will not fix itself
            except Exception as exc:
                log.warning("could not %s (%s); retrying in %.1f s", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
