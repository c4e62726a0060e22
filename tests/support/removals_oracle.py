"""An oracle for removals and engagement (issue 13), written independently of forgood.

It re-states the rules in the plainest code, from the whole list of events at once — no
merging, no incremental counters, no wire format, nothing imported from forgood:

* a video is matched by its created event (first one; re-deliveries repeat it): a campaign
  hashtag (lower-case, ``#`` stripped) and ``starts_at <= created_at < ends_at``;
* its state is its status event with the latest ``at`` (equal ``at``: ``removed`` wins);
  no status event: live;
* its snapshot is the greatest ``observed_at``; equal ``observed_at``: each counter's maximum;
* per campaign: ``videos`` = matched and not removed, ``removed`` = matched and removed,
  ``creators`` = distinct creators of counted videos, the engagement sums over counted
  videos, ``donation_minor`` = ``min(videos * price, cap)``; per minute (every minute holding
  a matched video, even if all of them were removed: its row then reads 0, 0) the counted
  videos and the donation filled in event-time order until the cap.

Events for videos never created are ignored (they would wait as pending and be dropped); the
oracle therefore describes a run in which every created event is processed within the pending
TTL of the video's other events.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from tests.support.eventset import OracleCampaign


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Created:
    event_id: str
    video_id: str
    creator_id: str
    hashtags: tuple[str, ...]
    created_at: datetime

    def to_json(self) -> bytes:
        return json.dumps({"event_id": self.event_id, "video_id": self.video_id, "creator_id": self.creator_id,
                           "hashtags": list(self.hashtags), "created_at": _rfc3339(self.created_at)}).encode()


@dataclass(frozen=True)
class Status:
    event_id: str
    video_id: str
    status: str  # "removed" | "restored"
    reason: str
    at: datetime

    def to_json(self) -> bytes:
        return json.dumps({"event_id": self.event_id, "video_id": self.video_id, "status": self.status,
                           "reason": self.reason, "at": _rfc3339(self.at)}).encode()


@dataclass(frozen=True)
class Stats:
    event_id: str
    video_id: str
    views: int
    likes: int
    shares: int
    comments: int
    observed_at: datetime

    def to_json(self) -> bytes:
        return json.dumps({"event_id": self.event_id, "video_id": self.video_id, "views": self.views,
                           "likes": self.likes, "shares": self.shares, "comments": self.comments,
                           "observed_at": _rfc3339(self.observed_at)}).encode()


Event = Created | Status | Stats

TOTAL_FIELDS = ("videos", "creators", "removed", "donation_minor", "views", "likes", "shares", "comments")


def oracle(events: list[Event], campaigns: list[OracleCampaign]) -> tuple[dict, dict]:
    """Expected totals ``{campaign: {field: value}}`` (fields :data:`TOTAL_FIELDS`) and
    minutes ``{(campaign, minute epoch s): (videos, donation_minor)}``."""
    created: dict[str, Created] = {}
    for e in events:
        if isinstance(e, Created) and e.video_id not in created:
            created[e.video_id] = e

    removed: dict[str, bool] = {}
    for video_id in created:
        statuses = [e for e in events if isinstance(e, Status) and e.video_id == video_id]
        if not statuses:
            removed[video_id] = False
            continue
        latest = max(e.at for e in statuses)
        removed[video_id] = any(e.status == "removed" for e in statuses if e.at == latest)

    snapshot: dict[str, tuple[int, int, int, int]] = {}
    for video_id in created:
        stats = [e for e in events if isinstance(e, Stats) and e.video_id == video_id]
        if not stats:
            snapshot[video_id] = (0, 0, 0, 0)
            continue
        latest = max(e.observed_at for e in stats)
        last = [e for e in stats if e.observed_at == latest]
        snapshot[video_id] = (
            max(e.views for e in last),
            max(e.likes for e in last),
            max(e.shares for e in last),
            max(e.comments for e in last),
        )

    totals: dict[str, dict[str, int]] = {}
    minutes: dict[tuple[str, int], tuple[int, int]] = {}
    for c in campaigns:
        tags = {t.lstrip("#").lower() for t in c.hashtags}
        matched = [
            v for v in created.values()
            if tags & {t.lstrip("#").lower() for t in v.hashtags} and c.starts_at <= v.created_at < c.ends_at
        ]
        counted = [v for v in matched if not removed[v.video_id]]
        videos = len(counted)
        raised = videos * c.price_minor
        row = {
            "videos": videos,
            "creators": len({v.creator_id for v in counted}),
            "removed": len(matched) - videos,
            "donation_minor": raised if c.cap_minor is None else min(raised, c.cap_minor),
            "views": sum(snapshot[v.video_id][0] for v in counted),
            "likes": sum(snapshot[v.video_id][1] for v in counted),
            "shares": sum(snapshot[v.video_id][2] for v in counted),
            "comments": sum(snapshot[v.video_id][3] for v in counted),
        }
        totals[c.id] = row
        per_minute: dict[int, int] = defaultdict(int)
        for v in matched:
            minute = int(v.created_at.timestamp()) // 60 * 60
            per_minute[minute] += 0 if removed[v.video_id] else 1
        given = 0
        for minute in sorted(per_minute):
            amount = per_minute[minute] * c.price_minor
            if c.cap_minor is not None:
                amount = max(0, min(amount, c.cap_minor - given))
            given += amount
            minutes[(c.id, minute)] = (per_minute[minute], amount)
    return totals, minutes


#: Status reasons in the order that breaks a tie between two status events of the same time
#: and status (the later in this list wins), as the README states the rule.
REASON_ORDER = ("creator_deleted", "moderation", "fraud", "appeal", "other")


def audit_oracle(events: list[Event], campaigns: list[OracleCampaign]) -> dict[tuple[str, str], tuple]:
    """Expected audit trail (issue 14): ``{(campaign, video): (creator, created_s, status,
    status_at, reason, views, likes, shares, comments)}`` for every created video carrying one
    of the campaign's hashtags. Inside the window: ``counted`` or ``removed``, ``status_at``
    the deciding status event's time in whole seconds (``created_s`` when there is none),
    ``reason`` its reason; outside: ``outside_window``, ``before_start`` or ``after_end``, zeros."""
    created: dict[str, Created] = {}
    for e in events:
        if isinstance(e, Created) and e.video_id not in created:
            created[e.video_id] = e
    rows: dict[tuple[str, str], tuple] = {}
    for video_id, v in created.items():
        created_s = math.floor(v.created_at.timestamp())
        statuses = [e for e in events if isinstance(e, Status) and e.video_id == video_id]
        decided = max(statuses, default=None,
                      key=lambda e: (e.at, e.status == "removed", REASON_ORDER.index(e.reason)))
        stats = [e for e in events if isinstance(e, Stats) and e.video_id == video_id]
        latest = max((e.observed_at for e in stats), default=None)
        last = [e for e in stats if e.observed_at == latest]
        snapshot = tuple(max((getattr(e, k) for e in last), default=0)
                         for k in ("views", "likes", "shares", "comments"))
        for c in campaigns:
            tags = {t.lstrip("#").lower() for t in c.hashtags}
            if not tags & {t.lstrip("#").lower() for t in v.hashtags}:
                continue
            if not c.starts_at <= v.created_at < c.ends_at:
                why = "before_start" if v.created_at < c.starts_at else "after_end"
                rows[(c.id, video_id)] = (v.creator_id, created_s, "outside_window", created_s, why, 0, 0, 0, 0)
                continue
            if decided is None:
                rows[(c.id, video_id)] = (v.creator_id, created_s, "counted", created_s, "", *snapshot)
            else:
                rows[(c.id, video_id)] = (
                    v.creator_id, created_s, "removed" if decided.status == "removed" else "counted",
                    math.floor(decided.at.timestamp()), decided.reason, *snapshot)
    return rows
