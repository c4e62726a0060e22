"""The Faust application: two agents, two tables, a campaign registry and a republish timer.

Data flow (all topics created up front, see :func:`changelog_topics`):

1. ``match_videos`` reads ``video-created`` (keyed by video) in batches, validates each
   event (bad ones go to the dead-letter topic with their original bytes), matches it
   against the campaigns, and forwards the batch's videos of each matching campaign as one
   :class:`~forgood.domain.records.CampaignVideoBatch` to ``forgood-campaign-videos``, **keyed by
   campaign**: every campaign then has exactly one owner (one partition, one worker), which
   makes caps exact.
2. ``count_videos`` reads those in batches, records the new videos and creators in memory
   and appends one entry per campaign and batch to the ``ledger`` table (changelogged,
   idempotent, see :mod:`streams.tally`), then publishes the touched campaigns' totals and
   changed minutes as absolute, versioned rows for the sink.

Delivery is at-least-once: Faust flushes table changelogs and forwarded records before it
commits source offsets, and every step is idempotent, so a redelivered or re-processed event
changes nothing. Faust's ``exactly_once`` guarantee is deliberately not used (see README).
"""

from __future__ import annotations

import logging
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import faust
from faust.streams import _current_event
from faust.types import TP
from kafka.partitioner.default import murmur2

from forgood.domain.campaigns import Campaign
from forgood.domain.errors import InvalidEvent
from forgood.domain.events import parse_video_created
from forgood.domain.observability import CONSUMER_LAG
from forgood.domain.records import CampaignTotal, CampaignVideo, CampaignVideoBatch
from forgood.domain.settings import Settings
from forgood.domain.topics import TopicSpec
from streams import faust_patches, metrics
from streams.registry import CampaignRegistry
from streams.tally import TallyBook, ledger_key

log = logging.getLogger(__name__)

TABLES = ("ledger",)
# Videos per forwarded record: ~70 bytes each, so a record stays far below 1 MB.
VIDEOS_PER_RECORD = 2000
RAW = {"key_serializer": "raw", "value_serializer": "raw"}


def changelog_topics(settings: Settings) -> list[TopicSpec]:
    """The tables' changelog topics, named as Faust names them, to be created up front."""
    return [
        TopicSpec(f"{settings.app_id}-{name}-changelog", settings.partitions, compacted=True)
        for name in TABLES
    ]


def owner_partition(campaign_id: str, partitions: int) -> int:
    """Partition of ``forgood-campaign-videos`` that holds a campaign (Kafka's default partitioner)."""
    return (murmur2(campaign_id.encode()) & 0x7FFFFFFF) % partitions


def _enter_event(event: faust.EventT) -> None:
    """Make ``event`` Faust's current event, so table writes go to *its* changelog partition.

    ``stream.take_events`` hands over a batch that may span partitions; Faust's tables pick
    the changelog partition from the current event, which would otherwise be the batch's last.
    """
    _current_event.set(weakref.ref(event))


@dataclass
class Pipeline:
    """The app and the parts tests and the worker need to reach."""

    app: faust.App
    registry: CampaignRegistry
    book: TallyBook
    settings: Settings
    match_videos: faust.types.AgentT
    count_videos: faust.types.AgentT
    ledger: faust.types.TableT


