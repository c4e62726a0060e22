"""The ``video-status`` and ``video-stats`` events: schemas, parsing, dead-letter reasons.

Two gates, one per event kind, built like :func:`forgood.domain.events.parse_video_created`:
each takes the raw Kafka value bytes and returns a frozen model, or raises
:class:`~forgood.domain.errors.InvalidEvent` with a stable ``reason`` code (the dead-letter
reason) and a human message naming the first problem.

* :func:`parse_video_status` → :class:`VideoStatus`: a video was removed or restored.
* :func:`parse_video_stats` → :class:`VideoStats`: a video's absolute engagement counters as
  observed at ``observed_at``.

The reasons are those of ``video-created`` where they mean the same (``too_large``,
``not_utf8``, ``not_json``, ``not_object``, ``missing_field``, ``wrong_type``, ``null_field``,
``empty_field``, ``too_long``, ``bad_timestamp``, ``no_timezone``, ``future_timestamp``) plus
``unknown_status`` and ``unknown_reason`` (status events) and ``negative_count`` and
``count_too_large`` (stats events). Unknown extra fields are accepted and ignored; every field
of the schemas is required. Timestamps must carry a timezone (any offset; they are stored in
UTC). Counters are strict JSON integers: a bool, a float (even ``1.0``) or a numeric string
is ``wrong_type``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import ErrorDetails

from forgood.domain.events import MAX_ID_LENGTH, REASONS, not_in_future, parse_model

#: Largest value a stats counter may have: a trillion, more than fifty times the views of the
#: most-viewed video anywhere, and small enough that a campaign's sum over nine million videos
#: at the maximum still fits a signed 64-bit integer (ClickHouse ``Int64``/``UInt64``).
MAX_COUNT = 10**12

Status = Literal["removed", "restored"]
RemovalReason = Literal["creator_deleted", "moderation", "fraud", "appeal", "other"]

#: The values ``status`` and ``reason`` may take, in the documented order.
STATUSES: tuple[str, ...] = get_args(Status)
REMOVAL_REASONS: tuple[str, ...] = get_args(RemovalReason)

#: The reasons shared with ``video-created`` (``events.REASONS``): they mean the same on every topic.
SHARED_REASONS = tuple(r for r in REASONS if r not in ("no_hashtags", "too_many_hashtags"))

#: Every reason a ``video-status`` event may be dead-lettered with. Stable.
STATUS_REASONS = (*SHARED_REASONS, "unknown_status", "unknown_reason")
#: Every reason a ``video-stats`` event may be dead-lettered with. Stable.
STATS_REASONS = (*SHARED_REASONS, "negative_count", "count_too_large")
#: Every dead-letter reason of any source topic (``video-created``'s first, in their order):
#: the label values ``forgood_events_dead_lettered_total{reason}`` may take.
ALL_REASONS = tuple(dict.fromkeys((*REASONS, *STATUS_REASONS, *STATS_REASONS)))

_COUNTERS = ("views", "likes", "shares", "comments")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class VideoStatus(BaseModel):
    """A video was removed or restored at ``at`` (timezone-aware, in UTC). Immutable."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    event_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    video_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    status: Status
    reason: RemovalReason
    at: AwareDatetime

    _in_utc = field_validator("at")(_utc)


class VideoStats(BaseModel):
    """A video's absolute engagement counters as observed at ``observed_at`` (in UTC). Immutable."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    event_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    video_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    views: int = Field(ge=0, le=MAX_COUNT)
    likes: int = Field(ge=0, le=MAX_COUNT)
    shares: int = Field(ge=0, le=MAX_COUNT)
    comments: int = Field(ge=0, le=MAX_COUNT)
    observed_at: AwareDatetime

    _in_utc = field_validator("observed_at")(_utc)


def _own_reason(error: ErrorDetails) -> tuple[str, str] | None:
    """The reasons only status and stats events have: an unknown status or removal reason, a
    negative or too large counter (an empty literal is ``empty_field``, as on every topic)."""
    kind, field, value = error["type"], str(error["loc"][0]) if error["loc"] else "", error.get("input")
    if kind == "literal_error" and isinstance(value, str):
        if value == "":
            return "empty_field", f"field {'.'.join(str(p) for p in error['loc'])!r} is empty"
        if field == "status":
            return "unknown_status", f"status {value[:40]!r} is not one of {', '.join(STATUSES)}"
        return "unknown_reason", f"reason {value[:40]!r} is not one of {', '.join(REMOVAL_REASONS)}"
    if kind == "greater_than_equal" and field in _COUNTERS:
        return "negative_count", f"{field} is negative ({value})"
    if kind == "less_than_equal" and field in _COUNTERS:
        return "count_too_large", f"{field} is more than {MAX_COUNT:,} ({str(value)[:40]})"
    return None


def parse_video_status(
    raw: bytes,
    *,
    now: datetime | None = None,
    max_future_skew: timedelta = timedelta(minutes=5),
) -> VideoStatus:
    """Validate a ``video-status`` value; raise :class:`InvalidEvent` naming the first problem.

    ``now`` defaults to the wall clock; an ``at`` later than ``now + max_future_skew`` is
    ``future_timestamp`` (a status dated in the future would win over every real one).
    """
    event = parse_model(VideoStatus, raw, "at", _own_reason)
    not_in_future("at", event.at, now, max_future_skew)
    return event


def parse_video_stats(
    raw: bytes,
    *,
    now: datetime | None = None,
    max_future_skew: timedelta = timedelta(minutes=5),
) -> VideoStats:
    """Validate a ``video-stats`` value; raise :class:`InvalidEvent` naming the first problem.

    ``now`` defaults to the wall clock; an ``observed_at`` later than ``now + max_future_skew``
    is ``future_timestamp`` (a snapshot dated in the future would hide every real one).
    """
    event = parse_model(VideoStats, raw, "observed_at", _own_reason)
    not_in_future("observed_at", event.observed_at, now, max_future_skew)
    return event
