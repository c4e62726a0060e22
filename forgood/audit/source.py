"""Recounting the audit trail from the source topics themselves. Pure: no I/O; the caller
passes the records' values and the time to validate them against.

:func:`recount_source` takes every value of ``video-created``, ``video-status`` and
``video-stats`` (each topic in offset order per partition; a video's events share a
partition) and the campaigns, and gives the ``campaign_videos`` rows the pipeline must have
written, by the worker's own rules and parsers:

* every value passes the worker's gate (:func:`~forgood.domain.events.parse_video_created`,
  :func:`~forgood.domain.video_events.parse_video_status`,
  :func:`~forgood.domain.video_events.parse_video_stats`, with the same ``now`` and
  future skew); a bad one is skipped and counted by topic and reason, as the worker
  dead-letters it;
* a created event matches campaign C when one of its hashtags, normalised, is one of C's and
  C's window holds its ``created_at`` (:meth:`~forgood.domain.campaigns.CampaignIndex.match`).
  Re-deliveries of a video's created event: its campaigns are the union of what each
  matched; its creator and ``created_at`` are those of the first delivery that matched a
  campaign, as the worker keeps them (of the first delivery that carried a campaign's
  hashtag when none matched);
* a video that carried one of C's hashtags in some delivery but matched C in none is
  ``outside_window`` for C, as the first such delivery says (the worker writes the row from
  the delivery itself, once, and never changes it): its creator and ``created_at``, reason
  ``before_start`` (``created_at`` < ``starts_at``) or ``after_end`` (>= ``ends_at``),
  ``status_at`` = ``created_at``, engagement 0;
* status and stats events join by ``video_id`` with :class:`~forgood.domain.video_state.VideoState`'s
  merge (status: latest ``at``, at an equal ``at`` ``removed`` wins; engagement: latest
  ``observed_at``, at an equal one each counter's maximum; the state keeps the deciding status
  event's reason, at an equal ``at`` and status the later one in ``REMOVAL_REASONS``);
* a matched video is ``removed`` for its campaigns if its merged state is removed, else
  ``counted``; ``status_at`` is its latest status event's ``at`` floored to whole seconds
  (its ``created_at`` when there was none), ``reason`` that event's reason (``""`` when
  none); ``created_at`` is floored to whole seconds and ``minute`` is the start of its
  minute; ``views`` … ``comments`` are the latest snapshot (0 before any);
* status and stats events of videos never created are ignored (the worker holds them for the
  pending TTL, then drops them): counted in :attr:`SourceRecount.ignored`.

This assumes every created event was processed within the pending TTL of its video's other
events, and that the campaigns' terms did not change while the events were processed: the
recount matches against the campaigns as they are now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from forgood.domain.campaigns import Campaign, CampaignIndex
from forgood.domain.errors import InvalidEvent
from forgood.domain.events import parse_video_created
from forgood.domain.hashtags import normalize_hashtag
from forgood.domain.records import CampaignVideoRow
from forgood.domain.video_events import parse_video_stats, parse_video_status
from forgood.domain.video_state import VideoState, epoch_us, reason_code

#: Source topic kinds, in ``Settings.source_topics`` order.
KINDS = ("created", "status", "stats")

_US = 1_000_000


@dataclass(slots=True)
class _Video:
    """What the created deliveries of one video say, in delivery order."""

    creator_id: str
    created_s: int
    #: Whether creator_id/created_s come from a delivery that matched a campaign.
    from_match: bool
    matched: dict[str, None] = field(default_factory=dict)
    #: Campaigns whose hashtag a delivery carried outside their window: the first such
    #: delivery's (creator_id, created_s, reason).
    outside: dict[str, tuple[str, int, str]] = field(default_factory=dict)


@dataclass
class SourceRecount:
    """What the source topics say: the expected ``campaign_videos`` rows (``version`` 0), by
    campaign then video id; the values read per topic kind; the bad ones per (kind, reason);
    and the status/stats events ignored because their video was never created."""

    rows: dict[str, dict[str, CampaignVideoRow]]
    read: Counter[str]
    bad: Counter[tuple[str, str]]
    ignored: int

    def summary(self) -> dict:
        """A JSON-ready summary (no rows)."""
        return {
            "read": {kind: self.read[kind] for kind in KINDS},
            "bad": {f"{kind}/{reason}": n for (kind, reason), n in sorted(self.bad.items())},
            "ignored": self.ignored,
            "rows": sum(len(videos) for videos in self.rows.values()),
        }


def recount_source(
    created: Iterable[bytes | None],
    statuses: Iterable[bytes | None],
    stats: Iterable[bytes | None],
    campaigns: Iterable[Campaign],
    *,
    now: datetime,
    max_future_skew: timedelta,
) -> SourceRecount:
    """The rows the source events give (module docstring). ``created`` must be in delivery
    order per video (offset order: a video's events share a partition); the order of
    ``statuses`` and ``stats`` does not matter. ``now`` and ``max_future_skew`` are the
    parsers' (the worker passes its clock and ``Settings.max_future_skew_s``)."""
    campaign_list = list(campaigns)
    index = CampaignIndex(campaign_list)
    by_tag: dict[str, list[Campaign]] = {}
    for campaign in campaign_list:
        for tag in campaign.hashtags:
            by_tag.setdefault(tag, []).append(campaign)
    read: Counter[str] = Counter()
    bad: Counter[tuple[str, str]] = Counter()

    videos: dict[str, _Video] = {}
    created_ids: set[str] = set()
    for raw in created:
        read["created"] += 1
        try:
            event = parse_video_created(raw or b"", now=now, max_future_skew=max_future_skew)
        except InvalidEvent as exc:
            bad["created", exc.reason] += 1
            continue
        created_ids.add(event.video_id)
        matched = [c.id for c in index.match(event.hashtags, event.created_at)]
        carried = {c.id: c for tag in event.hashtags for c in by_tag.get(normalize_hashtag(tag), ())}
        if not matched and not carried:
            continue
        created_s = epoch_us(event.created_at) // _US
        video = videos.get(event.video_id)
        if video is None:
            video = videos[event.video_id] = _Video(event.creator_id, created_s, bool(matched))
        elif matched and not video.from_match:
            video.creator_id, video.created_s, video.from_match = event.creator_id, created_s, True
        for campaign_id in matched:
            video.matched[campaign_id] = None
        for campaign_id, campaign in carried.items():
            if campaign_id not in matched and campaign_id not in video.outside:
                why = "before_start" if event.created_at < campaign.starts_at else "after_end"
                video.outside[campaign_id] = (event.creator_id, created_s, why)

    ignored = 0
    states: dict[str, VideoState] = {}
    for raw in statuses:
        read["status"] += 1
        try:
            status = parse_video_status(raw or b"", now=now, max_future_skew=max_future_skew)
        except InvalidEvent as exc:
            bad["status", exc.reason] += 1
            continue
        if status.video_id not in created_ids:
            ignored += 1
            continue
        state = states.get(status.video_id, VideoState())
        states[status.video_id] = state.merge(VideoState.of_status(
            epoch_us(status.at), status.status == "removed", reason_code(status.reason)))
    for raw in stats:
        read["stats"] += 1
        try:
            snapshot = parse_video_stats(raw or b"", now=now, max_future_skew=max_future_skew)
        except InvalidEvent as exc:
            bad["stats", exc.reason] += 1
            continue
        if snapshot.video_id not in created_ids:
            ignored += 1
            continue
        state = states.get(snapshot.video_id, VideoState())
        states[snapshot.video_id] = state.merge(VideoState.of_stats(
            epoch_us(snapshot.observed_at), snapshot.views, snapshot.likes, snapshot.shares, snapshot.comments))

    rows: dict[str, dict[str, CampaignVideoRow]] = {c.id: {} for c in campaign_list}
    for video_id, video in videos.items():
        state = states.get(video_id, VideoState())
        created_s, minute = video.created_s, video.created_s - video.created_s % 60
        engagement = state.engagement
        if video.matched:
            status_text = "removed" if state.removed else "counted"
            status_at = created_s if state.status_at is None else state.status_at // _US
            reason = state.reason_text
            for campaign_id in video.matched:
                rows[campaign_id][video_id] = CampaignVideoRow(
                    campaign_id, video_id, video.creator_id, created_s, minute, status_text, status_at, reason,
                    *engagement, version=0)
        for campaign_id, (creator_id, at, why) in video.outside.items():
            if campaign_id in video.matched:
                continue  # matched by another delivery: it counts
            rows[campaign_id][video_id] = CampaignVideoRow(
                campaign_id, video_id, creator_id, at, at - at % 60, "outside_window", at, why, 0, 0, 0, 0, version=0)
    return SourceRecount(rows, read, bad, ignored)


__all__ = ["KINDS", "SourceRecount", "recount_source"]
