"""Per-campaign tallies: the exact counting rule, independent of Faust.

State that must survive crashes is two *sets*, kept in Faust tables (changelogged):

* ``seen``:     ``"<campaign>\\x1f<video>"``   -> event-time minute of the video's first count;
* ``creators``: ``"<campaign>\\x1f<creator>"`` -> 1.

Recording a video only ever *adds* to them and is idempotent, so processing an event twice
(at-least-once redelivery, a crash before the offset commit) changes nothing. Counters
(videos, creators, videos per minute) are *derived* from the sets: rebuilt by scanning them
after a rebalance or restart and then kept up to date in memory. No counter is stored on its
own, so no crash can leave a counter out of step with the sets.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, MutableMapping

from forgood.campaigns import Campaign
from forgood.records import CampaignMinute, CampaignTotal, CampaignVideo
from forgood.rules import minute_donations, total_donation

SEP = "\x1f"


def member_key(campaign_id: str, member: str) -> str:
    """Key of a video or creator in a campaign's set."""
    return f"{campaign_id}{SEP}{member}"


def campaign_of(key: str) -> str:
    """Campaign id of a :func:`member_key`."""
    return key.split(SEP, 1)[0]


@dataclass
class CampaignTally:
    """Derived counters of one campaign plus what was last published for it."""

    videos: int = 0
    creators: int = 0
    minute_videos: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    dirty_minutes: set[int] = field(default_factory=set)
    published_minutes: dict[int, tuple[int, int]] = field(default_factory=dict)
    published_terms: tuple | None = None


class TallyBook:
    """All campaign tallies one worker owns. Not thread-safe; used from one event loop.

    ``valid`` is False until :meth:`rebuild` has run after the last rebalance; callers
    rebuild before recording.
    """

    def __init__(self) -> None:
        self.tallies: dict[str, CampaignTally] = defaultdict(CampaignTally)
        self.valid = False

    def invalidate(self) -> None:
        """Forget derived counters (called on rebalance: the owned sets change)."""
        self.tallies = defaultdict(CampaignTally)
        self.valid = False

    def rebuild(self, seen: Iterable[tuple[str, int]], creators: Iterable[str]) -> None:
        """Recompute every counter from the sets' contents. O(size of the sets)."""
        self.invalidate()
        for key, minute in seen:
            tally = self.tallies[campaign_of(key)]
            tally.videos += 1
            tally.minute_videos[int(minute)] += 1
            tally.dirty_minutes.add(int(minute))
        for key in creators:
            self.tallies[campaign_of(key)].creators += 1
        self.valid = True

    def record(
        self,
        item: CampaignVideo,
        seen: MutableMapping[str, int],
        creators: MutableMapping[str, int],
    ) -> bool:
        """Count ``item`` unless its video was already counted for its campaign.

        Returns True when the video is new. The creator is added even for a known video, so
        a crash between the two set writes cannot lose a participant.
        """
        tally = self.tallies[item.campaign_id]
        vkey = member_key(item.campaign_id, item.video_id)
        new = vkey not in seen
        if new:
            seen[vkey] = item.minute
            tally.videos += 1
            tally.minute_videos[item.minute] += 1
            tally.dirty_minutes.add(item.minute)
        ckey = member_key(item.campaign_id, item.creator_id)
        if ckey not in creators:
            creators[ckey] = 1
            tally.creators += 1
        return new

    def changes(
        self, campaign: Campaign, now_s: int, version: int
    ) -> tuple[CampaignTotal, list[CampaignMinute]]:
        """The totals row and the minute rows whose values changed since last published.

        Every minute is re-derived when the campaign's terms (price, cap, currency) differ
        from those last published (always true after a rebuild) or when the cap is in play
        (the capped remainder can move between minutes); otherwise only the minutes touched
        since the last call. Marks what it returns as published.
        """
        tally = self.tallies[campaign.id]
        price, cap = campaign.price_minor, campaign.cap_minor
        terms = campaign.terms
        donation = total_donation(tally.videos, price, cap)
        total = CampaignTotal(
            campaign_id=campaign.id,
            videos=tally.videos,
            creators=tally.creators,
            donation_minor=donation,
            currency=campaign.currency,
            updated_at=now_s,
            version=version,
        )
        capped = cap is not None and tally.videos * price > cap
        if capped or terms != tally.published_terms:
            candidates = minute_donations(tally.minute_videos, price, cap)
        else:
            candidates = {m: tally.minute_videos[m] * price for m in tally.dirty_minutes}
        minutes = []
        for minute, minute_donation in candidates.items():
            value = (tally.minute_videos[minute], minute_donation)
            if tally.published_minutes.get(minute) != value:
                tally.published_minutes[minute] = value
                minutes.append(CampaignMinute(campaign.id, minute, value[0], value[1], version))
        tally.dirty_minutes.clear()
        tally.published_terms = terms
        return total, minutes
