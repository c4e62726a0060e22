"""The ``video-created`` event: schema, parsing, and the reasons an event cannot be counted.

:func:`parse_video_created` is the one gate every event passes. It takes the raw Kafka value
bytes and returns a :class:`VideoCreated` or raises :class:`~forgood.domain.errors.InvalidEvent` with a
stable ``reason`` code (the dead-letter reason) and a human message. Unknown extra fields are
accepted and ignored; ``region`` may be absent or null; every other field is required.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from forgood.domain.errors import InvalidEvent

MAX_EVENT_BYTES = 64 * 1024
MAX_HASHTAGS = 100
MAX_ID_LENGTH = 128
MAX_TAG_LENGTH = 256

#: Every reason an event may be dead-lettered with. Stable: dashboards and alerts use them.
REASONS = (
    "too_large",
    "not_utf8",
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "null_field",
    "empty_field",
    "too_long",
    "no_hashtags",
    "too_many_hashtags",
    "bad_timestamp",
    "no_timezone",
    "future_timestamp",
)

Id = str


class VideoCreated(BaseModel):
    """A video was posted. Immutable; ``created_at`` is timezone-aware."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    event_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    video_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    creator_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    hashtags: list[str] = Field(min_length=1, max_length=MAX_HASHTAGS)
    created_at: AwareDatetime
    region: str | None = Field(default=None, max_length=16)

    @property
    def minute(self) -> int:
        """Start of the event-time minute, as UTC epoch seconds."""
        return math.floor(self.created_at.timestamp()) // 60 * 60


def _reason_for(error: ErrorDetails) -> tuple[str, str]:
    kind = error["type"]
    loc = ".".join(str(part) for part in error["loc"])
    field = str(error["loc"][0]) if error["loc"] else ""
    if kind == "json_invalid":
        return "not_json", f"value is not valid JSON: {error['msg']}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "not_object", "value is JSON but not an object"
    if kind == "missing":
        return "missing_field", f"required field {loc!r} is missing"
    if error.get("input", 0) is None:
        return "null_field", f"field {loc!r} is null"
    if field == "created_at":
        if kind == "timezone_aware":
            return "no_timezone", f"created_at {error.get('input')!r} has no timezone"
        return "bad_timestamp", f"created_at {error.get('input')!r} is not an ISO 8601 timestamp"
    if field == "hashtags" and kind == "too_short" and len(error["loc"]) == 1:
        return "no_hashtags", "hashtags is empty"
    if field == "hashtags" and kind == "too_long" and len(error["loc"]) == 1:
        return "too_many_hashtags", f"more than {MAX_HASHTAGS} hashtags"
    if kind == "string_too_short":
        return "empty_field", f"field {loc!r} is empty"
    if kind in ("string_too_long", "too_long"):
        return "too_long", f"field {loc!r} is too long"
    return "wrong_type", f"field {loc!r}: {error['msg']}"


def parse_video_created(
    raw: bytes,
    *,
    now: datetime | None = None,
    max_future_skew: timedelta = timedelta(minutes=5),
) -> VideoCreated:
    """Validate raw event bytes; raise :class:`InvalidEvent` naming the first problem.

    ``now`` defaults to the wall clock; events dated after ``now + max_future_skew`` are
    rejected (``future_timestamp``) because a clock that far ahead cannot be trusted.
    """
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent("too_large", f"event is {len(raw)} bytes, more than {MAX_EVENT_BYTES}")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent("not_utf8", f"value is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        event = VideoCreated.model_validate_json(raw)
    except ValidationError as exc:
        reason, message = _reason_for(exc.errors(include_url=False)[0])
        raise InvalidEvent(reason, message) from None
    for tag in event.hashtags:
        if len(tag) > MAX_TAG_LENGTH:
            raise InvalidEvent("too_long", f"a hashtag is longer than {MAX_TAG_LENGTH} characters")
    now = now or datetime.now(UTC)
    if event.created_at > now + max_future_skew:
        raise InvalidEvent(
            "future_timestamp",
            f"created_at {event.created_at.isoformat()} is more than {max_future_skew} ahead of now",
        )
    return event
