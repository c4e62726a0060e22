"""One campaign's totals and minute rows under removals and engagement (issue 13), pure.

:class:`CampaignAggregate` is what a campaign's owner keeps in memory (one per campaign, in
:class:`streams.tally.CampaignTally`): for every video matched to the
campaign, its creator, its event-time minute and its :class:`~forgood.domain.video_state.VideoState`,
and counters derived from them:

* ``videos`` — matched videos that count (state not removed); ``removed`` — matched videos
  whose state is removed;
* ``creators`` — distinct creators with at least one counted video (a count per creator, so
  removing a creator's last counted video removes the creator, and restoring it brings them back);
* ``minute_videos`` — counted videos per event-time minute (every minute that ever held a
  matched video stays, possibly at 0, so a minute emptied by removals is published as 0);
* ``views``, ``likes``, ``shares``, ``comments`` — sums over the counted videos of each one's
  latest snapshot;
* the donation, from the campaign's terms at the time of asking: ``min(videos × price, cap)``
  in total, and per minute the event-time cap rule of :mod:`forgood.domain.rules` (filled in
  event-time order). Removing a video of a campaign over its cap leaves the donation at the
  cap until the count falls below it — the rule itself gives this, nothing is special-cased.

:meth:`CampaignAggregate.observe` is the one update: a video's match and a state. It *merges*
the state into the one it holds (the states form a join-semilattice), so observations can be
re-delivered and reordered freely and the aggregate ends the same. An observation costs O(1);
:meth:`CampaignAggregate.totals` is O(1) and :meth:`CampaignAggregate.minute_rows` O(minutes)
(the capped remainder can move between minutes), and both are exactly what
:func:`recompute` gives from scratch.

Why here (``streams/``) and not in ``forgood/domain/``: this is the owner's derived in-memory
state, kept per campaign by :mod:`streams.tally`, used by the worker alone. The
rules it applies — the video state and the money — are in ``forgood/domain/``
(:mod:`forgood.domain.video_state`, :mod:`forgood.domain.rules`), shared with anyone who needs them.

Used by :class:`streams.tally.TallyBook` (one aggregate per owned campaign): forwarded
``(video, creator, minute, state)`` items are observed as they arrive, the ledger keeps what
changed, a rebuild observes every entry again in any order. Minute rows are every minute that
ever held a matched video, so a minute emptied by removals is published as ``(0, 0)``; every
minute is republished while the cap is in play, before *or* after a change.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from forgood.domain.rules import minute_donations, total_donation
from forgood.domain.video_state import UNOBSERVED, VideoState


class MatchedVideo(NamedTuple):
    """A video matched to the campaign: who made it and its event time (whole epoch seconds).
    (A named tuple: one is made per forwarded item, and a frozen dataclass costs ~3× more.)"""

    video_id: str
    creator_id: str
    created_s: int

    @property
    def minute(self) -> int:
        """Start of the event-time minute (epoch s)."""
        return self.created_s - self.created_s % 60


@dataclass(frozen=True, slots=True)
class CampaignTotals:
    """A campaign's totals under its terms."""

    videos: int
    creators: int
    removed: int
    donation_minor: int
    views: int
    likes: int
    shares: int
    comments: int


@dataclass(frozen=True, slots=True)
class MinuteRow:
    """One event-time minute: counted videos and their donation under the cap rule."""

    videos: int
    donation_minor: int


class Change(NamedTuple):
    """What one observation changed: the minute whose count may have moved (``counted_delta``
    -1, 0 or +1) and whether the totals changed at all."""

    minute: int
    counted_delta: int
    totals_changed: bool


#: What the aggregate keeps per video: ``(creator_id, created_s, state)`` (``created_s`` its
#: event time in whole epoch seconds), ``state`` None while
#: nothing but the creation is known. An exact tuple of strings, ints and None is untracked by
#: Python's cyclic garbage collector, which would otherwise walk every video of every owned
#: campaign at each full collection (measured: a third of the counting stage's time).
Entry = tuple[str, int, VideoState | None]


