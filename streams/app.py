"""The Faust shell around :class:`streams.counting.CountingWorker`: two agents, two tables, a
campaign registry, a timer and the rebalance callbacks, each a few lines that hand the worker
a batch or call one of its named steps.

Data flow (all topics created up front, see :func:`changelog_topics`):

1. ``match_videos`` reads ``video-created``, ``video-status`` and ``video-stats`` (keyed and
   co-partitioned by video, so one worker sees all of a video's events) in batches and hands
   each to :meth:`~streams.counting.CountingWorker.match_batch`, which validates each event
   (bad ones go to their topic's dead-letter topic with their original bytes), matches
   created videos against the campaigns, joins status and stats events to their videos
   (the ``videos`` table, see :mod:`streams.video_book`), and forwards each touched matched
   video with its state as :class:`~forgood.domain.records.CampaignVideoBatch` records to
   ``forgood-campaign-videos``, **keyed by campaign**: every campaign then has exactly one
   owner (one partition, one worker), which makes caps exact.
2. ``count_videos`` reads those in batches and hands each to
   :meth:`~streams.counting.CountingWorker.count_batch`, which merges them into the
   campaigns' aggregates and appends one entry per campaign and record to the ``ledger``
   table (changelogged, idempotent, see :mod:`streams.tally`), then publishes the touched
   campaigns' totals and changed minutes as absolute, versioned rows for the sink.

Delivery is at-least-once: Faust flushes table changelogs and forwarded records before it
commits source offsets, and every step is idempotent, so a redelivered or re-processed event
changes nothing. Faust's ``exactly_once`` guarantee is deliberately not used (see README).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from faust.streams import (
    Stream,
    _current_event,  # Faust's current-event context variable: no public setter
)
from faust.tables.manager import TableManager
from faust.types import TP
from kafka.partitioner.default import murmur2
from mode.types.signals import BaseSignalT

from forgood.domain.kafka import bootstrap_servers
from forgood.domain.observability import CONSUMER_LAG
from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideoBatch, CampaignVideoRows
from forgood.domain.settings import Settings
from forgood.domain.topics import TopicSpec
from streams import faust_patches, metrics
from streams.counting import Clock, Consumed, CountingWorker, Delivery, SourceRecord, SystemClock
from streams.faust_patches.lag import partition_lag
from streams.registry import CampaignRegistry
from streams.tally import TallyBook

log = logging.getLogger(__name__)

TABLES = ("ledger", "videos")


def changelog_topics(settings: Settings) -> list[TopicSpec]:
    """The tables' changelog topics, named as Faust names them, to be created up front."""
    return [
        TopicSpec(f"{settings.app_id}-{name}-changelog", settings.partitions, compacted=True)
        for name in TABLES
    ]


def owner_partition(campaign_id: str, partitions: int) -> int:
    """Partition of ``forgood-campaign-videos`` that holds a campaign (Kafka's default partitioner)."""
    return (murmur2(campaign_id.encode()) & 0x7FFFFFFF) % partitions


class FaustLedger:
    """A changelogged table (``ledger`` or ``videos``) as a :class:`~streams.ports.Ledger`.

    ``stream.take_events`` hands over a batch that may span partitions; Faust's tables pick
    the changelog partition from the *current* event, which would otherwise be the batch's
    last, so each write first makes its own event current."""

    def __init__(self, table: faust.types.TableT) -> None:
        self.table = table

    def append(self, handle: faust.EventT, key: str, entry: bytes) -> None:
        _current_event.set(weakref.ref(handle))
        self.table[key] = entry

    def entries(self) -> Iterable[tuple[str, bytes]]:
        return self.table.items()


