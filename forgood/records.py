"""Records that flow between forgood's processes, with their wire format (compact JSON).

* :class:`CampaignVideo` — stream stage 1 to stage 2: one matched (campaign, video), keyed by
  campaign id so one owner holds each campaign's running total.
* :class:`CampaignTotal` / :class:`CampaignMinute` — stream to sink: aggregate rows as
  *absolute* values with a ``version``; writing one twice, or an older one after a newer one,
  changes nothing in ClickHouse (the highest version wins).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import orjson


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

    def to_bytes(self) -> bytes:
        return orjson.dumps((self.campaign_id, self.video_id, self.creator_id, self.minute, self.created_at))

    @classmethod
    def from_bytes(cls, raw: bytes) -> "CampaignVideo":
        campaign_id, video_id, creator_id, minute, *rest = orjson.loads(raw)
        return cls(campaign_id, video_id, creator_id, int(minute), float(rest[0]) if rest else 0.0)


@dataclass(frozen=True, slots=True)
class CampaignTotal:
    """Current totals of one campaign. ``updated_at`` is epoch seconds; ``version`` grows."""

    campaign_id: str
    videos: int
    creators: int
    donation_minor: int
    currency: str
    updated_at: int
    version: int

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> "CampaignTotal":
        return cls(**orjson.loads(raw))


@dataclass(frozen=True, slots=True)
class CampaignMinute:
    """Videos and donation of one campaign in one event-time minute (epoch seconds)."""

    campaign_id: str
    minute: int
    videos: int
    donation_minor: int
    version: int

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> "CampaignMinute":
        return cls(**orjson.loads(raw))
