"""What forgood knows about one video besides its creation: its status and its engagement.

Pure rules (issue 13), no Faust, no clock:

* A video's **state** is set by its status event with the latest ``at``; at an equal ``at``,
  ``removed`` wins; with no status event the video is live. The state keeps that event's
  **reason** (``moderation``, ``appeal``, ...; :data:`REASONS`) for the audit trail; at an equal
  ``at`` and status the later reason in :data:`REASONS` wins, so the order stays a chain.
* Its **engagement** is its latest stats snapshot: the greatest ``observed_at``; at an equal
  ``observed_at``, the larger value of each counter.

:class:`VideoState` holds both and is a **join-semilattice**: :meth:`VideoState.merge` is
commutative, associative and idempotent, and applying an event is merging the state that event
alone gives (:meth:`VideoState.of_status`, :meth:`VideoState.of_stats`). So any interleaving
and any duplication of a video's status and stats events ends in the same state — re-delivery
after a crash changes nothing, and two copies of a state (a table and a forwarded record) can
always be merged. Status is ordered by ``(at, removed)`` (a chain: its join is the maximum);
stats by ``observed_at`` first, then counter by counter (a chain lexicographically over a
product of chains: the join of two snapshots with the same ``observed_at`` is their pointwise
maximum, otherwise the later snapshot).

Times are integers (epoch microseconds, :func:`epoch_us`): the ordering of ``at`` and
``observed_at`` must be exact, and RFC 3339 times carry at most microseconds in Python.

:class:`PendingBuffer` holds status and stats events of videos not yet seen created, each with
its *processing-time* arrival (passed in by the caller: nothing here reads a clock), until the
video arrives (:meth:`PendingBuffer.take`) or the TTL passes (:meth:`PendingBuffer.expire`
drops and counts them).

Where they are used: the matching stage (:mod:`streams.video_book`, :mod:`streams.matching`)
holds events of unknown videos in a :class:`PendingBuffer` and forwards each event's state
(:meth:`StatusObservation.state`, :meth:`StatsObservation.state`) with the video's match; the
campaign's owner (:mod:`streams.campaign_aggregate`, :mod:`streams.tally`) merges them.
State bytes (:meth:`VideoState.to_bytes`): 1 with nothing observed, 9 with a status, 14 with
a typical snapshot, 31 with a status and an 81-million-view snapshot, 55 at most.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from forgood.domain.varints import VarintError, get_varint
from forgood.domain.varints import put_varint as _put_varint
from forgood.domain.varints import unzigzag as _unzigzag
from forgood.domain.varints import zigzag as _zigzag
from forgood.domain.video_events import REMOVAL_REASONS

#: The four engagement counters, in wire and tuple order.
COUNTERS = ("views", "likes", "shares", "comments")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Wire format (see VideoState.to_bytes): a header byte, then unsigned LEB128 varints.
_FORMAT = 1  # in the header's high nibble
_HAS_STATUS, _REMOVED, _HAS_STATS, _HAS_REASON = 0x01, 0x02, 0x04, 0x08

#: A status event's reason by code (:attr:`VideoState.reason`): 0 is "none known" (states
#: written before reasons were kept, or no status event), then the schema's reasons in order.
REASONS: tuple[str, ...] = ("", *REMOVAL_REASONS)


def reason_code(reason: str) -> int:
    """The code of a status event's ``reason`` (:data:`REASONS`); ValueError for another."""
    return REASONS.index(reason)


def epoch_us(moment: datetime) -> int:
    """``moment`` (timezone-aware) as exact integer microseconds since the Unix epoch."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined instant")
    return (moment - _EPOCH) // timedelta(microseconds=1)


class VideoStateError(ValueError):
    """Bytes that are not a :class:`VideoState`, or an observation outside the rules' domain."""


def _get_varint(raw: bytes, pos: int) -> tuple[int, int]:
    try:
        return get_varint(raw, pos)
    except VarintError:
        raise VideoStateError("truncated video state") from None