class FaustOutputs:
    """The worker's :class:`~streams.counting.Outputs` as Faust topics (``send_soon``: buffered
    in Faust's producer, flushed before the source offsets are committed). Keys and values
    come from each record's contract (:mod:`forgood.domain.contracts`)."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        n = settings.partitions
        self.campaign_videos = raw_topic(app, settings.campaign_videos_topic, n)
        self.totals = raw_topic(app, settings.totals_topic, n)
        self.minutes = raw_topic(app, settings.minutes_topic, n)
        self.rows = raw_topic(app, settings.video_rows_topic, n)
        self.dlqs = {source: raw_topic(app, settings.dlq_topic_for(source), n) for source in settings.source_topics}

    def forward(self, batch: CampaignVideoBatch) -> None:
        self.campaign_videos.send_soon(key=batch.key(), value=batch.to_bytes())

    def total(self, row: CampaignTotal) -> None:
        self.totals.send_soon(key=row.key(), value=row.to_bytes())

    def minute(self, row: CampaignMinute) -> None:
        self.minutes.send_soon(key=row.key(), value=row.to_bytes())

    def video_rows(self, rows: CampaignVideoRows) -> None:
        self.rows.send_soon(key=rows.key(), value=rows.to_bytes())

    def dead_letter(self, record: SourceRecord, headers: list[tuple[str, bytes]]) -> None:
        self.dlqs[record.topic].send_soon(key=record.key, value=record.value, headers=headers)


def raw_topic(app: faust.App, name: str, partitions: int) -> faust.TopicT:
    """A topic of raw bytes (forgood encodes its own records: :mod:`forgood.domain.records`)."""
    return app.topic(name, partitions=partitions, key_serializer="raw", value_serializer="raw")


@dataclass
class StreamApp:
    """What :func:`build_app` wires: the Faust app, the worker it drives, and the agents and
    table (reached by the tests that drive the agents in memory)."""

    app: faust.App
    worker: CountingWorker[faust.EventT]
    match_videos: faust.types.AgentT
    count_videos: faust.types.AgentT
    ledger: faust.types.TableT
    videos: faust.types.TableT

    @property
    def settings(self) -> Settings:
        return self.worker.settings

    @property
    def registry(self) -> CampaignRegistry:
        return self.worker.registry

    @property
    def book(self) -> TallyBook:
        return self.worker.book


def make_faust_app(settings: Settings, app_id: str, datadir_name: str) -> faust.App:
    """A Faust app configured the way forgood's worker runs (broker, group timings, producer
    batching), with forgood's Faust patches installed first (:mod:`streams.faust_patches`).

    ``build_app`` uses it for the worker, ``forgood.cli.faust_floor`` for the benchmark's
    do-nothing agent, so the two measure the same machinery.
    """
    faust_patches.install()
    app = faust.App(
        app_id,
        broker=[f"kafka://{server}" for server in bootstrap_servers(settings)],
        store="memory://",
        datadir=str((settings.state_dir / datadir_name).resolve()),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        table_standby_replicas=0,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        broker_commit_interval=1.0,
        producer_max_batch_size=settings.producer_max_batch_bytes,
        producer_acks=-1,
    )
    return app


def build_app(settings: Settings, clock: Clock | None = None) -> StreamApp:
    """Create the Faust app for ``settings``. Nothing connects until the worker starts it."""
    n = settings.partitions
    app = make_faust_app(settings, settings.app_id, "worker")
    # value_type=bytes: entries are stored and changelogged as the raw LedgerEntry bytes.
    ledger = app.Table("ledger", default=None, partitions=n, key_type=str, value_type=bytes)
    videos_table = app.Table("videos", default=None, partitions=n, key_type=str, value_type=bytes)
    outputs = FaustOutputs(app, settings)
    sources = app.topic(*settings.source_topics, partitions=n, key_serializer="raw", value_serializer="raw")

    def owned_source_partitions() -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in settings.source_topics}

    worker: CountingWorker[faust.EventT] = CountingWorker(
        settings, CampaignRegistry(settings), TallyBook(), FaustLedger(ledger), outputs, clock or SystemClock(),
        videos=FaustLedger(videos_table), partitions=owned_source_partitions,
    )
    registry = worker.registry

    @app.task
    async def follow_campaigns() -> None:
        await registry.run()

    @app.agent(sources)
    async def match_videos(stream: faust.StreamT[Any]) -> None:
        await registry.ready.wait()
        async for events in batches(stream, settings):
            worker.match_batch([Consumed(event.message, event) for event in events])
            metrics.batch_done("match_videos")

    @app.agent(outputs.campaign_videos)
    async def count_videos(stream: faust.StreamT[Any]) -> None:
        async for events in batches(stream, settings):
            worker.count_batch([Delivery(e.message.value or b"", e.message.offset, e) for e in events])
            metrics.batch_done("count_videos")

    @app.timer(interval=2.0)
    async def republish_owned() -> None:
        metrics.CAMPAIGNS_LOADED.set(len(registry.campaigns))
        metrics.CAMPAIGN_REGISTRY_REVISION.set(registry.revision)
        if app.rebalancing or not registry.ready.is_set() or not recovered(app):
            return
        worker.expire_pending()
        assigned = app.assignor.assigned_actives()
        topic = outputs.campaign_videos.get_topic_name()
        await _report_lag(app)
        worker.republish_owned(
            [c for c in registry.campaigns.values() if TP(topic, owner_partition(c.id, n)) in assigned]
        )

    def on_revoked(sender: Any, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
        worker.on_rebalance()
        CONSUMER_LAG.clear()

    def on_assigned(sender: Any, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
        worker.on_rebalance()

    # mode types a handler with mypy_extensions' NamedArg("BaseSignalT"), which mypy does not
    # match with any keyword-only parameter; mode calls handler(sender, *args, signal=..., **kw).
    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]
    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]

    return StreamApp(
        app=app, worker=worker, match_videos=match_videos, count_videos=count_videos, ledger=ledger,
        videos=videos_table,
    )


def batches(stream: faust.StreamT[Any], settings: Settings) -> AsyncIterator[Sequence[faust.EventT]]:
    """The agent's events in batches of up to ``batch_size``, or what arrived within
    ``batch_window_s`` (Faust's ``take_events``: events, so ledger writes can name theirs)."""
    assert isinstance(stream, Stream)
    return stream.take_events(settings.batch_size, within=settings.batch_window_s)


def recovered(app: faust.App) -> bool:
    """True once the tables' changelogs have been read back after the last rebalance."""
    tables = app.tables
    assert isinstance(tables, TableManager)
    return tables.recovery.completed.is_set()


async def _report_lag(app: faust.App) -> None:
    """Lag per assigned partition: fetch highwater minus the last committed offset."""
    for tp in app.assignor.assigned_actives():
        lag = partition_lag(app.consumer, tp)
        if lag is not None:
            CONSUMER_LAG.labels("worker", tp.topic, str(tp.partition)).set(lag)
