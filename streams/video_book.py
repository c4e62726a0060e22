"""The matching stage's state: the join of ``video-created`` with ``video-status`` and ``video-stats``.

The three source topics are keyed and co-partitioned by ``video_id``, so the worker that owns
partition *p* of ``video-created`` also reads partition *p* of the other two, and sees every
event of its videos. :class:`VideoBook` keeps, per video of those partitions:

* what it matched when its created event was processed — campaign ids, creator and
  event time in whole seconds (a replay after a campaign change adds the campaigns it matches then,
  as before status and stats existed), or nothing for a
  video that matched no campaign (it must still be known, or its later events would wait as
  pending);
* status and stats events of videos not yet seen created, in a
  :class:`~forgood.domain.video_state.PendingBuffer` for ``pending_ttl_s`` of processing
  time; a held event is applied when its video's created event is processed less than the
  TTL after the event arrived (:func:`~forgood.domain.video_state.held_in_time`), else
  dropped and counted.

A video's state (:class:`~forgood.domain.video_state.VideoState`) is *not* kept here: each
status or stats event of a matched video is forwarded as the state it alone gives, and the
campaign's owner merges it into the state it holds (a join-semilattice: order and repetition
do not matter). Keeping a merged copy here too would cost memory and disk per snapshot and add
nothing the owner's ledger does not already make durable.

Durable state is an append-only ledger (the changelogged ``videos`` table), as for the
campaign owners (:mod:`streams.tally`): one :class:`VideoEntry` per source partition, topic
and batch that brought something new, keyed ``<partition>␟<topic code><offset>`` by the
first record that did (so a re-processed batch never overwrites an entry with less). An
entry carries its processing time, which is all the pending rule needs: rebuilding from the
ledger (:meth:`VideoBook.rebuild`) decides every held event exactly as the live worker did.
Cost on disk: a created video is its id and creator plus a few bytes (the match is stored
once per group of videos with the same minute and campaigns); status and stats events of
known videos cost nothing here.

Not thread-safe; used from the worker's one event loop. Nothing here blocks or reads a clock.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from forgood.domain.contracts import KEY_SEP
from forgood.domain.errors import StreamError
from forgood.domain.records import state_from_json, state_to_json
from forgood.domain.video_state import (
    UNOBSERVED,
    Observation,
    PendingBuffer,
    VideoState,
    held_in_time,
    observation_of,
)

#: One letter per source topic in ledger keys (offsets are per topic).
TOPIC_CODES = ("c", "s", "t")  # created, status, stats


class VideoLedgerError(StreamError):
    """A ``videos`` ledger entry that cannot be read (not written by this version)."""


def video_key(partition: int, topic_code: str, offset: int) -> str:
    """Key of the ledger entry whose first new item came from ``offset`` of the source topic
    ``topic_code`` (:data:`TOPIC_CODES`) in ``partition``."""
    return f"{partition}{KEY_SEP}{topic_code}{offset}"


def partition_of(key: str) -> int:
    """Source partition of a :func:`video_key`."""
    return int(key.split(KEY_SEP, 1)[0])


#: A video matched to at least one campaign: ``(campaigns, creator_id, created_s)``, the match
#: made when it was created (``created_s``: its event time in whole epoch seconds). An exact
#: tuple of strings and ints: Python's cyclic garbage collector leaves it alone (a named tuple
#: or a dataclass per video it would walk at every full collection — measured at a quarter of
#: the matching stage's time).
KnownVideo = tuple[tuple[str, ...], str, int]


@dataclass
class VideoEntry:
    """What one batch of one source partition added (the ledger's unit; see the module docstring).

    ``created``: ``(video, creator, created_s, campaigns)`` of new matched videos;
    ``unmatched``: ids of new videos that matched nothing; ``pending``: events of unknown
    videos (as the state each alone gives), held from ``processed_ms``.

    Wire format (compact JSON): ``[processed_ms, [[minute, [campaign, ...], [[video, creator(,
    second)], ...]], ...], [video, ...], [[video, state], ...]]`` with ``second`` the second
    of the minute (left out when 0; entries written before issue 14 have none, so their videos
    read as created at the start of their minute) and states as in
    :func:`forgood.domain.records.state_to_json`.
    """

    processed_ms: int
    created: list[tuple[str, str, int, tuple[str, ...]]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    pending: list[tuple[str, VideoState]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.created or self.unmatched or self.pending)

    def to_bytes(self) -> bytes:
        groups: dict[tuple[int, tuple[str, ...]], list[tuple[str, ...] | tuple[str, str, int]]] = defaultdict(list)
        for video_id, creator_id, created_s, campaigns in self.created:
            second = created_s % 60
            groups[(created_s - second, campaigns)].append(
                (video_id, creator_id, second) if second else (video_id, creator_id))
        return orjson.dumps([
            self.processed_ms,
            [[minute, list(campaigns), videos] for (minute, campaigns), videos in groups.items()],
            self.unmatched,
            [[v, state_to_json(s)] for v, s in self.pending],
        ])

    @classmethod
    def from_bytes(cls, raw: bytes) -> VideoEntry:
        """Decode :meth:`to_bytes`; raises :class:`VideoLedgerError` on anything else."""
        try:
            processed_ms, groups, unmatched, pending = orjson.loads(raw)
            return cls(
                int(processed_ms),
                [(item[0], item[1], int(minute) + (int(item[2]) if len(item) > 2 else 0), tuple(campaigns))
                 for minute, campaigns, videos in groups for item in videos],
                list(unmatched),
                [(v, state_from_json(s)) for v, s in pending],
            )
        except (ValueError, TypeError) as exc:
            raise VideoLedgerError(f"unreadable videos ledger entry: {exc}") from exc


class VideoBook:
    """Known videos and held events of the partitions this worker owns (module docstring).

    ``valid`` is False until :meth:`rebuild` has run after the last rebalance. Times are
    processing times in epoch milliseconds, passed in by the caller.
    """

    def __init__(self, pending_ttl_s: float) -> None:
        self.ttl_s = pending_ttl_s
        #: video id -> its match; None: created, matched no campaign.
        self.known: dict[str, KnownVideo | None] = {}
        #: video id -> the join of the events held for it when it was created (forwarded again
        #: with every re-delivered created event: the first forward may have been lost).
        self.held: dict[str, VideoState] = {}
        self.pending = PendingBuffer(pending_ttl_s)
        self._matches: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.valid = False

    def invalidate(self) -> None:
        """Forget everything (on rebalance: the owned partitions change)."""
        self.known = {}
        self.held = {}
        self.pending = PendingBuffer(self.ttl_s)
        self.valid = False

    # --- live steps (each records what it changed in ``entry``) -----------------------------

    def created(
        self, video_id: str, creator_id: str, created_s: int, campaigns: tuple[str, ...], entry: VideoEntry
    ) -> tuple[KnownVideo | None, VideoState, int]:
        """A created event (event time ``created_s``, whole epoch seconds) processed at
        ``entry.processed_ms``, matching ``campaigns`` now.
        A new video takes the events held for it that are still in time. A known one keeps
        its creator and event time, and its campaigns become the union of what it matched then
        and now: as before status events, a created event replayed after a campaign was
        added or widened counts for it (the campaign-change rule), and a video once counted
        for a campaign stays so. Returns the video to forward (None: it matched nothing yet),
        the state to forward with it (the held events' join; :data:`UNOBSERVED` when none)
        and how many held events were too old and dropped."""
        if video_id in self.known:
            return self._rematched(video_id, creator_id, created_s, campaigns, entry), self.held.get(
                video_id, UNOBSERVED), 0
        held, dropped = self.pending.take_fresh(video_id, entry.processed_ms / 1000)
        if not campaigns:
            self.known[video_id] = None
            entry.unmatched.append(video_id)
            return None, UNOBSERVED, dropped
        # one tuple per distinct match and one string per creator, shared by all their videos
        campaigns = self._matches.setdefault(campaigns, campaigns)
        known = self.known[video_id] = (campaigns, sys.intern(creator_id), created_s)
        entry.created.append((video_id, creator_id, created_s, campaigns))
        if held is None:
            return known, UNOBSERVED, dropped
        self.held[video_id] = held
        return known, held, dropped

    def _rematched(
        self, video_id: str, creator_id: str, created_s: int, campaigns: tuple[str, ...], entry: VideoEntry
    ) -> KnownVideo | None:
        """A known video's match after a re-delivered created event matching ``campaigns``
        (recorded in ``entry`` when it grew)."""
        known = self.known[video_id]
        if not campaigns:
            return known
        if known is None:
            known = (self._matches.setdefault(campaigns, campaigns), sys.intern(creator_id), created_s)
        else:
            extra = tuple(c for c in campaigns if c not in known[0])
            if not extra:
                return known
            union = known[0] + extra
            known = (self._matches.setdefault(union, union), known[1], known[2])
        self.known[video_id] = known
        entry.created.append((video_id, known[1], known[2], known[0]))
        return known

    def observed(self, event: Observation, entry: VideoEntry) -> KnownVideo | None:
        """A status or stats event processed at ``entry.processed_ms``. Returns the matched
        video to forward the event's state to; None when the video matched nothing (the
        event changes nothing) or is unknown (the event is held, and recorded in ``entry``
        if it was not held already). Forward every event, even a repeated or older one: the
        forward of an earlier copy may have been lost with a crash."""
        if event.video_id in self.known:
            return self.known[event.video_id]
        before = len(self.pending)
        self.pending.add(event, entry.processed_ms / 1000)
        if len(self.pending) > before:
            entry.pending.append((event.video_id, event.state()))
        return None

    def expire(self, now_ms: int) -> int:
        """Drop held events past the TTL at ``now_ms``; returns how many (for the metric)."""
        return self.pending.expire(now_ms / 1000)

    # --- rebuild ---------------------------------------------------------------------------

    def rebuild(self, ledger: Iterable[tuple[str, bytes]], partitions: set[int] | None, now_ms: int) -> None:
        """Recompute every known video and held event from the ledger's ``(key, entry)``
        pairs of ``partitions`` (None: all). O(ledger); order-independent. A held event of a
        video known by now was taken when the video's created entry was processed in time
        (the live rule, from the two stored processing times) and dropped otherwise; one of
        an unknown video is held again when still in time at ``now_ms``, and dropped
        otherwise (the live worker dropped and counted it already)."""
        self.invalidate()
        first: dict[str, tuple[int, bool]] = {}  # video -> (processing time, matched) of its first creation
        pending: list[tuple[str, int, VideoState]] = []
        for key, raw in ledger:
            if partitions is not None and partition_of(key) not in partitions:
                continue
            entry = VideoEntry.from_bytes(raw)
            for video_id, creator_id, created_s, campaigns in entry.created:
                known = self.known.get(video_id)
                if (video_id not in first) or entry.processed_ms < first[video_id][0]:
                    first[video_id] = (entry.processed_ms, True)
                if known is None:  # new, or known as matching nothing until now
                    known = (campaigns, sys.intern(creator_id), created_s)
                else:  # matched again after a campaign change: the union, as live
                    known = (known[0] + tuple(c for c in campaigns if c not in known[0]), known[1], known[2])
                self.known[video_id] = (self._matches.setdefault(known[0], known[0]), known[1], known[2])
            for video_id in entry.unmatched:
                self.known.setdefault(video_id, None)
                if (video_id not in first) or entry.processed_ms < first[video_id][0]:
                    first[video_id] = (entry.processed_ms, False)
            pending.extend((video_id, entry.processed_ms, state) for video_id, state in entry.pending)
        for video_id, arrival_ms, state in pending:
            if video_id not in self.known:
                if held_in_time(arrival_ms / 1000, now_ms / 1000, self.ttl_s):
                    self.pending.add(observation_of(video_id, state), arrival_ms / 1000)
                continue
            # taken by the first creation: kept if that matched a campaign and came in time
            created_ms, matched = first[video_id]
            if matched and held_in_time(arrival_ms / 1000, created_ms / 1000, self.ttl_s):
                self.held[video_id] = self.held.get(video_id, UNOBSERVED).merge(state)
        self.valid = True
