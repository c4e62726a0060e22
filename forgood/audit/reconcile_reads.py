"""The blocking reads of ``forgood reconcile``: ClickHouse's audit rows and aggregates, and the
source topics read end to end. Every function blocks on its server; none writes anything.

ClickHouse is read through the record contracts' ``latest_sql`` on the ``*_versions`` tables
(the newest version of every key, exact without ``FINAL``, as the public views show it), one
campaign at a time so that memory holds one campaign's rows. The SQL runs on ClickHouse
18.16 and current releases alike, and quotes values itself (no driver-side parameters).
Errors are the drivers' own: clickhouse-driver's (``clickhouse_driver.errors.Error``,
``OSError``) and kafka-python's (``KafkaError``), or :class:`~forgood.domain.kafka.ReadTimeout`
when the source topics are not read to their end in time; :mod:`forgood.audit.reconcile`
turns them into one clear error.
"""

from __future__ import annotations

from typing import Any

from kafka import TopicPartition

from forgood.audit import store
from forgood.audit.recount import Figures, Minutes
from forgood.audit.store import quote
from forgood.domain.kafka import make_consumer, read_to_end
from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideoRow
from forgood.domain.settings import Settings
from sinks.schema import MINUTES, TOTALS, VIDEOS


def campaign_ids(client: Any, database: str) -> set[str]:
    """Every campaign id in ``campaign_videos``, ``campaign_totals`` or ``campaign_minutes``."""
    found: set[str] = set()
    for table in (VIDEOS, TOTALS, MINUTES):
        found.update(row[0] for row in client.execute(f"SELECT DISTINCT campaign_id FROM {table.qualified(database)}"))
    return found


def read_totals(client: Any, database: str) -> dict[str, tuple[Figures, str]]:
    """Each campaign's ``campaign_totals`` row (newest version): its figures and currency."""
    totals = {}
    for values in client.execute(CampaignTotal.contract.latest_sql(TOTALS.qualified(database))):
        row: CampaignTotal = CampaignTotal.contract.from_row(values)
        totals[row.campaign_id] = (Figures(row.videos, row.creators, row.removed, row.donation_minor, row.views,
                                           row.likes, row.shares, row.comments), row.currency)
    return totals


def read_minutes(client: Any, database: str, campaign_id: str) -> Minutes:
    """One campaign's ``campaign_minutes`` rows (newest versions): minute -> (videos, donation)."""
    sql = CampaignMinute.contract.latest_sql(MINUTES.qualified(database), f"campaign_id = {quote(campaign_id)}")
    minutes: Minutes = {}
    for values in client.execute(sql):
        row: CampaignMinute = CampaignMinute.contract.from_row(values)
        minutes[row.minute] = (row.videos, row.donation_minor)
    return minutes


def read_video_rows(client: Any, database: str, campaign_id: str) -> dict[str, CampaignVideoRow]:
    """One campaign's ``campaign_videos`` rows (newest versions) by video id
    (:func:`forgood.audit.store.read_video_rows`, keyed)."""
    return {row.video_id: row for row in store.read_video_rows(client, database, campaign_id)}


def read_sources(settings: Settings, timeout_s: float) -> tuple[list[bytes | None], ...]:
    """The values of the three source topics (``Settings.source_topics``: created, status,
    stats), every partition from its beginning to its end as of the call — the ends of all
    three are taken at once — each topic in (partition, offset) order. Blocks up to
    ``timeout_s`` (plus connecting); raises :class:`~forgood.domain.kafka.ReadTimeout` if the
    ends are not reached in time. A topic the broker does not know reads as empty."""
    consumer = make_consumer(settings, client_id="forgood-reconcile")
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in settings.source_topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        records = read_to_end(consumer, partitions, timeout_s=timeout_s)
    finally:
        consumer.close()
    records.sort(key=lambda r: (r.topic, r.partition, r.offset))
    return tuple([r.value for r in records if r.topic == topic] for topic in settings.source_topics)


__all__ = ["campaign_ids", "quote", "read_minutes", "read_sources", "read_totals", "read_video_rows"]
