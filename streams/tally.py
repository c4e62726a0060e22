"""Per-campaign tallies: the exact counting rule, independent of Faust.

Durable state is an append-only **ledger** (a changelogged Faust table): one entry per
campaign per forwarded record that changed something, holding the videos it added (with
creator and event-time minute) and the videos whose state it changed (with their merged
:class:`~forgood.domain.video_state.VideoState`). An entry's key is fixed by the first item
that changed something (source offset and position), so re-processing a record after a crash
can never overwrite an entry with less: an item already in the ledger changes nothing.

In memory, :class:`TallyBook` keeps one :class:`~streams.campaign_aggregate.CampaignAggregate`
per campaign (every matched video with its creator, minute and state, and the counters
derived from them). Recording *merges* states (a join-semilattice), so an item processed
twice, or forwards that arrive out of order, change nothing. After a start or rebalance the
book is rebuilt by observing every ledger entry again, in any order; no counter is stored on
its own, so no crash can leave a counter out of step with the videos.

One ledger entry per forwarded record (instead of one table record per video) is what makes
the worker fast: the producer and the changelog see ~1 record per campaign per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from forgood.domain.campaigns import Campaign
from forgood.domain.contracts import KEY_SEP
from forgood.domain.errors import StreamError
from forgood.domain.records import UNOBSERVED, CampaignMinute, CampaignTotal, CampaignVideo, CampaignVideoBatch
from forgood.domain.varints import get_str, get_varint, put_str, put_varint, unzigzag, zigzag
from forgood.domain.video_state import VideoState
from streams.campaign_aggregate import AuditRow, CampaignAggregate, MatchedVideo
from streams.versions import row_version

SEP = KEY_SEP  # the separator of every composite key (forgood.domain.contracts)

#: First byte of an entry in the current ledger format (0.1's JSON entries start with ``[``).
FORMAT = 0x03
#: The format before issue 14 (no second within the minute: read as the minute's start).
FORMAT_2 = 0x02


class LedgerFormatError(StreamError):
    """A ledger entry this version cannot read (e.g. one written by forgood 0.1, which did not
    record each video's creator: removals cannot be applied to it). Not retriable."""


def audit_version(offset: int) -> int:
    """The version of the audit rows published after recording the forwarded record at
    ``offset``: it grows with the record's offset in the campaign's partition. Every record
    naming a video publishes the video's row, and the records are processed in offset order
    (after a crash, again from the last committed one), so the row of the greatest offset
    naming a video — the newest version — holds its latest state. Always above the version
    of the ``outside_window`` rows the matching stage writes (:func:`row_version` of -1)."""
    return row_version(offset, -1)


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
    """What one forwarded record changed in one campaign: ``videos`` — the videos seen for the
    first time, as (video, creator, created_s: event time in whole epoch seconds); ``states``
    — videos whose state changed (new ones included), as (video, merged state).

    Wire format (binary: every byte of a changelog is read back on a restart), see
    :mod:`forgood.domain.varints`: the byte ``0x03``; a varint count of minute groups, each a
    zigzag varint minute, a varint count and that many (video, creator) strings each followed
    by a varint second of the minute; a varint count of states, each a video string and its
    :meth:`VideoState.to_bytes`. A new video costs its two ids plus 3 bytes; a kept stats
    snapshot its id plus about 16 bytes. Entries of format ``0x02`` (before issue 14: no
    second) are read with their videos at the start of their minute.
    """

    videos: tuple[tuple[str, str, int], ...]
    states: tuple[tuple[str, VideoState], ...] = ()

    def to_bytes(self) -> bytes:
        by_minute: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
        for video_id, creator_id, created_s in self.videos:
            second = created_s % 60
            by_minute[created_s - second].append((video_id, creator_id, second))
        out = bytearray((FORMAT,))
        put_varint(out, len(by_minute))
        for minute, items in by_minute.items():
            put_varint(out, zigzag(minute))
            put_varint(out, len(items))
            for video_id, creator_id, second in items:
                put_str(out, video_id)
                put_str(out, creator_id)
                out.append(second)  # 0..59: a one-byte varint
        put_varint(out, len(self.states))
        for video_id, state in self.states:
            put_str(out, video_id)
            out += state.to_bytes()
        return bytes(out)

    @classmethod
    def from_bytes(cls, raw: bytes) -> LedgerEntry:
        """Decode :meth:`to_bytes`; raises :class:`LedgerFormatError` on anything else."""
        if not raw or raw[0] not in (FORMAT, FORMAT_2):
            raise LedgerFormatError(
                "the ledger holds an entry this version cannot read (one written by forgood 0.1, which "
                "did not record each video's creator, starts with '['); drain and recount under a new "
                "FORGOOD_APP_ID"
            )
        seconds = raw[0] == FORMAT
        try:
            videos: list[tuple[str, str, int]] = []
            groups, pos = get_varint(raw, 1)
            for _ in range(groups):
                zz, pos = get_varint(raw, pos)
                minute = unzigzag(zz)
                count, pos = get_varint(raw, pos)
                for _ in range(count):
                    video_id, pos = get_str(raw, pos)
                    creator_id, pos = get_str(raw, pos)
                    second = 0
                    if seconds:
                        second, pos = get_varint(raw, pos)
                        if second >= 60:
                            raise ValueError(f"second {second} of a minute")
                    videos.append((video_id, creator_id, minute + second))
            states: list[tuple[str, VideoState]] = []
            count, pos = get_varint(raw, pos)
            for _ in range(count):
                video_id, pos = get_str(raw, pos)
                state, pos = VideoState.decode_at(raw, pos)
                states.append((video_id, state))
        except (ValueError, UnicodeDecodeError) as exc:
            raise LedgerFormatError(f"unreadable ledger entry: {exc}") from exc
        if pos != len(raw):
            raise LedgerFormatError("trailing bytes after a ledger entry")
        return cls(tuple(videos), tuple(states))


@dataclass(frozen=True, slots=True)
class Recorded:
    """Outcome of recording one forwarded record: the entry to append (None when nothing
    changed), the position of its first changing item, the items whose video was seen for
    the first time, how many items changed nothing, and the audit rows of every video the
    record named (changed or not), to publish with :func:`audit_version`."""

    entry: LedgerEntry | None
    first_new: int
    new_videos: tuple[CampaignVideo, ...]
    unchanged: int
    rows: list[AuditRow]


@dataclass
class CampaignTally:
    """One campaign's aggregate plus what was last published.

    ``applied_offset`` is the greatest source offset of a ledger entry applied to the
    aggregate (-1: none): the ledger's progress, from which row versions are derived
    (:mod:`streams.versions`). ``published_capped`` is whether the cap was in play at the
    last publication (then every minute is republished once more when it no longer is)."""

    aggregate: CampaignAggregate = field(default_factory=CampaignAggregate)
    published_minutes: dict[int, tuple[int, int]] = field(default_factory=dict)
    published_terms: tuple | None = None
    published_capped: bool = False
    applied_offset: int = -1

    @property
    def videos(self) -> int:
        return self.aggregate.videos

    @property
    def creators(self) -> int:
        return self.aggregate.creators


class TallyBook:
    """All campaign tallies one worker owns. Not thread-safe; used from one event loop.

    ``valid`` is False until :meth:`rebuild` has run after the last rebalance; callers
    rebuild before recording.
    """

    def __init__(self) -> None:
        self.tallies: dict[str, CampaignTally] = defaultdict(CampaignTally)
        self.valid = False

    def invalidate(self) -> None:
        """Forget every aggregate (called on rebalance: the owned campaigns change)."""
        self.tallies = defaultdict(CampaignTally)
        self.valid = False

    def rebuild(self, ledger: Iterable[tuple[str, bytes]]) -> None:
        """Recompute every aggregate from the ledger's ``(key, entry bytes)`` pairs.

        O(size of the ledger), in any order (observing merges). A video's creator and minute
        are those of its first observation (they never differ: one created event per video).
        Raises :class:`LedgerFormatError` on an entry it cannot read.
        """
        self.invalidate()
        states: list[tuple[CampaignAggregate, tuple[tuple[str, VideoState], ...]]] = []
        for key, raw in ledger:
            tally = self.tallies[campaign_of(key)]
            tally.applied_offset = max(tally.applied_offset, offset_of(key))
            entry = LedgerEntry.from_bytes(raw)
            for video_id, creator_id, minute in entry.videos:
                tally.aggregate.observe(MatchedVideo(video_id, creator_id, minute), UNOBSERVED)
            if entry.states:
                states.append((tally.aggregate, entry.states))
        # States name their video only: every video is known once all entries are read.
        for aggregate, changed in states:
            for video_id, state in changed:
                aggregate.observe_known(video_id, state)
        self.valid = True

    def record(self, batch: CampaignVideoBatch, offset: int) -> Recorded:
        """Observe the record's videos with their states in its campaign's aggregate;
        ``offset`` is the record's source offset.

        Returns the ledger entry to append under ``ledger_key(campaign, offset, first_new)``
        (the caller must write it before the record's offset is committed).
        """
        tally = self.tallies[batch.campaign_id]
        aggregate = tally.aggregate
        videos: list[tuple[str, str, int]] = []
        states: list[tuple[str, VideoState]] = []
        new_videos: list[CampaignVideo] = []
        first_new = -1
        unchanged = 0
        for position, item in enumerate(batch.videos):
            is_new = item.video_id not in aggregate.entries
            matched = MatchedVideo(item.video_id, item.creator_id, item.created_s)
            change = aggregate.observe(matched, item.state)
            if change is None:
                unchanged += 1
                continue
            state = aggregate.state_of(item.video_id)
            assert state is not None
            if is_new:
                new_videos.append(item)
                videos.append(matched)
            if state.observed:
                states.append((item.video_id, state))
            if first_new < 0:
                first_new = position
        entry = LedgerEntry(tuple(videos), tuple(states)) if first_new >= 0 else None
        if entry is not None:
            tally.applied_offset = max(tally.applied_offset, offset)
        # every video named, changed or not: a row sent before a crash may have been lost
        rows = [aggregate.audit_row(video_id) for video_id in dict.fromkeys(item.video_id for item in batch.videos)]
        return Recorded(entry, first_new, tuple(new_videos), unchanged, rows)

    def take_unpublished(
        self, campaign: Campaign, campaign_offset: int, now_s: int
    ) -> tuple[CampaignTotal, list[CampaignMinute]]:
        """The totals row and the minute rows whose values changed since last published, and
        mark them published (the caller must then send them). ``campaign_offset`` is the
        offset of the campaign record ``campaign`` was read from; with the tally's
        ``applied_offset`` it gives the rows' version (:func:`streams.versions.row_version`).

        Every minute is re-derived when the campaign's terms (price, cap, currency) differ
        from those last published (always true after a rebuild) or when the cap is in play
        now or was at the last publication (the capped remainder can move between minutes,
        also back when removals bring the count under the cap); otherwise only the minutes
        whose counted videos changed since the last call.
        """
        tally = self.tallies[campaign.id]
        aggregate = tally.aggregate
        version = row_version(tally.applied_offset, campaign_offset)
        price, cap = campaign.price_minor, campaign.cap_minor
        terms = campaign.terms
        totals = aggregate.totals(price, cap)
        total = CampaignTotal(
            campaign_id=campaign.id,
            videos=totals.videos,
            creators=totals.creators,
            donation_minor=totals.donation_minor,
            currency=campaign.currency,
            updated_at=now_s,
            version=version,
            removed=totals.removed,
            views=totals.views,
            likes=totals.likes,
            shares=totals.shares,
            comments=totals.comments,
        )
        capped = aggregate.capped(price, cap)
        dirty = aggregate.take_dirty_minutes()
        candidates: dict[int, tuple[int, int]]
        if capped or tally.published_capped or terms != tally.published_terms:
            candidates = {m: (row.videos, row.donation_minor) for m, row in aggregate.minute_rows(price, cap).items()}
        else:
            candidates = {m: (aggregate.minute_videos[m], aggregate.minute_videos[m] * price) for m in dirty}
        minutes = []
        for minute, value in candidates.items():
            if tally.published_minutes.get(minute) != value:
                tally.published_minutes[minute] = value
                minutes.append(CampaignMinute(campaign.id, minute, value[0], value[1], version))
        tally.published_terms = terms
        tally.published_capped = capped
        return total, minutes
