"""The campaign registry: every worker's live copy of the compacted campaigns topic.

Each worker reads the whole campaigns topic itself (no consumer group, from the beginning)
and keeps following it, so a campaign applied with ``forgood campaigns apply`` reaches every
worker within about a second, without a restart. :attr:`CampaignRegistry.ready` is set once
the worker has read up to the end of the topic as it was at start; agents wait for it so that
no event is matched against an incomplete list.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from pydantic import ValidationError

from forgood.domain.campaigns import Campaign, CampaignIndex
from forgood.domain.kafka import aio_consumer_config
from forgood.domain.settings import Settings

log = logging.getLogger(__name__)


class CampaignRegistry:
    """Campaigns by id plus a matching index, swapped atomically on every change.

    ``offsets`` holds, per campaign, the campaigns-topic offset of the record it was read from:
    with the ledger's progress it gives the version of every row priced with that record
    (:mod:`streams.versions`), the same on every worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.campaigns: dict[str, Campaign] = {}
        self.offsets: dict[str, int] = {}
        self.index = CampaignIndex(())
        self.revision = 0
        self.ready = asyncio.Event()

    def apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        """Apply one campaigns-topic record read at ``offset``: a campaign JSON (filed under its
        own ``id``), or a tombstone (None) that removes the campaign named by the key. A record
        that cannot be read is logged and ignored; the campaigns known before stay in force."""
        if key is None:
            log.error("ignoring campaign record without a key")
            return
        try:
            key_id = key.decode("utf-8")
        except UnicodeDecodeError:
            log.error("ignoring campaign record with a non-UTF-8 key %r", key)
            return
        if value is None:
            self.offsets.pop(key_id, None)
            if self.campaigns.pop(key_id, None) is None:
                return
        else:
            try:
                campaign = Campaign.from_json(value)
            except ValidationError as exc:
                log.error("ignoring invalid campaign record %s: %s", key_id, exc)
                return
            if key_id != campaign.id:
                log.warning("campaign record key %r differs from its id %r; using the id", key_id, campaign.id)
            self.campaigns[campaign.id] = campaign
            self.offsets[campaign.id] = offset
        self.index = CampaignIndex(self.campaigns.values())
        self.revision += 1

    async def run(self) -> None:
        """Follow the campaigns topic until cancelled. Retries on broker errors."""
        topic = self.settings.campaigns_topic
        while True:
            consumer = AIOKafkaConsumer(
                **aio_consumer_config(self.settings, client_id=f"{self.settings.app_id}-campaigns")
            )
            try:
                await consumer.start()
                partitions = consumer.partitions_for_topic(topic) or {0}
                tps = [TopicPartition(topic, p) for p in sorted(partitions)]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                ends = await consumer.end_offsets(tps)
                await self._follow(consumer, tps, ends)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker gone: retry with a fresh consumer
                log.warning("campaign registry: %s; retrying in 2 s", exc)
                await asyncio.sleep(2)
            finally:
                await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer, tps: list, ends: dict) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    self.apply(record.key, record.value, record.offset)
            if not self.ready.is_set() and await self._caught_up(consumer, tps, ends):
                log.info("campaign registry ready: %d campaign(s)", len(self.campaigns))
                self.ready.set()

    @staticmethod
    async def _caught_up(consumer: AIOKafkaConsumer, tps: list, ends: dict) -> bool:
        # ListOffsets may under-report on some brokers; the fetch highwater is authoritative.
        for tp in tps:
            end = consumer.highwater(tp)
            if end is None:
                end = ends.get(tp, 0)
                if end:
                    return False
            if await consumer.position(tp) < end:
                return False
        return True
