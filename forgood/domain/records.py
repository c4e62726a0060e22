"""Records that flow between forgood's processes, with their wire format (compact JSON).

* :class:`CampaignVideoBatch` — stream stage 1 to stage 2: the matched videos of one campaign
  from one batch (:class:`CampaignVideo` each), keyed by campaign id so one owner holds each
  campaign's running total. One record per campaign per batch, not per video: per-record
  overhead in the producer and consumer is what limits a Python worker.
* :class:`CampaignTotal` / :class:`CampaignMinute` — stream to sink: aggregate rows as
  *absolute* values with a ``version``; writing one twice, or an older one after a newer one,
  changes nothing in ClickHouse (the highest version wins).

Each record class carries its :class:`~forgood.domain.contracts.RecordContract` as
``Record.contract`` (Kafka key, value codec, ClickHouse columns); ``row.key()`` is its Kafka
message key:

* ``CampaignVideoBatch.key()`` / ``CampaignTotal.key()`` — ``campaign_id`` (UTF-8);
* ``CampaignMinute.key()`` — campaign id and minute joined by ``KEY_SEP`` (U+001F), UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from forgood.domain.contracts import Column, Contracted, RecordContract


@dataclass(frozen=True, slots=True)
class CampaignVideo:
    """A video that counts for a campaign; ``minute`` is its event-time minute (epoch s).

    ``created_at`` (epoch s, for freshness metrics only) does not take part in equality.
    """

    campaign_id: str
    video_id: str
    creator_id: str
    minute: int
    created_at: float = field(default=0.0, compare=False)


@dataclass(frozen=True, slots=True)
class CampaignVideoBatch(Contracted):
    """Videos matched for one campaign, forwarded together.

    Wire format: ``[campaign_id, [[video_id, creator_id, minute, created_at], ...]]``.
    """

    campaign_id: str
    videos: tuple[CampaignVideo, ...]

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            (self.campaign_id, [(v.video_id, v.creator_id, v.minute, v.created_at) for v in self.videos])
        )

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
            tuple(CampaignVideo(campaign_id, v, c, int(m), float(t)) for v, c, m, t in items),
        )

    @classmethod
    def chunked(cls, campaign_id: str, videos: list[CampaignVideo], size: int) -> list[CampaignVideoBatch]:
        """``videos`` split into batches of at most ``size`` (records stay well under 1 MB)."""
        return [cls(campaign_id, tuple(videos[i : i + size])) for i in range(0, len(videos), size)]


@dataclass(frozen=True, slots=True)
class CampaignTotal(Contracted):
    """Current totals of one campaign. ``updated_at`` is epoch seconds; ``version`` grows."""

    campaign_id: str
    videos: int
    creators: int
    donation_minor: int
    currency: str
    updated_at: int
    version: int

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
