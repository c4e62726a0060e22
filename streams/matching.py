"""Stream stage 1: validate the three source topics, join them per video, forward to the owners.

:class:`MatchingStage` reads batches that mix ``video-created``, ``video-status`` and
``video-stats`` records of the partitions this worker owns (the topics are co-partitioned by
``video_id``). For each record:

* a bad one goes to its source topic's dead-letter topic with its original bytes and reason;
* a created event is matched against the campaigns (a video already known keeps the
  campaigns it matched before and gains those it matches now) and recorded in the
  :class:`~streams.video_book.VideoBook`, taking any events held for it;
* a status or stats event is forwarded to its video's campaigns, or held until its video
  arrives.

Then every matched video a record touched is forwarded, with its match and the state the
record gives (the held events' join for a created video; the event's own for status and
stats), to each of its campaigns' owners (``forgood-campaign-videos``, keyed by campaign, one record per
campaign per batch unless it holds more than :data:`VIDEOS_PER_RECORD`) — on every event,
not only on a change, so a forward lost with a crash is sent again when the batch is
re-processed. The owners merge what they receive, so repeated or reordered forwards change
nothing. What changed the book is appended to the ``videos`` ledger, one entry per source
partition, topic and batch.

Nothing here blocks or awaits; every send and ledger write is buffered and flushed by Faust
before the source offsets are committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Generic

from forgood.domain.errors import InvalidEvent, StreamError
from forgood.domain.events import parse_video_created
from forgood.domain.records import CampaignVideo, CampaignVideoBatch, CampaignVideoRows
from forgood.domain.settings import Settings
from forgood.domain.video_events import parse_video_stats, parse_video_status
from forgood.domain.video_state import (
    Observation,
    StatsObservation,
    StatusObservation,
    VideoState,
    epoch_us,
    reason_code,
)
from streams import metrics
from streams.ports import Clock, Consumed, Handle, Ledger, Outputs, SourceRecord
from streams.registry import CampaignRegistry
from streams.versions import row_version
from streams.video_book import TOPIC_CODES, KnownVideo, VideoBook, VideoEntry, video_key

log = logging.getLogger(__name__)

#: Videos per forwarded record: ~70 bytes each (~120 with a state), so a record stays far below 1 MB.
VIDEOS_PER_RECORD = 2000

#: Version of the ``outside_window`` audit rows: below every row a campaign's owner publishes
#: (:func:`streams.tally.audit_version`), so a video later matched after a campaign change
#: shows as counted. The row never changes: a video's created event is its only input.
OUTSIDE_WINDOW_VERSION = row_version(-1, -1)


class MatchingStage(Generic[Handle]):
    """Step 1 of the worker (module docstring); one instance per worker process.

    ``partitions`` tells the source partitions this worker owns now (None: all), read when
    the book is rebuilt after a rebalance. Not thread-safe; one event loop calls it.
    """

    def __init__(
        self,
        settings: Settings,
        registry: CampaignRegistry,
        book: VideoBook,
        ledger: Ledger[Handle],
        outputs: Outputs,
        clock: Clock,
        partitions: Callable[[], set[int] | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.book = book
        self.ledger = ledger
        self.outputs = outputs
        self.clock = clock
        self.partitions = partitions
        self._max_skew = timedelta(seconds=settings.max_future_skew_s)
        self._codes = dict(zip(settings.source_topics, TOPIC_CODES, strict=True))

    def match_batch(self, consumed: Sequence[Consumed[Handle]]) -> None:
        """Process one batch of source records (module docstring). Runs once the registry is
        ready: a video is matched against the campaigns known when its batch is processed.
        Raises :class:`~forgood.domain.errors.StreamError` on a record of a topic that is not
        a source topic (a wiring bug)."""
        self.rebuild_if_needed()
        now = self.clock.now()
        now_ms = int(self.clock.time() * 1000)
        index = self.registry.index
        forwards: dict[str, list[CampaignVideo]] = {}
        outside: dict[str, list] = {}  # campaign -> audit rows of videos outside its window
        entries: dict[tuple[str, int], _PartitionEntry[Handle]] = {}
        valid = unmatched = matched = dropped = 0
        by_topic: dict[str, int] = {}
        for item in consumed:
            record = item.record
            by_topic[record.topic] = by_topic.get(record.topic, 0) + 1
            code = self._codes.get(record.topic)
            if code is None:
                raise InvalidSourceTopic(f"record of {record.topic!r}, which is not a source topic")
            tp = (record.topic, record.partition)
            pending_entry = entries.get(tp)
            if pending_entry is None:
                pending_entry = entries[tp] = _PartitionEntry(VideoEntry(now_ms), item.handle)
            entry = pending_entry.entry
            raw = record.value or b""
            try:
                if code == "c":
                    video = parse_video_created(raw, now=now, max_future_skew=self._max_skew)
                    inside, tagged_outside = index.classify(video.hashtags, video.created_at)
                    campaigns = tuple(c.id for c in inside)
                    known, held, stale = self.book.created(
                        video.video_id, video.creator_id, video.second, campaigns, entry
                    )
                    dropped += stale
                    if known is None:
                        unmatched += 1
                    else:
                        matched += len(known[0])
                        self._forward(forwards, video.video_id, known, held, video.created_at.timestamp())
                    if tagged_outside:
                        second = video.second
                        for campaign in tagged_outside:
                            if known is None or campaign.id not in known[0]:
                                why = "before_start" if video.created_at < campaign.starts_at else "after_end"
                                outside.setdefault(campaign.id, []).append(
                                    (video.video_id, video.creator_id, second, "outside_window", second, why,
                                     0, 0, 0, 0))
                elif code == "s":
                    status = parse_video_status(raw, now=now, max_future_skew=self._max_skew)
                    event: Observation = StatusObservation(
                        status.video_id, epoch_us(status.at), status.status == "removed", reason_code(status.reason)
                    )
                    known = self.book.observed(event, entry)
                    if known is not None:
                        self._forward(forwards, event.video_id, known, event.state(), float(known[2]))
                else:
                    stats = parse_video_stats(raw, now=now, max_future_skew=self._max_skew)
                    event = StatsObservation(
                        stats.video_id, epoch_us(stats.observed_at), stats.views, stats.likes, stats.shares,
                        stats.comments,
                    )
                    known = self.book.observed(event, entry)
                    if known is not None:
                        self._forward(forwards, event.video_id, known, event.state(), float(known[2]))
            except InvalidEvent as exc:
                self._dead_letter(record, exc)
                continue
            valid += 1
            if pending_entry.key is None and entry:  # this record is the first to add something
                pending_entry.key = video_key(record.partition, code, record.offset)
                pending_entry.handle = item.handle
        for pending_entry in entries.values():
            if pending_entry.key is not None:
                self.ledger.append(pending_entry.handle, pending_entry.key, pending_entry.entry.to_bytes())
        for campaign_id, videos in forwards.items():
            for batch in CampaignVideoBatch.chunked(campaign_id, videos, VIDEOS_PER_RECORD):
                self.outputs.forward(batch)
        for campaign_id, rows in outside.items():
            for audit in CampaignVideoRows.chunked(campaign_id, OUTSIDE_WINDOW_VERSION, rows, VIDEOS_PER_RECORD):
                self.outputs.video_rows(audit)
            metrics.AUDIT_ROWS_PUBLISHED.inc(len(rows))
        for topic, n in by_topic.items():
            metrics.EVENTS_CONSUMED.labels(topic).inc(n)
        metrics.EVENTS_VALID.inc(valid)
        metrics.EVENTS_UNMATCHED.inc(unmatched)
        metrics.CAMPAIGN_VIDEOS_MATCHED.inc(matched)
        if dropped:
            metrics.PENDING_EXPIRED.inc(dropped)
        metrics.PENDING_HELD.set(len(self.book.pending))

    @staticmethod
    def _forward(
        forwards: dict[str, list[CampaignVideo]], video_id: str, known: KnownVideo, state: VideoState,
        created_at: float,
    ) -> None:
        """Forward ``state`` to each of the video's campaigns; ``created_at`` is the event time
        (exact from a created event, whole seconds from the book otherwise)."""
        campaigns, creator_id, created_s = known
        minute = created_s - created_s % 60
        for campaign_id in campaigns:
            forwards.setdefault(campaign_id, []).append(
                CampaignVideo(campaign_id, video_id, creator_id, minute, created_at, state)
            )

    def _dead_letter(self, record: SourceRecord, exc: InvalidEvent) -> None:
        """The original bytes to the source topic's dead-letter topic, with where they came from and why."""
        headers = [
            ("forgood-reason", exc.reason.encode()),
            ("forgood-message", exc.message.encode()),
            ("forgood-source-topic", record.topic.encode()),
            ("forgood-source-partition", str(record.partition).encode()),
            ("forgood-source-offset", str(record.offset).encode()),
            ("forgood-failed-at", str(int(self.clock.time())).encode()),
        ]
        self.outputs.dead_letter(record, headers)
        metrics.EVENTS_DEAD_LETTERED.labels(exc.reason, record.topic).inc()

    def expire_pending(self) -> int:
        """Drop held events past the TTL (called by a timer); returns how many. Does nothing
        before the book is rebuilt: a rebuild decides the expired ones itself."""
        if not self.book.valid:
            return 0
        dropped = self.book.expire(int(self.clock.time() * 1000))
        if dropped:
            metrics.PENDING_EXPIRED.inc(dropped)
        metrics.PENDING_HELD.set(len(self.book.pending))
        return dropped

    def on_rebalance(self) -> None:
        """Forget the book: the owned partitions may have changed; the next batch rebuilds it."""
        self.book.invalidate()

    def rebuild_if_needed(self) -> None:
        """Re-derive the book from the ``videos`` ledger after a start or rebalance (O(ledger))."""
        if not self.book.valid:
            self.book.rebuild(self.ledger.entries(), self.partitions(), int(self.clock.time() * 1000))
            log.info(
                "rebuilt %d known video(s) and %d held event(s) from the videos table",
                len(self.book.known), len(self.book.pending),
            )


class _PartitionEntry(Generic[Handle]):
    """The videos-ledger entry one batch builds for one source partition and topic: keyed by
    the first record that added something (None until one does), written for that record."""

    __slots__ = ("entry", "key", "handle")

    def __init__(self, entry: VideoEntry, handle: Handle) -> None:
        self.entry = entry
        self.key: str | None = None
        self.handle = handle


class InvalidSourceTopic(StreamError):
    """A record reached the matching step from a topic that is not one of the three sources."""
