"""An oracle for settlement statements and "did my video count?" (issue 14), written
independently of forgood.

It re-states the rules of a statement in the plainest code, from the whole list of source
events at once (the event classes of :mod:`tests.support.removals_oracle`), with nothing
imported from forgood — no audit rows, no money helpers, no rules module:

* a video is its first created event (re-deliveries repeat it byte for byte); it *carries*
  campaign C when one of its hashtags, lower-cased with ``#`` stripped, is one of C's;
* a carried video is **outside the window** when ``created_at`` is not in
  ``[starts_at, ends_at)`` (never paid; ``before_start`` or ``after_end``); inside, it is
  **removed** when its status event with the latest ``at`` is a removal (equal ``at``: the
  removal wins), else **counted**;
* **as of T** (whole seconds): the videos whose ``created_at``, floored to the second, is
  before T — whatever their status events' times (a video removed after T is not paid for);
* ``videos`` / ``removed`` / ``outside_window`` count those videos by status; ``participants``
  the distinct creators of the counted ones;
* **donation**: the counted videos one at a time in creation order, each adding the price
  until the running total reaches the cap (the price of the terms given: a price change
  re-prices every video); **days**: per UTC day of creation holding a counted video, its
  videos and the parts of the donation its videos added, so the cap is filled in event-time
  order and the days add up to the donation;
* ``settled_minor`` = the sum of ``paid_minor`` over the settlements with ``as_of <= T``;
  ``due_minor`` = donation - settled (negative: a credit);
* ``video_ids_sha256`` = sha256 (hex) of the sorted counted ids joined by newlines.

The lookup (:func:`lookup`) answers for one campaign and video id: ``unknown`` when the video
never carried the campaign's hashtags; else its status as above, the start of its creation
minute, when the status was set (the deciding status event's ``at`` in whole seconds, or the
creation second when there was none) and why (that event's reason — ties broken by the
removal first, then :data:`REASON_ORDER` —, ``before_start`` / ``after_end`` outside the window,
none otherwise); never the creator.

As :mod:`tests.support.removals_oracle`, it describes a run in which every created event is
processed within the pending TTL of its video's other events, and the campaigns' windows and
hashtags did not change while events were processed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.support.eventset import OracleCampaign
from tests.support.removals_oracle import Created, Event, Status

#: Removal reasons in the order that breaks a tie between status events of the same ``at`` and
#: status (the later wins), as the README states the rule.
REASON_ORDER = ("creator_deleted", "moderation", "fraud", "appeal", "other")


@dataclass(frozen=True)
class Paid:
    """One settlement as a statement nets it: its as-of (epoch s) and what it paid (minor units)."""

    as_of: int
    paid_minor: int


@dataclass(frozen=True)
class _Video:
    video_id: str
    creator_id: str
    created_s: int
    status: str  # counted | removed | outside_window
    status_at: int
    reason: str


def _tags(hashtags: Iterable[str]) -> set[str]:
    return {t.lstrip("#").lower() for t in hashtags}


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%d")


def _videos(events: Sequence[Event], campaign: OracleCampaign) -> dict[str, _Video]:
    """Every video that carried one of ``campaign``'s hashtags, with its status for it."""
    first: dict[str, Created] = {}
    statuses: dict[str, list[Status]] = {}
    for e in events:
        if isinstance(e, Created):
            first.setdefault(e.video_id, e)
        elif isinstance(e, Status):
            statuses.setdefault(e.video_id, []).append(e)
    wanted = _tags(campaign.hashtags)
    out = {}
    for video_id, v in first.items():
        if not wanted & _tags(v.hashtags):
            continue
        created_s = math.floor(v.created_at.timestamp())
        if v.created_at < campaign.starts_at:
            out[video_id] = _Video(video_id, v.creator_id, created_s, "outside_window", created_s, "before_start")
            continue
        if v.created_at >= campaign.ends_at:
            out[video_id] = _Video(video_id, v.creator_id, created_s, "outside_window", created_s, "after_end")
            continue
        mine = statuses.get(video_id, [])
        if not mine:
            out[video_id] = _Video(video_id, v.creator_id, created_s, "counted", created_s, "")
            continue
        deciding = max(mine, key=lambda s: (s.at, s.status == "removed", REASON_ORDER.index(s.reason)))
        out[video_id] = _Video(video_id, v.creator_id, created_s,
                               "removed" if deciding.status == "removed" else "counted",
                               math.floor(deciding.at.timestamp()), deciding.reason)
    return out


def statement(events: Sequence[Event], campaign: OracleCampaign, as_of: int,
              paid: Sequence[Paid] = ()) -> dict:
    """The statement of ``campaign`` (its terms: the ones in force now) as of ``as_of`` (epoch
    s) after ``events``, with ``paid`` its settlements: the JSON document's figures
    (``videos, participants, removed, outside_window, donation_minor, settled_minor,
    due_minor, video_ids_sha256, days``) plus ``video_ids`` (the counted ids, sorted)."""
    before = [v for v in _videos(events, campaign).values() if v.created_s < as_of]
    counted = sorted((v for v in before if v.status == "counted"), key=lambda v: (v.created_s, v.video_id))
    running = 0
    days: dict[str, list[int]] = {}
    for v in counted:
        part = campaign.price_minor
        if campaign.cap_minor is not None:
            part = max(0, min(part, campaign.cap_minor - running))
        running += part
        line = days.setdefault(_day(v.created_s), [0, 0])
        line[0] += 1
        line[1] += part
    settled = 0
    for p in paid:
        if p.as_of <= as_of:
            settled += p.paid_minor
    ids = sorted(v.video_id for v in counted)
    return {
        "videos": len(counted),
        "participants": len({v.creator_id for v in counted}),
        "removed": sum(1 for v in before if v.status == "removed"),
        "outside_window": sum(1 for v in before if v.status == "outside_window"),
        "donation_minor": running,
        "settled_minor": settled,
        "due_minor": running - settled,
        "video_ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "days": [{"day": day, "videos": n, "donation_minor": money} for day, (n, money) in sorted(days.items())],
        "video_ids": ids,
    }


def lookup(events: Sequence[Event], campaign: OracleCampaign, video_id: str) -> dict:
    """What "did my video count?" answers for ``video_id`` in ``campaign`` after ``events``:
    ``{campaign_id, video_id, status, minute, status_at, reason}``, times ISO 8601 UTC, None
    where there is nothing to say (an ``unknown`` video has no times and no reason)."""
    found = _videos(events, campaign).get(video_id)
    if found is None:
        return {"campaign_id": campaign.id, "video_id": video_id, "status": "unknown", "minute": None,
                "status_at": None, "reason": None}
    return {"campaign_id": campaign.id, "video_id": video_id, "status": found.status,
            "minute": _iso(found.created_s - found.created_s % 60), "status_at": _iso(found.status_at),
            "reason": found.reason or None}


def statuses(events: Sequence[Event], campaign: OracleCampaign) -> dict[str, str]:
    """Each carried video's status for ``campaign`` (``counted``, ``removed``, ``outside_window``)."""
    return {video_id: v.status for video_id, v in _videos(events, campaign).items()}
