"""Records that flow between forgood's processes, with their wire format (compact JSON).

* :class:`CampaignVideoBatch` — stream stage 1 to stage 2: the matched videos of one campaign
  from one batch (:class:`CampaignVideo` each, with the video's whole
  :class:`~forgood.domain.video_state.VideoState`: status and latest engagement), keyed by
  campaign id so one owner holds each campaign's running total. One record per campaign per
  batch, not per video: per-record overhead in the producer and consumer is what limits a
  Python worker.
* :class:`CampaignTotal` / :class:`CampaignMinute` — stream to sink: aggregate rows as
  *absolute* values with a ``version``; writing one twice, or an older one after a newer one,
  changes nothing in ClickHouse (the highest version wins).
* :class:`CampaignVideoRows` — stream to sink: the audit trail (issue 14), one
  :class:`CampaignVideoRow` per campaign and video that carried one of the campaign's
  hashtags, with its status (``counted``, ``removed``, ``outside_window``), why, and its
  latest engagement; versioned like the aggregates, batched per campaign on the wire.
* :class:`CampaignChange` — CLI to sink: one applied change of a campaign's terms, who made it.

Each record class carries its :class:`~forgood.domain.contracts.RecordContract` as
``Record.contract`` (Kafka key, value codec, ClickHouse columns); ``row.key()`` is its Kafka
message key:

* ``CampaignVideoBatch.key()`` / ``CampaignTotal.key()`` — ``campaign_id`` (UTF-8);
* ``CampaignMinute.key()`` — campaign id and minute joined by ``KEY_SEP`` (U+001F), UTF-8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from forgood.domain.contracts import Column, Contracted, RecordContract
from forgood.domain.video_state import UNOBSERVED, VideoState

__all__ = [
    "STATUSES", "UNOBSERVED", "CampaignChange", "CampaignMinute", "CampaignTotal", "CampaignVideo",
    "CampaignVideoBatch", "CampaignVideoRow", "CampaignVideoRows", "state_from_json", "state_to_json",
]

#: The statuses of a campaign's video in the audit trail (``campaign_videos.status``):
#: ``counted`` — matched and not removed (it is paid for); ``removed`` — matched, then taken
#: down (its donation is given back); ``outside_window`` — it carried one of the campaign's
#: hashtags but was created outside the campaign's window (never paid for).
STATUSES = ("counted", "removed", "outside_window")


def state_to_json(state: VideoState) -> list | None:
    """A state as a JSON list ``[status_at, removed, observed_at, views, likes, shares,
    comments(, reason)]`` (times in epoch microseconds, ``null`` when not observed; ``removed``
    0/1; ``reason`` the status reason's code, left out when 0, as before reasons were kept),
    or None for :data:`UNOBSERVED`."""
    if not state.observed:
        return None
    if state.reason:
        return [state.status_at, int(state.removed), state.stats_observed_at, *state.engagement, state.reason]
    return [state.status_at, int(state.removed), state.stats_observed_at, *state.engagement]


def state_from_json(value: list | None) -> VideoState:
    """The inverse of :func:`state_to_json`; raises ``VideoStateError`` (a ``ValueError``) or
    ``TypeError`` on anything else."""
    if value is None:
        return UNOBSERVED
    status_at, removed, observed, views, likes, shares, comments, *reason = value
    return VideoState(status_at, bool(removed), observed, int(views), int(likes), int(shares), int(comments),
                      int(reason[0]) if reason else 0)


class CampaignVideo(NamedTuple):
    """A video matched to a campaign; ``minute`` is its event-time minute (epoch s) and
    ``state`` what the forwarding event says of its status and engagement (a whole state,
    never a delta: the owner merges it, so a forward repeated or reordered changes nothing).

    ``created_at`` (epoch s) is the video's event time: exact on a forward caused by its
    created event, whole seconds on one caused by a status or stats event (0 on those written
    before issue 14). It feeds the freshness metrics and :attr:`created_s`, and does not take
    part in equality. A named tuple, not a frozen dataclass: one is
    built per video in both stages, and a frozen dataclass costs about three times as much.
    """

    campaign_id: str
    video_id: str
    creator_id: str
    minute: int
    created_at: float = 0.0
    state: VideoState = UNOBSERVED

    @property
    def created_s(self) -> int:
        """The event time in whole epoch seconds (the minute's start when ``created_at`` is 0)."""
        return math.floor(self.created_at) if self.created_at else self.minute

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CampaignVideo):
            return NotImplemented
        return (self[0], self[1], self[2], self[3], self[5]) == (other[0], other[1], other[2], other[3], other[5])

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((self[0], self[1], self[2], self[3], self[5]))


@dataclass(frozen=True, slots=True)
class CampaignVideoBatch(Contracted):
    """Videos matched for one campaign, forwarded together.

    Wire format: ``[campaign_id, [[video_id, creator_id, minute, created_at(, state)], ...]]``;
    ``state`` (:func:`state_to_json`) is left out when nothing but the creation is known, so
    a created video costs what it did before status and stats existed.
    """

    campaign_id: str
    videos: tuple[CampaignVideo, ...]

    def to_bytes(self) -> bytes:
        return orjson.dumps((self.campaign_id, [_item(v) for v in self.videos]))

    @classmethod
    def from_bytes(cls, raw: bytes) -> CampaignVideoBatch:
        """Decode a batch; also reads the one-video records of forgood 0.1's first release
        (``[campaign_id, video_id, creator_id, minute, created_at]``), so a topic written by
        it can be drained by this version."""
        decoded = orjson.loads(raw)
        if len(decoded) == 5 and isinstance(decoded[1], str):
            campaign_id, video_id, creator_id, minute, created_at = decoded
            return cls(campaign_id, (CampaignVideo(campaign_id, video_id, creator_id, int(minute), float(created_at)),))
        campaign_id, items = decoded
        return cls(
            campaign_id,
            tuple(
                CampaignVideo(campaign_id, item[0], item[1], int(item[2]), float(item[3]))
                if len(item) == 4
                else CampaignVideo(campaign_id, item[0], item[1], int(item[2]), float(item[3]),
                                   state_from_json(item[4]))
                for item in items
            ),
        )

    @classmethod
    def chunked(cls, campaign_id: str, videos: list[CampaignVideo], size: int) -> list[CampaignVideoBatch]:
        """``videos`` split into batches of at most ``size`` (records stay well under 1 MB)."""
        return [cls(campaign_id, tuple(videos[i : i + size])) for i in range(0, len(videos), size)]


def _item(video: CampaignVideo) -> list:
    item: list = [video.video_id, video.creator_id, video.minute, video.created_at]
    if video.state.observed:
        item.append(state_to_json(video.state))
    return item


@dataclass(frozen=True, slots=True)
class CampaignTotal(Contracted):
    """Current totals of one campaign. ``updated_at`` is epoch seconds; ``version`` grows.

    ``videos`` are the counted videos (matched, not removed), ``creators`` the distinct
    creators with at least one counted video, ``removed`` the matched videos whose state is
    removed, and ``views`` … ``comments`` the sums of the counted videos' latest snapshots.
    The last five default to 0, so rows written before they existed still decode."""

    campaign_id: str
    videos: int
    creators: int
    donation_minor: int
    currency: str
    updated_at: int
    version: int
    removed: int = 0
    views: int = 0
    likes: int = 0
    shares: int = 0
    comments: int = 0

    def to_bytes(self) -> bytes:
        return orjson.dumps(self)  # a dataclass: its fields in order, as asdict would

    @classmethod
    def from_bytes(cls, raw: bytes) -> CampaignTotal:
        return cls(**orjson.loads(raw))


@dataclass(frozen=True, slots=True)
class CampaignMinute(Contracted):
    """Videos and donation of one campaign in one event-time minute (epoch seconds)."""

    campaign_id: str
    minute: int
    videos: int
    donation_minor: int
    version: int

    def to_bytes(self) -> bytes:
        return orjson.dumps(self)  # a dataclass: its fields in order, as asdict would

    @classmethod
    def from_bytes(cls, raw: bytes) -> CampaignMinute:
        return cls(**orjson.loads(raw))


CampaignVideoBatch.contract = RecordContract(CampaignVideoBatch, key_fields=("campaign_id",))
CampaignTotal.contract = RecordContract(
    CampaignTotal,
    key_fields=("campaign_id",),
    columns=(
        Column("campaign_id", "String"),
        Column("videos", "UInt64"),
        Column("creators", "UInt64"),
        Column("donation_minor", "UInt64"),
        Column("currency", "String"),
        Column("updated_at", "DateTime('UTC')"),
        Column("version", "UInt64"),
        Column("removed", "UInt64"),
        Column("views", "UInt64"),
        Column("likes", "UInt64"),
        Column("shares", "UInt64"),
        Column("comments", "UInt64"),
    ),
    version_field="version",
)
CampaignMinute.contract = RecordContract(
    CampaignMinute,
    key_fields=("campaign_id", "minute"),
    columns=(
        Column("campaign_id", "String"),
        Column("minute", "DateTime('UTC')"),
        Column("videos", "UInt64"),
        Column("donation_minor", "UInt64"),
        Column("version", "UInt64"),
    ),
    version_field="version",
)


@dataclass(frozen=True, slots=True)
class CampaignVideoRow(Contracted):
    """One campaign's view of one video: the audit trail's row (``forgood.campaign_videos``).

    ``created_at`` and ``minute`` are the video's event time (epoch s; ``minute`` the start of
    its minute); ``status`` one of :data:`STATUSES`; ``status_at`` when that status was set
    (the latest status event's time; the creation time when there was none); ``reason`` why:
    the latest status event's reason (``moderation``, ``appeal``, ...; empty when there was
    none), or for ``outside_window`` ``before_start`` / ``after_end``. ``views`` … ``comments``
    are the latest snapshot (0 before any). The highest ``version`` per (campaign, video) wins.
    """

    campaign_id: str
    video_id: str
    creator_id: str
    created_at: int
    minute: int
    status: str
    status_at: int
    reason: str
    views: int
    likes: int
    shares: int
    comments: int
    version: int


@dataclass(frozen=True, slots=True)
class CampaignVideoRows(Contracted):
    """Audit rows of one campaign sharing one ``version``, sent together (one Kafka record per
    campaign per processed record, not per video: see :class:`CampaignVideoBatch`).

    ``rows`` holds, per video, ``(video_id, creator_id, created_at, status, status_at, reason,
    views, likes, shares, comments)``. Wire format: ``[campaign_id, version, [row, ...]]``.
    """

    campaign_id: str
    version: int
    rows: tuple[tuple[str, str, int, str, int, str, int, int, int, int], ...]

    def to_bytes(self) -> bytes:
        return orjson.dumps((self.campaign_id, self.version, self.rows))

    @classmethod
    def from_bytes(cls, raw: bytes) -> CampaignVideoRows:
        campaign_id, version, rows = orjson.loads(raw)
        if not isinstance(campaign_id, str) or not isinstance(version, int):
            raise ValueError("not a CampaignVideoRows record")
        return cls(campaign_id, version, tuple(
            (str(v), str(c), int(at), str(status), int(status_at), str(reason), int(vw), int(lk), int(sh), int(cm))
            for v, c, at, status, status_at, reason, vw, lk, sh, cm in rows
        ))

    def expand(self) -> list[CampaignVideoRow]:
        """One :class:`CampaignVideoRow` per video (what the sink writes)."""
        campaign_id, version = self.campaign_id, self.version
        return [
            CampaignVideoRow(campaign_id, v, c, at, at - at % 60, status, status_at, reason, vw, lk, sh, cm, version)
            for v, c, at, status, status_at, reason, vw, lk, sh, cm in self.rows
        ]

    @classmethod
    def chunked(cls, campaign_id: str, version: int, rows: list, size: int) -> list[CampaignVideoRows]:
        """``rows`` split into records of at most ``size`` (records stay well under 1 MB)."""
        return [cls(campaign_id, version, tuple(rows[i : i + size])) for i in range(0, len(rows), size)]


@dataclass(frozen=True, slots=True)
class CampaignChange(Contracted):
    """One applied change of a campaign's terms (``forgood campaigns apply``), immutable.

    ``change_id`` is the offset of the campaign record the change was published as on the
    campaigns topic (so a change re-delivered to the sink is the same row); ``what`` the term
    (``created`` for a new campaign, else ``price``, ``cap``, ``currency``, ``starts_at``,
    ``ends_at`` or ``hashtags``), ``old`` and ``new`` its values as text (``""``: none);
    ``changed_at`` epoch s; ``changed_by`` who applied it.
    """

    campaign_id: str
    change_id: int
    what: str
    old: str
    new: str
    changed_at: int
    changed_by: str

    def to_bytes(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> CampaignChange:
        return cls(**orjson.loads(raw))
CampaignVideoRows.contract = RecordContract(CampaignVideoRows, key_fields=("campaign_id",))
CampaignVideoRow.contract = RecordContract(
    CampaignVideoRow,
    key_fields=("campaign_id", "video_id"),
    columns=(
        Column("campaign_id", "String"),
        Column("video_id", "String"),
        Column("creator_id", "String"),
        Column("created_at", "DateTime('UTC')"),
        Column("minute", "DateTime('UTC')"),
        Column("status", "String"),
        Column("status_at", "DateTime('UTC')"),
        Column("reason", "String"),
        Column("views", "UInt64"),
        Column("likes", "UInt64"),
        Column("shares", "UInt64"),
        Column("comments", "UInt64"),
        Column("version", "UInt64"),
    ),
    version_field="version",
)
CampaignChange.contract = RecordContract(
    CampaignChange,
    key_fields=("campaign_id", "change_id", "what"),
    columns=(
        Column("campaign_id", "String"),
        Column("change_id", "UInt64"),
        Column("what", "String"),
        Column("old", "String"),
        Column("new", "String"),
        Column("changed_at", "DateTime('UTC')"),
        Column("changed_by", "String"),
    ),
)
