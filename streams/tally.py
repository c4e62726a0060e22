"""Per-campaign tallies: the exact counting rule, independent of Faust.

Durable state is an append-only **ledger** (a changelogged Faust table): one entry per
campaign per batch that brought something new, holding the videos (with the event-time minute
of their first count) and the creators that batch added. An entry's key is fixed by the first
new item it holds (source offset and position), so re-processing a batch after a crash can
never overwrite an entry with less: an item already in the ledger is no longer new.

In memory, :class:`TallyBook` keeps the membership *sets* (videos and creators per campaign)
and the counters derived from them. Recording only ever adds and is idempotent, so an event
processed twice (at-least-once redelivery, a crash before the offset commit) changes
nothing. After a start or rebalance the book is rebuilt by reading the ledger; no counter is
stored on its own, so no crash can leave a counter out of step with the sets.

One ledger entry per batch (instead of one table record per video and creator) is what makes
the worker fast: the producer and the changelog see ~1 record per campaign per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from forgood.domain.campaigns import Campaign
from forgood.domain.contracts import KEY_SEP
from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideo, CampaignVideoBatch
from forgood.domain.rules import minute_donations, total_donation
from streams.versions import row_version

SEP = KEY_SEP  # the separator of every composite key (forgood.domain.contracts)


def ledger_key(campaign_id: str, offset: int, position: int) -> str:
    """Key of the ledger entry whose first new item is ``position`` in the record at ``offset``."""
    return f"{campaign_id}{SEP}{offset}.{position}"


def campaign_of(key: str) -> str:
    """Campaign id of a :func:`ledger_key`."""
    return key.split(SEP, 1)[0]


def offset_of(key: str) -> int:
    """Source offset of a :func:`ledger_key` (the record that brought the entry)."""
    return int(key.rsplit(SEP, 1)[1].split(".", 1)[0])


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What one batch added to one campaign: ``videos`` as (video id, minute), ``creators``.

    Wire format (compact JSON, ~1 byte of overhead per member besides its id):
    ``[[[minute, [video, ...]], ...], [creator, ...]]``.
    """

    videos: tuple[tuple[str, int], ...]
    creators: tuple[str, ...]

    def to_bytes(self) -> bytes:
        by_minute: dict[int, list[str]] = defaultdict(list)
        for video_id, minute in self.videos:
            by_minute[minute].append(video_id)
        return orjson.dumps([list(by_minute.items()), list(self.creators)])

    @classmethod
    def from_bytes(cls, raw: bytes) -> LedgerEntry:
        by_minute, creators = orjson.loads(raw)
        videos = tuple((video_id, int(minute)) for minute, ids in by_minute for video_id in ids)
        return cls(videos, tuple(creators))


@dataclass(frozen=True, slots=True)
class Recorded:
    """Outcome of recording one batch: the entry to append (None when nothing was new), the
    position of its first new item, and the items whose video was counted for the first time."""

    entry: LedgerEntry | None
    first_new: int
    new_videos: tuple[CampaignVideo, ...]


@dataclass
class CampaignTally:
    """Membership sets and derived counters of one campaign, plus what was last published.

    ``applied_offset`` is the greatest source offset of a ledger entry applied to the sets
    (-1: none): the ledger's progress, from which row versions are derived
    (:mod:`streams.versions`)."""

    video_ids: set[str] = field(default_factory=set)
    creator_ids: set[str] = field(default_factory=set)
    minute_videos: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    dirty_minutes: set[int] = field(default_factory=set)
    published_minutes: dict[int, tuple[int, int]] = field(default_factory=dict)
    published_terms: tuple | None = None
    applied_offset: int = -1

    @property
    def videos(self) -> int:
        return len(self.video_ids)

    @property
    def creators(self) -> int:
        return len(self.creator_ids)

    def add_video(self, video_id: str, minute: int) -> bool:
        """Add a video counted in event-time ``minute``; False (and no change) if known."""
        if video_id in self.video_ids:
            return False
        self.video_ids.add(video_id)
        self.minute_videos[minute] += 1
        self.dirty_minutes.add(minute)
        return True

    def add_creator(self, creator_id: str) -> bool:
        if creator_id in self.creator_ids:
            return False
        self.creator_ids.add(creator_id)
        return True


class TallyBook:
    """All campaign tallies one worker owns. Not thread-safe; used from one event loop.

    ``valid`` is False until :meth:`rebuild` has run after the last rebalance; callers
    rebuild before recording.
    """

    def __init__(self) -> None:
        self.tallies: dict[str, CampaignTally] = defaultdict(CampaignTally)
        self.valid = False

    def invalidate(self) -> None:
        """Forget sets and counters (called on rebalance: the owned campaigns change)."""
        self.tallies = defaultdict(CampaignTally)
        self.valid = False

    def rebuild(self, ledger: Iterable[tuple[str, bytes]]) -> None:
        """Recompute every set and counter from the ledger's ``(key, entry bytes)`` pairs.

        O(size of the ledger). Entries are applied in the order given; a video found in two
        entries (possible only from a stale store copy) counts once, with its first minute.
        """
        self.invalidate()
        for key, raw in ledger:
            tally = self.tallies[campaign_of(key)]
            tally.applied_offset = max(tally.applied_offset, offset_of(key))
            entry = LedgerEntry.from_bytes(raw)
            for video_id, minute in entry.videos:
                tally.add_video(video_id, minute)
            for creator_id in entry.creators:
                tally.add_creator(creator_id)
        self.valid = True

    def record(self, batch: CampaignVideoBatch, offset: int) -> Recorded:
        """Count the batch's videos that are new for its campaign, and its new creators;
        ``offset`` is the batch's source offset.

        Returns the ledger entry to append under ``ledger_key(campaign, offset, first_new)``
        (the caller must write it before the batch's offset is committed). The creator is
        added even for a known video, so an entry lost with a crash is re-derived in full
        when the batch is delivered again.
        """
        tally = self.tallies[batch.campaign_id]
        videos: list[tuple[str, int]] = []
        creators: list[str] = []
        new_videos: list[CampaignVideo] = []
        first_new = -1
        for position, item in enumerate(batch.videos):
            new_video = tally.add_video(item.video_id, item.minute)
            new_creator = tally.add_creator(item.creator_id)
            if new_video:
                videos.append((item.video_id, item.minute))
                new_videos.append(item)
            if new_creator:
                creators.append(item.creator_id)
            if first_new < 0 and (new_video or new_creator):
                first_new = position
        entry = LedgerEntry(tuple(videos), tuple(creators)) if first_new >= 0 else None
        if entry is not None:
            tally.applied_offset = max(tally.applied_offset, offset)
        return Recorded(entry, first_new, tuple(new_videos))

    def take_unpublished(
        self, campaign: Campaign, campaign_offset: int, now_s: int
    ) -> tuple[CampaignTotal, list[CampaignMinute]]:
        """The totals row and the minute rows whose values changed since last published, and
        mark them published (the caller must then send them). ``campaign_offset`` is the
        offset of the campaign record ``campaign`` was read from; with the tally's
        ``applied_offset`` it gives the rows' version (:func:`streams.versions.row_version`).

        Every minute is re-derived when the campaign's terms (price, cap, currency) differ
        from those last published (always true after a rebuild) or when the cap is in play
        (the capped remainder can move between minutes); otherwise only the minutes touched
        since the last call. Marks what it returns as published.
        """
        tally = self.tallies[campaign.id]
        version = row_version(tally.applied_offset, campaign_offset)
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