def make_faust_app(settings: Settings, app_id: str, datadir_name: str) -> faust.App:
    """A Faust app configured the way forgood's worker runs (broker, group timings, producer
    batching), with forgood's Faust patches installed first (:mod:`streams.faust_patches`).

    ``build_app`` uses it for the worker, ``forgood.cli.faust_floor`` for the benchmark's
    do-nothing agent, so the two measure the same machinery.
    """
    faust_patches.install()
    app = faust.App(
        app_id,
        broker=[f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")],
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


def build_app(settings: Settings) -> Pipeline:
    """Create the Faust app for ``settings``. Nothing connects until the worker starts it."""
    n = settings.partitions
    app = make_faust_app(settings, settings.app_id, "worker")
    registry = CampaignRegistry(settings)
    book = TallyBook()

    videos = app.topic(settings.video_topic, partitions=n, **RAW)
    campaign_videos = app.topic(settings.campaign_videos_topic, partitions=n, **RAW)
    totals = app.topic(settings.totals_topic, partitions=n, **RAW)
    minutes = app.topic(settings.minutes_topic, partitions=n, **RAW)
    dlq = app.topic(settings.dlq_topic, partitions=n, **RAW)
    # value_type=bytes: entries are stored and changelogged as the raw LedgerEntry bytes.
    ledger = app.Table("ledger", default=None, partitions=n, key_type=str, value_type=bytes)

    def publish(campaign_ids) -> None:
        """Publish totals and changed minutes of campaigns this worker owns (never others:
        after a rebalance the store may still hold a stale copy of a campaign moved away)."""
        now_s, version = int(time.time()), time.time_ns()
        for campaign_id in campaign_ids:
            campaign = registry.campaigns.get(campaign_id)
            if campaign is None:
                continue
            total, changed = book.changes(campaign, now_s, version)
            _report_campaign(campaign, total)
            totals.send_soon(key=campaign_id.encode(), value=total.to_bytes(), **RAW)
            for row in changed:
                key = f"{campaign_id}\x1f{row.minute}".encode()
                minutes.send_soon(key=key, value=row.to_bytes(), **RAW)
            metrics.AGGREGATES_PUBLISHED.labels("total").inc()
            metrics.AGGREGATES_PUBLISHED.labels("minute").inc(len(changed))

    def rebuild_if_needed() -> None:
        """Re-derive counters after a start or rebalance; every campaign is then republished
        in full (its tally has no published state), by its next batch or the timer."""
        if not book.valid:
            book.rebuild(ledger.items())
            log.info("rebuilt tallies of %d campaign(s) from tables", len(book.tallies))

    @app.task
    async def follow_campaigns() -> None:
        await registry.run()

    @app.agent(videos)
    async def match_videos(stream):
        await registry.ready.wait()
        skew = settings.max_future_skew_s
        async for events in stream.take_events(settings.batch_size, within=settings.batch_window_s):
            index = registry.index
            metrics.EVENTS_CONSUMED.inc(len(events))
            now = datetime.now(timezone.utc)
            max_skew = timedelta(seconds=skew)
            valid = 0
            matches: dict[str, list[CampaignVideo]] = {}
            for event in events:
                message = event.message
                try:
                    video = parse_video_created(message.value or b"", now=now, max_future_skew=max_skew)
                except InvalidEvent as exc:
                    _dead_letter(dlq, message, exc)
                    continue
                valid += 1
                matched = index.match(video.hashtags, video.created_at)
                if not matched:
                    metrics.EVENTS_UNMATCHED.inc()
                    continue
                minute, created = video.minute, video.created_at.timestamp()
                for campaign in matched:
                    item = CampaignVideo(campaign.id, video.video_id, video.creator_id, minute, created)
                    matches.setdefault(campaign.id, []).append(item)
                metrics.CAMPAIGN_VIDEOS_MATCHED.inc(len(matched))
            for campaign_id, items in matches.items():
                for batch in CampaignVideoBatch.chunked(campaign_id, items, VIDEOS_PER_RECORD):
                    campaign_videos.send_soon(key=campaign_id.encode(), value=batch.to_bytes(), **RAW)
            metrics.EVENTS_VALID.inc(valid)
            _batch_done("match_videos")

    @app.agent(campaign_videos)
    async def count_videos(stream):
        async for events in stream.take_events(settings.batch_size, within=settings.batch_window_s):
            rebuild_if_needed()
            touched: set[str] = set()
            received = new = 0
            now = time.time()
            for event in events:
                message = event.message
                batch = CampaignVideoBatch.from_bytes(message.value)
                recorded = book.record(batch)
                if recorded.entry is not None:
                    _enter_event(event)
                    ledger[ledger_key(batch.campaign_id, message.offset, recorded.first_new)] = (
                        recorded.entry.to_bytes()
                    )
                if recorded.new_videos:
                    for item in recorded.new_videos:
                        if item.created_at:
                            metrics.EVENT_TO_COUNTED.observe(max(0.0, now - item.created_at))
                    metrics.CAMPAIGN_LAST_COUNTED.labels(batch.campaign_id).set(now)
                received += len(batch.videos)
                new += len(recorded.new_videos)
                touched.add(batch.campaign_id)
            metrics.CAMPAIGN_VIDEOS_COUNTED.inc(new)
            metrics.CAMPAIGN_VIDEOS_DUPLICATE.inc(received - new)
            publish(touched)
            _batch_done("count_videos")

    @app.timer(interval=2.0)
    async def republish_owned() -> None:
        """Publish owned campaigns that were never published or whose price/cap changed."""
        metrics.CAMPAIGNS_LOADED.set(len(registry.campaigns))
        metrics.CAMPAIGN_REGISTRY_REVISION.set(registry.revision)
        if app.rebalancing or not registry.ready.is_set() or not app.tables.recovery.completed.is_set():
            return
        assigned = app.assignor.assigned_actives()
        owned = [
            campaign
            for campaign in registry.campaigns.values()
            if TP(campaign_videos.get_topic_name(), owner_partition(campaign.id, n)) in assigned
        ]
        await _report_lag(app)
        now = datetime.now(timezone.utc)
        for campaign in owned:  # windows open and close without any event
            metrics.CAMPAIGN_ACTIVE.labels(campaign.id).set(int(campaign.holds(now)))
        if not owned:
            return
        rebuild_if_needed()
        publish(c.id for c in owned if book.tallies[c.id].published_terms != c.terms)

    @app.on_partitions_revoked.connect
    async def on_revoked(app, revoked, **kwargs) -> None:
        book.invalidate()
        metrics.forget_campaigns()
        CONSUMER_LAG.clear()

    @app.on_partitions_assigned.connect
    async def on_assigned(app, assigned, **kwargs) -> None:
        book.invalidate()
        metrics.forget_campaigns()

    return Pipeline(
        app=app,
        registry=registry,
        book=book,
        settings=settings,
        match_videos=match_videos,
        count_videos=count_videos,
        ledger=ledger,
    )


def _batch_done(agent: str) -> None:
    metrics.BATCHES_PROCESSED.labels(agent).inc()
    metrics.LAST_BATCH.labels(agent).set_to_current_time()


def _report_campaign(campaign: Campaign, total: CampaignTotal) -> None:
    """Set the per-campaign gauges from a totals row this worker (the owner) publishes."""
    metrics.CAMPAIGN_VIDEOS.labels(campaign.id).set(total.videos)
    metrics.CAMPAIGN_PARTICIPANTS.labels(campaign.id).set(total.creators)
    metrics.CAMPAIGN_DONATION.labels(campaign.id, campaign.currency).set(total.donation_minor)
    _set_or_remove(metrics.CAMPAIGN_CAP, (campaign.id, campaign.currency), campaign.cap_minor)
    _set_or_remove(metrics.CAMPAIGN_GOAL, (campaign.id,), campaign.goal_videos)
    metrics.CAMPAIGN_ACTIVE.labels(campaign.id).set(int(campaign.holds(datetime.now(timezone.utc))))


def _set_or_remove(gauge, labels: tuple, value: int | None) -> None:
    """Set a gauge's series, or drop it when the campaign no longer has that value."""
    if value is not None:
        gauge.labels(*labels).set(value)
    else:
        try:
            gauge.remove(*labels)
        except KeyError:
            pass


async def _report_lag(app: faust.App) -> None:
    """Lag per assigned partition: fetch highwater minus the last committed offset."""
    consumer = app.consumer
    for tp in app.assignor.assigned_actives():
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # partition not fetched yet
            continue
        if highwater is None or highwater < 0:
            continue
        committed = consumer._committed_offset.get(tp) or 0
        CONSUMER_LAG.labels("worker", tp.topic, str(tp.partition)).set(max(0, highwater - committed))


def _dead_letter(dlq: faust.TopicT, message, exc: InvalidEvent) -> None:
    """Send the original bytes to the dead-letter topic with where they came from and why."""
    headers = [
        ("forgood-reason", exc.reason.encode()),
        ("forgood-message", exc.message.encode()),
        ("forgood-source-topic", message.topic.encode()),
        ("forgood-source-partition", str(message.partition).encode()),
        ("forgood-source-offset", str(message.offset).encode()),
        ("forgood-failed-at", str(int(time.time())).encode()),
    ]
    dlq.send_soon(key=message.key, value=message.value, headers=headers, **RAW)
    metrics.EVENTS_DEAD_LETTERED.labels(exc.reason).inc()
