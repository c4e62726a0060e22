"""The stream worker's steps, as one class that knows nothing of Faust.

:class:`CountingWorker` holds every decision the worker makes; the Faust agents, timer and
rebalance callbacks in :mod:`streams.app` only hand it batches and call its named steps:

1. :meth:`~CountingWorker.match_batch` — validate a batch of ``video-created`` records
   (bad ones become dead letters) and forward each matching campaign's videos, keyed by
   campaign, to the campaign's single owner;
2. :meth:`~CountingWorker.count_batch` — record the new videos and creators of forwarded
   batches in the owner's tallies, append what was new to the ledger, then publish;
3. :meth:`~CountingWorker.publish` — send the touched campaigns' totals and changed minutes
   as absolute, versioned rows (versions from :mod:`streams.versions`, never from a clock);
4. :meth:`~CountingWorker.republish_owned` — on a timer: campaigns never published since the
   last rebuild, or whose terms changed;
5. :meth:`~CountingWorker.on_rebalance` — forget the derived state; the next step rebuilds it
   from the ledger.

Its collaborators are passed in: the campaign registry, the tally book, the ledger (a
changelogged table in production, a dict in tests), an :class:`Outputs` that sends records
(Faust topics in production, a list in tests) and a :class:`Clock`. Nothing here blocks or
awaits: every step runs to completion on the caller's event loop; sends are buffered by
:class:`Outputs` and flushed by Faust before it commits the source offsets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from forgood.domain.campaigns import Campaign
from forgood.domain.errors import InvalidEvent
from forgood.domain.events import parse_video_created
from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideo, CampaignVideoBatch
from forgood.domain.settings import Settings
from streams import metrics
from streams.registry import CampaignRegistry
from streams.tally import TallyBook, ledger_key

log = logging.getLogger(__name__)

#: Videos per forwarded record: ~70 bytes each, so a record stays far below 1 MB.
VIDEOS_PER_RECORD = 2000

Handle = TypeVar("Handle")
HandleIn = TypeVar("HandleIn", contravariant=True)


class Clock(Protocol):
    """Wall-clock time, injected so tests can freeze it. Used for validation ("not in the
    future"), campaign windows, freshness metrics and ``updated_at``; never for versions."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def time(self) -> float:
        """The current time in epoch seconds."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()


class SourceRecord(Protocol):
    """What a step reads of a consumed Kafka record (Faust's ``Message`` has all of it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class Delivery(Generic[Handle]):
    """A forwarded record handed to :meth:`CountingWorker.count_batch`, with an opaque
    ``handle`` the :class:`Ledger` gets back with each write made for it (Faust's event, whose
    changelog partition the write must go to)."""

    __slots__ = ("value", "offset", "handle")

    def __init__(self, value: bytes, offset: int, handle: Handle) -> None:
        self.value = value
        self.offset = offset
        self.handle = handle


class Ledger(Protocol[HandleIn]):
    """The durable, append-only ledger the tallies are rebuilt from."""

    def append(self, handle: HandleIn, key: str, entry: bytes) -> None:
        """Write one entry for the delivery with ``handle``; buffered, flushed before commit."""
        ...

    def entries(self) -> Iterable[tuple[str, bytes]]:
        """Every entry, in the order they were written."""
        ...


class Outputs(Protocol):
    """Where the steps send records. Every method only buffers (never blocks); the records
    are sent before the consumed offsets are committed."""

    def forward(self, batch: CampaignVideoBatch) -> None:
        """To ``forgood-campaign-videos``, keyed by campaign."""
        ...

    def total(self, row: CampaignTotal) -> None:
        """To ``forgood-campaign-totals``."""
        ...

    def minute(self, row: CampaignMinute) -> None:
        """To ``forgood-campaign-minutes``."""
        ...

    def dead_letter(self, record: SourceRecord, headers: list[tuple[str, bytes]]) -> None:
        """The record's original key and bytes to the dead-letter topic, with ``headers``."""
        ...


class CountingWorker(Generic[Handle]):
    """Validates, matches, counts and publishes; one instance per worker process.

    Not thread-safe: every method is called from the worker's one event loop, and none awaits,
    so a step is never interleaved with another. A step that raises has changed nothing
    durable it has not also buffered for sending; Faust then crashes the agent, and the
    uncommitted records are processed again on restart (every step is idempotent).
    """

    def __init__(
        self,
        settings: Settings,
        registry: CampaignRegistry,
        book: TallyBook,
        ledger: Ledger[Handle],
        outputs: Outputs,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.book = book
        self.ledger = ledger
        self.outputs = outputs
        self.clock = clock
        self._max_skew = timedelta(seconds=settings.max_future_skew_s)

    # --- step 1 -----------------------------------------------------------------------------

    def match_batch(self, records: Sequence[SourceRecord]) -> None:
        """Validate each ``video-created`` record, dead-letter the bad ones with their reason,
        and forward each matching campaign's videos of the batch as few records as possible
        (one per campaign unless it holds more than :data:`VIDEOS_PER_RECORD`), in event order.

        Runs once the registry is ready (the caller waits for it): a video is matched against
        the campaigns known when its batch is processed."""
        index = self.registry.index
        now = self.clock.now()
        metrics.EVENTS_CONSUMED.inc(len(records))
        valid = 0
        matches: dict[str, list[CampaignVideo]] = {}
        for record in records:
            try:
                video = parse_video_created(record.value or b"", now=now, max_future_skew=self._max_skew)
            except InvalidEvent as exc:
                self._dead_letter(record, exc)
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
                self.outputs.forward(batch)
        metrics.EVENTS_VALID.inc(valid)

    def _dead_letter(self, record: SourceRecord, exc: InvalidEvent) -> None:
        """The original bytes to the dead-letter topic with where they came from and why."""
        headers = [
            ("forgood-reason", exc.reason.encode()),
            ("forgood-message", exc.message.encode()),
            ("forgood-source-topic", record.topic.encode()),
            ("forgood-source-partition", str(record.partition).encode()),
            ("forgood-source-offset", str(record.offset).encode()),
            ("forgood-failed-at", str(int(self.clock.time())).encode()),
        ]
        self.outputs.dead_letter(record, headers)
        metrics.EVENTS_DEAD_LETTERED.labels(exc.reason).inc()

    # --- step 2 -----------------------------------------------------------------------------

    def count_batch(self, deliveries: Sequence[Delivery[Handle]]) -> None:
        """Record each forwarded batch in its campaign's tally, append what was new to the
        ledger (one entry per record that brought anything new, keyed by its offset and first
        new position, so a re-processed record never overwrites an entry with less), then
        publish the touched campaigns. Rebuilds the tallies first after a rebalance."""
        self.rebuild_if_needed()
        touched: set[str] = set()
        received = new = 0
        now = self.clock.time()
        for delivery in deliveries:
            batch = CampaignVideoBatch.from_bytes(delivery.value)
            recorded = self.book.record(batch, delivery.offset)
            if recorded.entry is not None:
                key = ledger_key(batch.campaign_id, delivery.offset, recorded.first_new)
                self.ledger.append(delivery.handle, key, recorded.entry.to_bytes())
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
        self.publish(touched)

    # --- step 3 -----------------------------------------------------------------------------

    def publish(self, campaign_ids: Iterable[str]) -> None:
        """Send the totals row and the changed minute rows of each campaign this worker owns
        and knows. The caller passes only campaigns it owns: after a rebalance the ledger may
        still hold a stale copy of a campaign that moved away. Campaigns unknown to the
        registry (removed, or not yet read) are skipped: they are counted, never published."""
        now_s = int(self.clock.time())
        for campaign_id in campaign_ids:
            campaign = self.registry.campaigns.get(campaign_id)
            if campaign is None:
                continue
            total, changed = self.book.take_unpublished(
                campaign, self.registry.offsets.get(campaign_id, -1), now_s
            )
            self._report_campaign(campaign, total)
            self.outputs.total(total)
            for row in changed:
                self.outputs.minute(row)
            metrics.AGGREGATES_PUBLISHED.labels("total").inc()
            metrics.AGGREGATES_PUBLISHED.labels("minute").inc(len(changed))

    def _report_campaign(self, campaign: Campaign, total: CampaignTotal) -> None:
        """Set the per-campaign gauges from a totals row this worker (the owner) publishes."""
        metrics.CAMPAIGN_VIDEOS.labels(campaign.id).set(total.videos)
        metrics.CAMPAIGN_PARTICIPANTS.labels(campaign.id).set(total.creators)
        metrics.CAMPAIGN_DONATION.labels(campaign.id, campaign.currency).set(total.donation_minor)
        metrics.set_or_remove(metrics.CAMPAIGN_CAP, (campaign.id, campaign.currency), campaign.cap_minor)
        metrics.set_or_remove(metrics.CAMPAIGN_GOAL, (campaign.id,), campaign.goal_videos)
        metrics.CAMPAIGN_ACTIVE.labels(campaign.id).set(int(campaign.holds(self.clock.now())))

    # --- step 4 -----------------------------------------------------------------------------

    def republish_owned(self, owned: Sequence[Campaign]) -> None:
        """Publish the ``owned`` campaigns never published since the last rebuild or whose
        terms (price, cap, currency) changed, and refresh each one's "active" gauge (windows
        open and close without any event). Called by the timer once the worker is assigned,
        recovered and its registry ready."""
        now = self.clock.now()
        for campaign in owned:
            metrics.CAMPAIGN_ACTIVE.labels(campaign.id).set(int(campaign.holds(now)))
        if not owned:
            return
        self.rebuild_if_needed()
        self.publish(c.id for c in owned if self.book.tallies[c.id].published_terms != c.terms)

    # --- step 5 -----------------------------------------------------------------------------

    def on_rebalance(self) -> None:
        """Forget every tally and per-campaign gauge: the owned campaigns may have changed.
        The next count or republish step rebuilds them from the ledger."""
        self.book.invalidate()
        metrics.forget_campaigns()

    def rebuild_if_needed(self) -> None:
        """Re-derive every tally from the ledger after a start or rebalance (O(ledger)); every
        campaign is then republished in full by its next batch or the timer."""
        if not self.book.valid:
            self.book.rebuild(self.ledger.entries())
            log.info("rebuilt tallies of %d campaign(s) from tables", len(self.book.tallies))