#: A row of the audit trail as :meth:`CampaignAggregate.audit_row` gives it.
AuditRow = tuple[str, str, int, str, int, str, int, int, int, int]


def _state(entry: Entry) -> VideoState:
    state = entry[2]
    return UNOBSERVED if state is None else state


@dataclass
class CampaignAggregate:
    """Matched videos of one campaign with their states, and the counters derived from them."""

    entries: dict[str, Entry] = field(default_factory=dict)
    videos: int = 0
    removed: int = 0
    creator_videos: dict[str, int] = field(default_factory=dict)  # creator -> counted videos (> 0)
    minute_videos: dict[int, int] = field(default_factory=dict)  # minute -> counted videos (>= 0)
    engagement: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    dirty_minutes: set[int] = field(default_factory=set)
    #: States of videos not observed yet, met in a rebuild (:meth:`hold_orphan`).
    orphans: dict[str, VideoState] = field(default_factory=dict)

    @property
    def creators(self) -> int:
        return len(self.creator_videos)

    def state_of(self, video_id: str) -> VideoState | None:
        """The video's state; None when it was never observed."""
        entry = self.entries.get(video_id)
        return None if entry is None else _state(entry)

    def match_of(self, video_id: str) -> MatchedVideo | None:
        """The video's creator and event time; None when it was never observed."""
        entry = self.entries.get(video_id)
        return None if entry is None else MatchedVideo(video_id, entry[0], entry[1])

    def audit_row(self, video_id: str) -> AuditRow:
        """The video's row of the audit trail (``campaign_videos``), as
        :class:`~forgood.domain.records.CampaignVideoRows` carries it: ``(video, creator,
        created_s, status, status_at, reason, views, likes, shares, comments)``, ``status``
        ``removed`` or ``counted``, ``status_at`` the latest status event's time in whole
        seconds (the creation time when there was none). KeyError for a video never observed."""
        creator_id, created_s, state = self.entries[video_id]
        if state is None:
            return (video_id, creator_id, created_s, "counted", created_s, "", 0, 0, 0, 0)
        status_at = created_s if state.status_at is None else state.status_at // 1_000_000
        return (video_id, creator_id, created_s, "removed" if state.removed else "counted", status_at,
                state.reason_text, state.views, state.likes, state.shares, state.comments)

    def observe(self, video: MatchedVideo, state: VideoState) -> Change | None:
        """Merge ``state`` into the video's state (adding the video when new); O(1).

        A video's creator and event time are those of its first observation (a video has one
        created event; re-deliveries repeat it). Returns None when nothing changed."""
        video_id = video.video_id
        entry = self.entries.get(video_id)
        if entry is None:
            orphan = self.orphans.pop(video_id, None) if self.orphans else None
            if orphan is not None:
                state = state.merge(orphan)
            # one string per creator, shared by all their videos
            kept = state if state.observed else None
            entry = (sys.intern(video.creator_id), video.created_s, kept)
            self.entries[video_id] = entry
            minute = video.minute
            self.minute_videos.setdefault(minute, 0)
            self._enter(entry, +1)
            self.dirty_minutes.add(minute)
            return Change(minute, int(state.counts), True)
        before = _state(entry)
        merged = before.merge(state)
        if merged is before or merged == before:
            return None
        self._enter(entry, -1)
        entry = self.entries[video_id] = (entry[0], entry[1], merged)
        self._enter(entry, +1)
        delta = int(merged.counts) - int(before.counts)
        minute = entry[1] - entry[1] % 60
        if delta:
            self.dirty_minutes.add(minute)
        engagement_moved = merged.counts and merged.engagement != before.engagement
        return Change(minute, delta, bool(delta) or engagement_moved)

    def observe_known(self, video_id: str, state: VideoState) -> Change | None:
        """:meth:`observe` for a video whose match (creator, minute) may be known only by an
        earlier observation; a state of a video never observed is held as an orphan."""
        entry = self.entries.get(video_id)
        if entry is None:
            self.hold_orphan(video_id, state)
            return None
        return self.observe(MatchedVideo(video_id, entry[0], entry[1]), state)

    def hold_orphan(self, video_id: str, state: VideoState) -> None:
        """Keep the state of a video not observed yet, merged into it when it is. A rebuild
        meets one when a crash kept a later ledger entry but lost the one that added the
        video (its record was not committed, so it is processed again and adds the video)."""
        held = self.orphans.get(video_id)
        self.orphans[video_id] = state if held is None else held.merge(state)

    def _enter(self, entry: Entry, sign: int) -> None:
        """Add (``sign`` +1) or take away (-1) one entry's contribution to every counter."""
        creator_id, created_s, state = entry
        if state is not None and state.removed:
            self.removed += sign
            return
        self.videos += sign
        self.minute_videos[created_s - created_s % 60] += sign
        left = self.creator_videos.get(creator_id, 0) + sign
        if left:
            self.creator_videos[creator_id] = left
        else:
            del self.creator_videos[creator_id]
        if state is not None and state.stats_observed_at is not None:  # no snapshot: all four are 0
            engagement = self.engagement
            engagement[0] += sign * state.views
            engagement[1] += sign * state.likes
            engagement[2] += sign * state.shares
            engagement[3] += sign * state.comments

    def totals(self, price_minor: int, cap_minor: int | None) -> CampaignTotals:
        """The totals under the terms ``price_minor`` and ``cap_minor``; O(1)."""
        views, likes, shares, comments = self.engagement
        return CampaignTotals(
            videos=self.videos,
            creators=self.creators,
            removed=self.removed,
            donation_minor=total_donation(self.videos, price_minor, cap_minor),
            views=views,
            likes=likes,
            shares=shares,
            comments=comments,
        )

    def minute_rows(self, price_minor: int, cap_minor: int | None) -> dict[int, MinuteRow]:
        """Every minute that holds a matched video, under the event-time cap rule; O(minutes)."""
        donations = minute_donations(self.minute_videos, price_minor, cap_minor)
        return {m: MinuteRow(n, donations[m]) for m, n in self.minute_videos.items()}

    def capped(self, price_minor: int, cap_minor: int | None) -> bool:
        """Whether the cap is in play (then any change may move the remainder between minutes,
        and the owner republishes every minute, as today)."""
        return cap_minor is not None and self.videos * price_minor > cap_minor

    def take_dirty_minutes(self) -> set[int]:
        """The minutes whose counted videos changed (or that appeared) since the last call."""
        dirty, self.dirty_minutes = self.dirty_minutes, set()
        return dirty


def recompute(
    videos: Iterable[tuple[MatchedVideo, VideoState]], price_minor: int, cap_minor: int | None
) -> tuple[CampaignTotals, dict[int, MinuteRow]]:
    """The totals and minute rows from scratch (the same rules, computed in one pass over
    the final states): what :class:`CampaignAggregate` must always equal. ``videos`` holds
    each matched video once with its final state."""
    counted = removed = 0
    creators: set[str] = set()
    minutes: dict[int, int] = {}
    engagement = [0, 0, 0, 0]
    for video, state in videos:
        minutes.setdefault(video.minute, 0)
        if not state.counts:
            removed += 1
            continue
        counted += 1
        creators.add(video.creator_id)
        minutes[video.minute] += 1
        for i, value in enumerate(state.engagement):
            engagement[i] += value
    donations = minute_donations(minutes, price_minor, cap_minor)
    totals = CampaignTotals(
        counted, len(creators), removed, total_donation(counted, price_minor, cap_minor), *engagement
    )
    return totals, {m: MinuteRow(n, donations[m]) for m, n in minutes.items()}
