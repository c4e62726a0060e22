"""Hypothesis strategies for video-status and video-stats events that must be dead-lettered.

Like :mod:`tests.support.badinputs` (video-created): each strategy draws raw bytes with exactly
one defect and pairs them with the reason the gate must give
(``forgood.domain.video_events.STATUS_REASONS`` / ``STATS_REASONS``). Each value carries a
unique ``video_id`` or marker (the drawn id and the reason) so it can be found again on a
dead-letter topic.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from forgood.domain.events import MAX_EVENT_BYTES, MAX_ID_LENGTH
from forgood.domain.video_events import MAX_COUNT, REMOVAL_REASONS, STATUSES

STATUS_FIELDS = ("event_id", "video_id", "status", "reason", "at")
COUNTERS = ("views", "likes", "shares", "comments")
STATS_FIELDS = ("event_id", "video_id", *COUNTERS, "observed_at")
_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
_bad_times = st.sampled_from(["yesterday", "2026-13-45T00:00:00Z", "", "24/11/2026", "2026-02-30T00:00:00Z"])
_not_strings = st.one_of(st.integers(), st.booleans(), st.just({"a": 1}), st.just(["x"]))
# JSON values that are not integers, for a counter: a bool is not an int, nor is 1.0 or "12".
_not_ints = st.one_of(
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.integers(-(10**6), 10**6).map(float),
    st.integers(0, 10**6).map(str),
    st.just([1]),
    st.just({"n": 1}),
)


def _past() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def _dump(event: dict) -> bytes:
    return json.dumps(event).encode()


def _common(draw, reason: str, event: dict, uid: str, fields: tuple[str, ...], time_field: str) -> bytes | None:
    """The defects both kinds share; None if ``reason`` is not one of them."""
    if reason == "too_large":
        event["padding"] = "x" * (MAX_EVENT_BYTES + draw(st.integers(1, 4096)))
    elif reason == "not_utf8":
        return b"\xff\xfe" + draw(st.binary(max_size=30)) + uid.encode()
    elif reason == "not_json":
        return ("not json " + uid + draw(st.text(alphabet="{[:,abc ", max_size=10))).encode()
    elif reason == "not_object":
        value = draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.just(uid)))
        return json.dumps([value, uid] if not isinstance(value, str) else value).encode()
    elif reason == "missing_field":
        del event[draw(st.sampled_from([f for f in fields if f != "event_id"]))]
    elif reason == "null_field":
        event[draw(st.sampled_from([f for f in fields if f != "event_id"]))] = None
    elif reason == "empty_field":
        event[draw(st.sampled_from(["event_id", "video_id"]))] = ""
        event["marker"] = uid
    elif reason == "too_long":
        event[draw(st.sampled_from(["event_id", "video_id"]))] = uid + "x" * (MAX_ID_LENGTH + draw(st.integers(1, 50)))
    elif reason == "bad_timestamp":
        event[time_field] = draw(_bad_times | st.integers(0, 2**40) | st.booleans())
    elif reason == "no_timezone":
        event[time_field] = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    elif reason == "future_timestamp":
        event[time_field] = (datetime.now(UTC) + timedelta(days=draw(st.integers(1, 400)))).isoformat()
    else:
        return None
    return _dump(event)


@st.composite
def bad_status_event(draw, reason: str) -> tuple[bytes, str]:
    """A ``video-status`` value with exactly one defect, and its reason."""
    uid = draw(_ids) + "-" + reason
    event = {"event_id": f"bad-{uid}", "video_id": f"bad-v-{uid}", "status": draw(st.sampled_from(STATUSES)),
             "reason": draw(st.sampled_from(REMOVAL_REASONS)), "at": _past()}
    raw = _common(draw, reason, event, uid, STATUS_FIELDS, "at")
    if raw is not None:
        return raw, reason
    if reason == "wrong_type":
        event[draw(st.sampled_from(["event_id", "video_id", "status", "reason"]))] = draw(_not_strings)
    elif reason == "unknown_status":
        event["status"] = draw(st.sampled_from(["deleted", "Removed", "REMOVED", "live", "restore", "removed "])
                               | _ids.filter(lambda s: s not in STATUSES))
    elif reason == "unknown_reason":
        event["reason"] = draw(st.sampled_from(["spam", "Fraud", "creator-deleted", "copyright", "appeals"])
                               | _ids.filter(lambda s: s not in REMOVAL_REASONS))
    else:  # pragma: no cover - a new reason needs a strategy here
        raise ValueError(reason)
    return _dump(event), reason


@st.composite
def bad_stats_event(draw, reason: str) -> tuple[bytes, str]:
    """A ``video-stats`` value with exactly one defect, and its reason."""
    uid = draw(_ids) + "-" + reason
    event: dict = {"event_id": f"bad-{uid}", "video_id": f"bad-v-{uid}", "observed_at": _past()}
    for counter in COUNTERS:
        event[counter] = draw(st.integers(0, 10**9))
    raw = _common(draw, reason, event, uid, STATS_FIELDS, "observed_at")
    if raw is not None:
        return raw, reason
    if reason == "wrong_type":
        if draw(st.booleans()):
            event[draw(st.sampled_from(COUNTERS))] = draw(_not_ints)
        else:
            event[draw(st.sampled_from(["event_id", "video_id"]))] = draw(_not_strings)
    elif reason == "negative_count":
        event[draw(st.sampled_from(COUNTERS))] = draw(st.integers(max_value=-1))
    elif reason == "count_too_large":
        event[draw(st.sampled_from(COUNTERS))] = draw(st.integers(min_value=MAX_COUNT + 1))
    else:  # pragma: no cover - a new reason needs a strategy here
        raise ValueError(reason)
    return _dump(event), reason


def _one_of_each(bad, reasons) -> st.SearchStrategy[list[tuple[bytes, str]]]:
    return st.tuples(*[bad(r) for r in reasons]).flatmap(
        lambda each: st.lists(st.sampled_from(list(reasons)).flatmap(bad), max_size=10).map(
            lambda extra: list(each) + extra
        )
    )


def one_of_each_status(reasons) -> st.SearchStrategy[list[tuple[bytes, str]]]:
    """At least one bad ``video-status`` value for every reason, plus a few more at random."""
    return _one_of_each(bad_status_event, reasons)


def one_of_each_stats(reasons) -> st.SearchStrategy[list[tuple[bytes, str]]]:
    """At least one bad ``video-stats`` value for every reason, plus a few more at random."""
    return _one_of_each(bad_stats_event, reasons)
