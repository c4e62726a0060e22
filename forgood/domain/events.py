"""The ``video-created`` event: schema, parsing, and the reasons an event cannot be counted.

:func:`parse_video_created` is the one gate every event passes. It takes the raw Kafka value
bytes and returns a :class:`VideoCreated` or raises :class:`~forgood.domain.errors.InvalidEvent` with a
stable ``reason`` code (the dead-letter reason) and a human message. Unknown extra fields are
accepted and ignored; ``region`` may be absent or null; every other field is required.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

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
    def second(self) -> int:
        """``created_at`` in whole UTC epoch seconds (rounded down): the audit trail's precision."""
        return math.floor(self.created_at.timestamp())

    @property
    def minute(self) -> int:
        """Start of the event-time minute, as UTC epoch seconds."""
        return self.second // 60 * 60


#: A source's own reading of a pydantic error (None: not one of its own reasons).
ReasonHook = Callable[[ErrorDetails], "tuple[str, str] | None"]


def _no_own_reasons(error: ErrorDetails) -> tuple[str, str] | None:
    return None


def reason_for(error: ErrorDetails, timestamp: str, own: ReasonHook = _no_own_reasons) -> tuple[str, str]:
    """The dead-letter reason and message for pydantic's first error on any source topic.

    ``timestamp`` names the event's time field; ``own`` gives the reasons only one source has
    (hashtags here, status and counters in :mod:`forgood.domain.video_events`), asked after
    the shared structural reasons and before the generic string and type ones."""
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
    if field == timestamp:
        if kind == "timezone_aware":
            return "no_timezone", f"{timestamp} {error.get('input')!r} has no timezone"
        return "bad_timestamp", f"{timestamp} {error.get('input')!r} is not an ISO 8601 timestamp"
    found = own(error)
    if found is not None:
        return found
    if kind == "string_too_short":
        return "empty_field", f"field {loc!r} is empty"
    if kind in ("string_too_long", "too_long"):
        return "too_long", f"field {loc!r} is too long"
    return "wrong_type", f"field {loc!r}: {error['msg']}"


def _hashtag_reason(error: ErrorDetails) -> tuple[str, str] | None:
    """``no_hashtags`` / ``too_many_hashtags``: the list itself is empty or too long."""
    if len(error["loc"]) == 1 and str(error["loc"][0]) == "hashtags":
        if error["type"] == "too_short":
            return "no_hashtags", "hashtags is empty"
        if error["type"] == "too_long":
            return "too_many_hashtags", f"more than {MAX_HASHTAGS} hashtags"
    return None


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], raw: bytes, timestamp: str, own: ReasonHook = _no_own_reasons) -> M:
    """The gate every source topic's values pass: size, UTF-8, then ``model``'s schema; raises
    :class:`InvalidEvent` with the first problem's reason (:func:`reason_for`)."""
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent("too_large", f"event is {len(raw)} bytes, more than {MAX_EVENT_BYTES}")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent("not_utf8", f"value is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        reason, message = reason_for(exc.errors(include_url=False)[0], timestamp, own)
        raise InvalidEvent(reason, message) from None


def not_in_future(name: str, value: datetime, now: datetime | None, skew: timedelta) -> None:
    """Raise ``future_timestamp`` when ``value`` is later than ``now`` (default: the wall
    clock) plus ``skew``: a clock that far ahead cannot be trusted."""
    now = now or datetime.now(UTC)
    if value > now + skew:
        raise InvalidEvent("future_timestamp", f"{name} {value.isoformat()} is more than {skew} ahead of now")


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
    event = parse_model(VideoCreated, raw, "created_at", _hashtag_reason)
    for tag in event.hashtags:
        if len(tag) > MAX_TAG_LENGTH:
            raise InvalidEvent("too_long", f"a hashtag is longer than {MAX_TAG_LENGTH} characters")
    not_in_future("created_at", event.created_at, now, max_future_skew)
    return event