@dataclass(frozen=True, slots=True)
class VideoState:
    """The status and the latest engagement snapshot of one video (see the module docstring).

    ``status_at`` is None when no status event was seen (the video is live; ``removed`` is
    then False); ``stats_observed_at`` is None when no stats event was seen (the counters are
    then 0); ``reason`` is the code (:data:`REASONS`) of the latest status event's reason, 0
    when unknown. Immutable: every operation returns a new state.
    """

    status_at: int | None = None
    removed: bool = False
    stats_observed_at: int | None = None
    views: int = 0
    likes: int = 0
    shares: int = 0
    comments: int = 0
    reason: int = 0

    def __post_init__(self) -> None:
        if self.status_at is None and (self.removed or self.reason):
            raise VideoStateError("a video can only be removed (for a reason) by a status event")
        if not 0 <= self.reason < len(REASONS):
            raise VideoStateError(f"unknown status reason code {self.reason}")
        if self.stats_observed_at is None:
            if self.views or self.likes or self.shares or self.comments:
                raise VideoStateError("engagement counters without a stats snapshot")
        elif self.views < 0 or self.likes < 0 or self.shares < 0 or self.comments < 0:
            raise VideoStateError("engagement counters are non-negative")

    # --- the rules ------------------------------------------------------------------------

    @property
    def counts(self) -> bool:
        """Whether the video counts for the campaigns it matches: its state is not removed."""
        return not self.removed

    @property
    def observed(self) -> bool:
        """Whether any status or stats event was seen (False: the state equals :data:`UNOBSERVED`)."""
        return self.status_at is not None or self.stats_observed_at is not None

    @property
    def engagement(self) -> tuple[int, int, int, int]:
        """``(views, likes, shares, comments)`` of the latest snapshot (zeros before any)."""
        return (self.views, self.likes, self.shares, self.comments)

    @property
    def reason_text(self) -> str:
        """The latest status event's reason (``""`` when none is known)."""
        return REASONS[self.reason]

    @classmethod
    def of_status(cls, at_us: int, removed: bool, reason: int = 0) -> VideoState:
        """The state one status event alone gives (``removed`` False: ``restored``; ``reason``
        its :func:`reason_code`)."""
        return cls(status_at=at_us, removed=removed, reason=reason)

    @classmethod
    def of_stats(cls, observed_at_us: int, views: int, likes: int, shares: int, comments: int) -> VideoState:
        """The state one stats snapshot alone gives."""
        return cls(None, False, observed_at_us, views, likes, shares, comments)

    def apply_status(self, at_us: int, removed: bool, reason: int = 0) -> VideoState:
        """This state after a status event at ``at_us`` (idempotent, order-independent)."""
        return self.merge(VideoState.of_status(at_us, removed, reason))

    def apply_stats(self, observed_at_us: int, views: int, likes: int, shares: int, comments: int) -> VideoState:
        """This state after a stats snapshot observed at ``observed_at_us``."""
        return self.merge(VideoState.of_stats(observed_at_us, views, likes, shares, comments))

    def merge(self, other: VideoState) -> VideoState:
        """The join of two states: the latest status ((at, removed, reason) greatest) and the
        latest snapshot (greatest observed_at; equal: counter by counter maximum)."""
        if other is self or not other.observed:
            return self  # the same state, or one that observed nothing (a plain creation)
        status_at, removed, reason = self.status_at, self.removed, self.reason
        if other.status_at is not None and (
            status_at is None or (other.status_at, other.removed, other.reason) > (status_at, removed, reason)
        ):
            status_at, removed, reason = other.status_at, other.removed, other.reason
        observed, engagement = self.stats_observed_at, self.engagement
        if other.stats_observed_at is not None:
            if observed is None or other.stats_observed_at > observed:
                observed, engagement = other.stats_observed_at, other.engagement
            elif other.stats_observed_at == observed:
                engagement = (
                    max(engagement[0], other.views),
                    max(engagement[1], other.likes),
                    max(engagement[2], other.shares),
                    max(engagement[3], other.comments),
                )
        merged = VideoState(status_at, removed, observed, *engagement, reason)
        return self if merged == self else merged

    @classmethod
    def join(cls, states: Iterable[VideoState]) -> VideoState:
        """The join of any number of states (the empty join is the live, unobserved state)."""
        result = cls()
        for state in states:
            result = result.merge(state)
        return result

    # --- wire format ----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Compact bytes: a header (format 1 in the high nibble; flags has-status, removed,
        has-stats, has-reason), then LEB128 varints: the zigzagged ``status_at`` if any and
        the reason code if any, then the zigzagged ``observed_at`` and the four counters if
        any (states written before reasons were kept have no reason flag: reason 0). 1 byte for a state with
        nothing observed, about 9 with a status, about 20–30 with a snapshot of a popular video."""
        flags = _FORMAT << 4
        out = bytearray(1)
        if self.status_at is not None:
            flags |= _HAS_STATUS | (_REMOVED if self.removed else 0)
            _put_varint(out, _zigzag(self.status_at))
            if self.reason:
                flags |= _HAS_REASON
                _put_varint(out, self.reason)
        if self.stats_observed_at is not None:
            flags |= _HAS_STATS
            _put_varint(out, _zigzag(self.stats_observed_at))
            for counter in self.engagement:
                _put_varint(out, counter)
        out[0] = flags
        return bytes(out)

    @classmethod
    def from_bytes(cls, raw: bytes) -> VideoState:
        """Decode :meth:`to_bytes`; raises :class:`VideoStateError` on anything else."""
        state, pos = cls.decode_at(raw, 0)
        if pos != len(raw):
            raise VideoStateError("trailing bytes after a video state")
        return state

    @classmethod
    def decode_at(cls, raw: bytes, pos: int) -> tuple[VideoState, int]:
        """Decode the state that starts at ``raw[pos]``; returns it and the position after it
        (the encoding is self-delimiting, so states can be concatenated)."""
        if pos >= len(raw) or raw[pos] >> 4 != _FORMAT:
            found = raw[pos] >> 4 if pos < len(raw) else None
            raise VideoStateError(f"not a video state (format {found})")
        flags = raw[pos]
        pos += 1
        status_at: int | None = None
        observed: int | None = None
        counters = [0, 0, 0, 0]
        reason = 0
        if flags & _HAS_STATUS:
            zz, pos = _get_varint(raw, pos)
            status_at = _unzigzag(zz)
            if flags & _HAS_REASON:
                reason, pos = _get_varint(raw, pos)
        elif flags & (_REMOVED | _HAS_REASON):
            raise VideoStateError("removed, or a reason, without a status time")
        if flags & _HAS_STATS:
            zz, pos = _get_varint(raw, pos)
            observed = _unzigzag(zz)
            for i in range(4):
                counters[i], pos = _get_varint(raw, pos)
        views, likes, shares, comments = counters
        return cls(status_at, bool(flags & _REMOVED), observed, views, likes, shares, comments, reason), pos


#: The state of a video nothing but its creation is known of (shared: compare with ``is`` first).
UNOBSERVED = VideoState()


# --- events held until their video arrives --------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusObservation:
    """One status event, as the rules read it (``removed`` False: ``restored``)."""

    video_id: str
    at_us: int
    removed: bool
    reason: int = 0

    def state(self) -> VideoState:
        return VideoState.of_status(self.at_us, self.removed, self.reason)


@dataclass(frozen=True, slots=True)
class StatsObservation:
    """One stats snapshot, as the rules read it."""

    video_id: str
    observed_at_us: int
    views: int
    likes: int
    shares: int
    comments: int

    def state(self) -> VideoState:
        return VideoState.of_stats(self.observed_at_us, self.views, self.likes, self.shares, self.comments)


Observation = StatusObservation | StatsObservation


def observation_of(video_id: str, state: VideoState) -> Observation:
    """The one event a single-event state stands for (the inverse of ``event.state()``);
    raises :class:`VideoStateError` for a state that joins several events or none."""
    if state.status_at is not None and state.stats_observed_at is None:
        return StatusObservation(video_id, state.status_at, state.removed, state.reason)
    if state.status_at is None and state.stats_observed_at is not None:
        return StatsObservation(video_id, state.stats_observed_at, *state.engagement)
    raise VideoStateError("a held event is one status or one stats observation")


def held_in_time(arrival: float, now: float, ttl_s: float) -> bool:
    """Whether an event that arrived at processing time ``arrival`` may still be applied at
    ``now``: held for less than ``ttl_s``."""
    return arrival + ttl_s > now


class PendingBuffer:
    """Status and stats events of videos not yet seen created, held for ``ttl_s`` seconds of
    processing time from their arrival.

    Times (``now``) are passed in by the caller — the worker's injected clock; nothing here
    reads one. An event held twice (a re-delivery) is held once, from its first arrival, so a
    duplicate neither doubles the buffer nor extends its stay. :meth:`expire` is O(expired ·
    log held); :meth:`add` O(log held); :meth:`take` O(events of the video).
    """

    def __init__(self, ttl_s: float) -> None:
        if ttl_s < 0:
            raise ValueError("the pending TTL is non-negative")
        self.ttl_s = ttl_s
        self._held: dict[str, dict[Observation, float]] = {}
        # (arrival, sequence, observation); entries of taken or duplicate events are skipped lazily
        self._queue: list[tuple[float, int, Observation]] = []
        self._sequence = 0
        self._count = 0

    def __len__(self) -> int:
        """Events held."""
        return self._count

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._held

    def videos(self) -> int:
        """Videos with at least one held event."""
        return len(self._held)

    def add(self, event: Observation, now: float) -> None:
        """Hold ``event`` (its video is not known yet), arrived at processing time ``now``."""
        events = self._held.setdefault(event.video_id, {})
        if event in events:
            return
        events[event] = now
        self._count += 1
        heapq.heappush(self._queue, (now, self._sequence, event))
        self._sequence += 1

    def held(self, video_id: str) -> tuple[Observation, ...]:
        """The events held for ``video_id`` (without taking them)."""
        return tuple(self._held.get(video_id, {}))

    def to_bytes(self, video_id: str) -> bytes:
        """The events held for ``video_id`` with their arrival times, for a changelogged table
        (empty when none): per event, its arrival in whole milliseconds (zigzag LEB128) then
        the state the event alone gives (:meth:`VideoState.to_bytes`) — 15 bytes for a status
        event, about 20–30 for a snapshot."""
        out = bytearray()
        for event, arrival in self._held.get(video_id, {}).items():
            _put_varint(out, _zigzag(round(arrival * 1000)))
            out += event.state().to_bytes()
        return bytes(out)

    def restore(self, video_id: str, raw: bytes) -> None:
        """Hold again the events of :meth:`to_bytes` (after a restart), with their stored
        arrival times (to the millisecond), so they expire when they would have."""
        pos = 0
        while pos < len(raw):
            millis, pos = _get_varint(raw, pos)
            state, pos = VideoState.decode_at(raw, pos)
            self.add(observation_of(video_id, state), _unzigzag(millis) / 1000)

    def take(self, video_id: str) -> VideoState | None:
        """Remove the events held for ``video_id`` (its created event has arrived) and return
        the state they give together, or None when none are held."""
        events = self._held.pop(video_id, None)
        if not events:
            return None
        self._count -= len(events)
        return VideoState.join(event.state() for event in events)

    def take_fresh(self, video_id: str, now: float) -> tuple[VideoState | None, int]:
        """Like :meth:`take` at processing time ``now``, but only the events held for less
        than ``ttl_s`` count (the timer may not have expired the others yet): returns their
        joined state (None when none is fresh) and how many stale events were dropped.

        The test, ``arrival + ttl_s > now``, is the one :meth:`expire` negates and
        :func:`held_in_time` states, so a rebuild from stored times decides the same."""
        events = self._held.pop(video_id, None)
        if not events:
            return None, 0
        self._count -= len(events)
        fresh = [event for event, arrival in events.items() if held_in_time(arrival, now, self.ttl_s)]
        state = VideoState.join(event.state() for event in fresh) if fresh else None
        return state, len(events) - len(fresh)

    def expire(self, now: float) -> int:
        """Drop every event held for ``ttl_s`` or longer at processing time ``now``; returns
        how many were dropped (for the metric)."""
        dropped = 0
        while self._queue and not held_in_time(self._queue[0][0], now, self.ttl_s):
            arrival, _, event = heapq.heappop(self._queue)
            events = self._held.get(event.video_id)
            if events is None or events.get(event) != arrival:
                continue  # taken since, or dropped already
            del events[event]
            if not events:
                del self._held[event.video_id]
            dropped += 1
        self._count -= dropped
        return dropped
