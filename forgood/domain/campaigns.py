"""Campaigns: the model, the YAML file format, validation, and the matching rule.

The rule (also in the README): a video counts for campaign C when one of its hashtags equals
one of C's hashtags after :func:`~forgood.domain.hashtags.normalize_hashtag`, and C's window holds its
``created_at``: ``starts_at <= created_at < ends_at``. A video may count for several campaigns.
Several campaigns may share a hashtag; a video carrying it counts for each whose window holds it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from forgood.domain.errors import ConfigError
from forgood.domain.hashtags import is_valid_campaign_hashtag, normalize_hashtag
from forgood.domain.money import is_known_currency, to_minor

CampaignId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Campaign(BaseModel):
    """One hashtag challenge and its pledge. Immutable; amounts exact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: CampaignId
    name: str = Field(min_length=1, max_length=200)
    nonprofit: str = Field(min_length=1, max_length=200)
    hashtags: tuple[str, ...] = Field(min_length=1, max_length=50)
    donation_per_video: Decimal
    currency: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    donation_cap: Decimal | None = None
    goal_videos: int | None = Field(default=None, gt=0, le=10**15)
    url: str | None = None
    description: str | None = None

    @field_validator("hashtags", mode="before")
    @classmethod
    def _normalize_hashtags(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            return value
        normalized: list[str] = []
        for tag in value:
            if not isinstance(tag, str):
                raise ValueError(f"hashtag {tag!r} is not a string")
            tag_n = normalize_hashtag(tag)
            if not is_valid_campaign_hashtag(tag_n):
                raise ValueError(f"hashtag {tag!r} is not one word of letters, digits or _")
            if tag_n not in normalized:
                normalized.append(tag_n)
        return tuple(normalized)

    @field_validator("donation_per_video", "donation_cap", mode="before")
    @classmethod
    def _amount_is_text(cls, value: object) -> object:
        if isinstance(value, float):
            raise ValueError("write amounts as quoted decimal strings, e.g. \"2.00\" (floats are inexact)")
        return value

    @field_validator("donation_per_video", "donation_cap")
    @classmethod
    def _amount_is_sane(cls, value: Decimal | None) -> Decimal | None:
        if value is None:
            return value
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value}")
        if value < 0:
            raise ValueError(f"amount must not be negative: {value}")
        return value

    @field_validator("ends_at")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        starts_at = info.data.get("starts_at")
        if starts_at is not None and value <= starts_at:
            raise ValueError(f"ends_at ({value}) must be after starts_at ({starts_at})")
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if not is_known_currency(value):
            raise ValueError(f"unknown currency {value!r} (use an ISO 4217 code such as USD, GBP, EUR)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Campaign:
        problems = []
        for name in ("donation_per_video", "donation_cap"):
            amount = getattr(self, name)
            if amount is None:
                continue
            try:
                to_minor(amount, self.currency)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def price_minor(self) -> int:
        """Donation per video in minor units."""
        return to_minor(self.donation_per_video, self.currency)

    @property
    def cap_minor(self) -> int | None:
        """Donation cap in minor units, or None when uncapped."""
        return None if self.donation_cap is None else to_minor(self.donation_cap, self.currency)

    @property
    def terms(self) -> tuple[int, int | None, str]:
        """What a donation depends on: (price_minor, cap_minor, currency)."""
        return (self.price_minor, self.cap_minor, self.currency)

    def holds(self, created_at: datetime) -> bool:
        """True when ``created_at`` is inside the window ``[starts_at, ends_at)``."""
        return self.starts_at <= created_at < self.ends_at

    def to_json(self) -> bytes:
        """The campaign as it is published on the campaigns topic."""
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Campaign:
        """Parse a campaign published by :meth:`to_json`; raises ``ValidationError``."""
        return cls.model_validate_json(raw)


def _describe(error: ErrorDetails, index: int, raw: object) -> str:
    cid = raw.get("id") if isinstance(raw, dict) else None
    where = f"campaigns[{index}]" + (f" (id={cid})" if cid else "")
    loc = ".".join(str(part) for part in error["loc"]) or "campaign"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {loc}: {message}"


def parse_campaigns(document: object, source: str = "campaigns") -> tuple[Campaign, ...]:
    """Validate a parsed campaigns document (``{"campaigns": [...]}``).

    Returns every campaign, or raises :class:`ConfigError` listing *every* problem found,
    one per line, so that a file is fixed in one pass. Duplicate ids are a problem.
    """
    if not isinstance(document, dict) or not isinstance(document.get("campaigns"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'campaigns:' list")
    problems: list[str] = []
    campaigns: list[Campaign] = []
    for index, raw in enumerate(document["campaigns"]):
        try:
            campaigns.append(Campaign.model_validate(raw))
        except ValidationError as exc:
            problems.extend(_describe(err, index, raw) for err in exc.errors())
    ids = [raw.get("id") for raw in document["campaigns"] if isinstance(raw, dict)]
    for cid in sorted({i for i in ids if isinstance(i, str) and ids.count(i) > 1}):
        problems.append(f"campaign id {cid!r} is defined more than once")
    if problems:
        raise ConfigError(f"{source}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))
    return tuple(campaigns)


def load_campaign_file(path: Path | str) -> tuple[Campaign, ...]:
    """Read and validate a campaigns YAML file; raises :class:`ConfigError` on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_campaigns(document, source=str(path))


class CampaignIndex:
    """Campaigns by normalised hashtag, for matching events. Immutable once built."""

    __slots__ = ("_by_tag", "campaigns")

    def __init__(self, campaigns: Iterable[Campaign]) -> None:
        self.campaigns: dict[str, Campaign] = {c.id: c for c in campaigns}
        by_tag: dict[str, list[Campaign]] = defaultdict(list)
        for campaign in self.campaigns.values():
            for tag in campaign.hashtags:
                by_tag[tag].append(campaign)
        self._by_tag = {tag: tuple(cs) for tag, cs in by_tag.items()}

    def match(self, hashtags: Sequence[str], created_at: datetime) -> list[Campaign]:
        """Campaigns a video with these (raw) hashtags, made at ``created_at``, counts for.

        Each campaign appears once, however many of its tags the video carries.
        """
        return self.classify(hashtags, created_at)[0]

    def classify(self, hashtags: Sequence[str], created_at: datetime) -> tuple[list[Campaign], list[Campaign]]:
        """The campaigns whose hashtags the video carries, split into those whose window holds
        ``created_at`` (it counts for them: :meth:`match`) and those whose window does not
        (the audit trail's ``outside_window``). Each campaign appears once."""
        inside: dict[str, Campaign] = {}
        outside: dict[str, Campaign] = {}
        by_tag = self._by_tag
        for tag in hashtags:
            for campaign in by_tag.get(normalize_hashtag(tag), ()):
                if campaign.id in inside or campaign.id in outside:
                    continue
                if campaign.holds(created_at):
                    inside[campaign.id] = campaign
                else:
                    outside[campaign.id] = campaign
        return list(inside.values()), list(outside.values())
