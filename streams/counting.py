"""The stream worker's steps, as one class that knows nothing of Faust.

:class:`CountingWorker` holds every decision the worker makes; the Faust agents, timers and
rebalance callbacks in :mod:`streams.app` only hand it batches and call its named steps:

1. :meth:`~CountingWorker.match_batch` — stage 1 (:class:`streams.matching.MatchingStage`):
   validate a batch of ``video-created``, ``video-status`` and ``video-stats`` records (bad
   ones become dead letters), join them per video, and forward each touched matched video
   with its whole state, keyed by campaign, to the campaign's single owner;
2. :meth:`~CountingWorker.count_batch` — merge forwarded videos and states into the owner's
   aggregates, append what changed to the ledger, send the audit row of every video named
   (``forgood-campaign-video-rows``), then publish;
3. :meth:`~CountingWorker.publish` — send the touched campaigns' totals and changed minutes
   as absolute, versioned rows (versions from :mod:`streams.versions`, never from a clock);
4. :meth:`~CountingWorker.republish_owned` — on a timer: campaigns never published since the
   last rebuild, or whose terms changed; :meth:`~CountingWorker.expire_pending` — on the same
   timer: drop held status and stats events past the pending TTL;
5. :meth:`~CountingWorker.on_rebalance` — forget the derived state of both stages; the next
   step rebuilds it from the ledgers.

Its collaborators are passed in (:mod:`streams.ports`): the campaign registry, the tally
book and the video book, the two ledgers (changelogged tables in production, dicts in
tests), an :class:`~streams.ports.Outputs` that sends records (Faust topics in production, a
list in tests) and a :class:`~streams.ports.Clock`. Nothing here blocks or awaits: every
step runs to completion on the caller's event loop; sends are buffered by the outputs and
flushed by Faust before it commits the source offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Generic

from forgood.domain.campaigns import Campaign
from forgood.domain.records import CampaignTotal, CampaignVideoBatch, CampaignVideoRows
from forgood.domain.settings import Settings
from streams import metrics
from streams.matching import VIDEOS_PER_RECORD, MatchingStage
from streams.ports import (
    Clock,
    Consumed,
    Delivery,
    Handle,
    Ledger,
    Outputs,
    SourceRecord,
    SystemClock,
)
from streams.registry import CampaignRegistry
from streams.tally import TallyBook, audit_version, ledger_key
from streams.video_book import VideoBook

__all__ = [
    "VIDEOS_PER_RECORD", "Clock", "Consumed", "CountingWorker", "Delivery", "Ledger", "Outputs",
    "SourceRecord", "SystemClock",
]

log = logging.getLogger(__name__)


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
        videos: Ledger[Handle] | None = None,
        partitions: Callable[[], set[int] | None] = lambda: None,
    ) -> None:
        """``ledger`` is the owners' ledger, ``videos`` the matching stage's (a dict-backed
        one of its own when None); ``partitions`` the source partitions owned now (None: all)."""
        self.settings = settings
        self.registry = registry
        self.book = book
        self.ledger = ledger
        self.outputs = outputs
        self.clock = clock
        self.matching: MatchingStage[Handle] = MatchingStage(
            settings, registry, VideoBook(settings.pending_ttl_s), videos if videos is not None else DictLedger(),
            outputs, clock, partitions,
        )

    # --- step 1 -----------------------------------------------------------------------------

    def match_batch(self, consumed: Sequence[Consumed[Handle]]) -> None:
        """Stage 1 on a batch of source records (:meth:`streams.matching.MatchingStage.match_batch`).
        Runs once the registry is ready (the caller waits for it)."""
        self.matching.match_batch(consumed)

    def expire_pending(self) -> int:
        """Drop held status and stats events past the pending TTL; returns how many."""
        return self.matching.expire_pending()

    # --- step 2 -----------------------------------------------------------------------------

    def count_batch(self, deliveries: Sequence[Delivery[Handle]]) -> None:
        """Merge each forwarded record into its campaign's aggregate, append what changed to
        the ledger (one entry per record that changed anything, keyed by its offset and first
        changing position, so a re-processed record never overwrites an entry with less),
        then publish the touched campaigns. Rebuilds the tallies first after a rebalance."""
        self.rebuild_if_needed()
        touched: set[str] = set()
        unchanged = new = 0
        now = self.clock.time()
        for delivery in deliveries:
            batch = CampaignVideoBatch.from_bytes(delivery.value)
            recorded = self.book.record(batch, delivery.offset)
            if recorded.entry is not None:
                key = ledger_key(batch.campaign_id, delivery.offset, recorded.first_new)
                self.ledger.append(delivery.handle, key, recorded.entry.to_bytes())
            version = audit_version(delivery.offset)
            for rows in CampaignVideoRows.chunked(batch.campaign_id, version, recorded.rows, VIDEOS_PER_RECORD):
                self.outputs.video_rows(rows)
            metrics.AUDIT_ROWS_PUBLISHED.inc(len(recorded.rows))
            if recorded.new_videos:
                for item in recorded.new_videos:
                    if item.created_at:
                        metrics.EVENT_TO_COUNTED.observe(max(0.0, now - item.created_at))
                metrics.CAMPAIGN_LAST_COUNTED.labels(batch.campaign_id).set(now)
            unchanged += recorded.unchanged
            new += len(recorded.new_videos)
            touched.add(batch.campaign_id)
        metrics.CAMPAIGN_VIDEOS_COUNTED.inc(new)
        metrics.CAMPAIGN_VIDEOS_DUPLICATE.inc(unchanged)
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
        metrics.CAMPAIGN_REMOVED.labels(campaign.id).set(total.removed)
        for kind in ("views", "likes", "shares", "comments"):
            metrics.CAMPAIGN_ENGAGEMENT.labels(campaign.id, kind).set(getattr(total, kind))
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
        """Forget every tally, the video book and every per-campaign gauge: the owned
        partitions and campaigns may have changed. The next step rebuilds them from the ledgers."""
        self.book.invalidate()
        self.matching.on_rebalance()
        metrics.forget_campaigns()

    def rebuild_if_needed(self) -> None:
        """Re-derive every tally from the ledger after a start or rebalance (O(ledger)); every
        campaign is then republished in full by its next batch or the timer."""
        if not self.book.valid:
            self.book.rebuild(self.ledger.entries())
            log.info("rebuilt tallies of %d campaign(s) from tables", len(self.book.tallies))


class DictLedger:
    """A :class:`~streams.ports.Ledger` in a dict (tests, and a worker given no ``videos`` table)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def append(self, handle: object, key: str, entry: bytes) -> None:
        self.data[key] = entry

    def entries(self) -> Iterable[tuple[str, bytes]]:
        return self.data.items()
