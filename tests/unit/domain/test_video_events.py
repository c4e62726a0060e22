"""forgood.domain.video_events: parsing video-status and video-stats events, every dead-letter reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from forgood.domain import events
from forgood.domain.errors import InvalidEvent
from forgood.domain.video_events import (
    ALL_REASONS,
    MAX_COUNT,
    REMOVAL_REASONS,
    SHARED_REASONS,
    STATS_REASONS,
    STATUS_REASONS,
    STATUSES,
    VideoStats,
    VideoStatus,
    parse_video_stats,
    parse_video_status,
)

MAX_EVENT_BYTES = events.MAX_EVENT_BYTES
MAX_ID_LENGTH = events.MAX_ID_LENGTH
NOW = datetime(2026, 11, 15, 12, 0, 0, tzinfo=UTC)

# The documented shapes (README, "Status and stats events").
STATUS_EXAMPLE = (
    b'{"event_id": "s-81f3", "video_id": "7301234567890", "status": "removed", '
    b'"reason": "moderation", "at": "2026-11-15T11:58:42.123Z"}'
)
STATS_EXAMPLE = (
    b'{"event_id": "st-81f3", "video_id": "7301234567890", "views": 81000000, "likes": 5200000, '
    b'"shares": 41000, "comments": 97000, "observed_at": "2026-11-15T11:59:00Z"}'
)

STATUS = {"event_id": "s-1", "video_id": "v-1", "status": "removed", "reason": "fraud",
          "at": "2026-11-15T11:58:42Z"}
STATS = {"event_id": "st-1", "video_id": "v-1", "views": 10, "likes": 3, "shares": 2, "comments": 1,
         "observed_at": "2026-11-15T11:58:42Z"}


def _with(base: dict, changes: dict) -> bytes:
    """``base`` with fields replaced; a value of ``...`` removes the field."""
    data = dict(base)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data).encode()


def status(**changes) -> bytes:
    return _with(STATUS, changes)


def stats(**changes) -> bytes:
    return _with(STATS, changes)


def reason_of(parse, reasons, raw: bytes, **kwargs) -> str:
    with pytest.raises(InvalidEvent) as info:
        parse(raw, now=NOW, **kwargs)
    assert info.value.reason in reasons
    assert info.value.message
    assert str(info.value) == info.value.message
    return info.value.reason


def status_reason(raw: bytes, **kwargs) -> str:
    return reason_of(parse_video_status, STATUS_REASONS, raw, **kwargs)


def stats_reason(raw: bytes, **kwargs) -> str:
    return reason_of(parse_video_stats, STATS_REASONS, raw, **kwargs)


# --- valid events ------------------------------------------------------------------------------

def test_status_example_parses():
    ev = parse_video_status(STATUS_EXAMPLE, now=NOW)
    assert ev == VideoStatus(event_id="s-81f3", video_id="7301234567890", status="removed", reason="moderation",
                             at=datetime(2026, 11, 15, 11, 58, 42, 123000, tzinfo=UTC))


def test_stats_example_parses():
    ev = parse_video_stats(STATS_EXAMPLE, now=NOW)
    assert ev == VideoStats(event_id="st-81f3", video_id="7301234567890", views=81_000_000, likes=5_200_000,
                            shares=41_000, comments=97_000, observed_at=datetime(2026, 11, 15, 11, 59, tzinfo=UTC))


@pytest.mark.parametrize("value", STATUSES)
@pytest.mark.parametrize("reason", REMOVAL_REASONS)
def test_every_status_and_reason_is_accepted(value, reason):
    ev = parse_video_status(status(status=value, reason=reason), now=NOW)
    assert (ev.status, ev.reason) == (value, reason)


def test_statuses_and_reasons_are_the_documented_ones():
    assert STATUSES == ("removed", "restored")
    assert REMOVAL_REASONS == ("creator_deleted", "moderation", "fraud", "appeal", "other")


def test_events_are_immutable():
    st_ev = parse_video_status(STATUS_EXAMPLE, now=NOW)
    sx_ev = parse_video_stats(STATS_EXAMPLE, now=NOW)
    with pytest.raises(ValidationError, match="frozen"):
        st_ev.status = "restored"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        sx_ev.views = 0  # type: ignore[misc]
    assert st_ev.status == "removed" and sx_ev.views == 81_000_000
    assert hash(st_ev) == hash(parse_video_status(STATUS_EXAMPLE, now=NOW))


def test_unknown_extra_fields_are_accepted_and_ignored():
    ev = parse_video_status(status(note="appeal #12", meta={"a": [1]}), now=NOW)
    assert "note" not in ev.model_dump() and not hasattr(ev, "meta")
    ev2 = parse_video_stats(stats(saves=4, creator_id="c-1"), now=NOW)
    assert "saves" not in ev2.model_dump()


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-15T11:58:42Z", datetime(2026, 11, 15, 11, 58, 42, tzinfo=UTC)),
        ("2026-11-15T11:58:42+00:00", datetime(2026, 11, 15, 11, 58, 42, tzinfo=UTC)),
        ("2026-11-15T17:28:42+05:30", datetime(2026, 11, 15, 11, 58, 42, tzinfo=UTC)),
        ("2026-11-14T23:59:59.5-03:00", datetime(2026, 11, 15, 2, 59, 59, 500000, tzinfo=UTC)),
    ],
)
def test_timestamps_are_stored_in_utc(text, utc):
    at = parse_video_status(status(at=text), now=NOW).at
    observed = parse_video_stats(stats(observed_at=text), now=NOW).observed_at
    for value in (at, observed):
        assert value == utc
        assert value.utcoffset() == timedelta(0) and value.tzinfo is UTC


def test_limits_at_their_edge_are_accepted():
    ev = parse_video_stats(stats(event_id="e" * MAX_ID_LENGTH, video_id="v" * MAX_ID_LENGTH,
                                 views=MAX_COUNT, likes=0, shares=0, comments=MAX_COUNT), now=NOW)
    assert (ev.views, ev.likes, ev.comments) == (MAX_COUNT, 0, MAX_COUNT)
    assert len(parse_video_status(status(video_id="v" * MAX_ID_LENGTH), now=NOW).video_id) == MAX_ID_LENGTH


def test_counts_are_python_ints_not_bools():
    ev = parse_video_stats(stats(views=0, likes=1), now=NOW)
    assert type(ev.views) is int and type(ev.likes) is int


@pytest.mark.parametrize(("parse", "make"), [(parse_video_status, status), (parse_video_stats, stats)])
def test_event_exactly_at_max_size_is_not_too_large(parse, make):
    raw = make(pad="p" * (MAX_EVENT_BYTES - len(make(pad=""))))
    assert len(raw) == MAX_EVENT_BYTES
    assert parse(raw, now=NOW).video_id == "v-1"
    with pytest.raises(InvalidEvent) as info:
        parse(make(pad="p" * (MAX_EVENT_BYTES - len(make(pad="")) + 1)), now=NOW)
    assert info.value.reason == "too_large"


def test_old_events_are_accepted():
    assert parse_video_status(status(at="2020-01-01T00:00:00Z"), now=NOW).at.year == 2020
    assert parse_video_stats(stats(observed_at="2020-01-01T00:00:00Z"), now=NOW).observed_at.year == 2020


# --- every reason ------------------------------------------------------------------------------

# Bytes that fail before any field is looked at, the same for both kinds.
RAW_CASES = [
    ("too_large", b"{" + b" " * MAX_EVENT_BYTES + b"}"),
    ("not_utf8", b'{"event_id": "\xff"}'),
    ("not_utf8", b"\xc3\x28"),
    ("not_json", b""),
    ("not_json", b"{not json}"),
    ("not_json", b'{"event_id": "e-1",'),
    ("not_object", b"[1]"),
    ("not_object", b'"x"'),
    ("not_object", b"3"),
    ("not_object", b"null"),
    ("not_object", b"true"),
    ("missing_field", b"{}"),
]

STATUS_CASES = RAW_CASES + [
    ("too_large", status(padding="x" * MAX_EVENT_BYTES)),
    *[("missing_field", status(**{f: ...})) for f in STATUS],
    ("wrong_type", status(event_id=1)),
    ("wrong_type", status(video_id=7301234567890)),
    ("wrong_type", status(video_id=["v-1"])),
    ("wrong_type", status(status=1)),
    ("wrong_type", status(status=True)),
    ("wrong_type", status(status=["removed"])),
    ("wrong_type", status(reason=0)),
    ("wrong_type", status(reason={"code": "fraud"})),
    *[("null_field", status(**{f: None})) for f in STATUS],
    ("empty_field", status(event_id="")),
    ("empty_field", status(video_id="")),
    ("empty_field", status(status="")),
    ("empty_field", status(reason="")),
    ("too_long", status(event_id="e" * (MAX_ID_LENGTH + 1))),
    ("too_long", status(video_id="v" * (MAX_ID_LENGTH + 1))),
    ("unknown_status", status(status="deleted")),
    ("unknown_status", status(status="Removed")),
    ("unknown_status", status(status=" removed")),
    ("unknown_status", status(status="live")),
    ("unknown_reason", status(reason="spam")),
    ("unknown_reason", status(reason="Fraud")),
    ("unknown_reason", status(reason="creator-deleted")),
    ("bad_timestamp", status(at="yesterday")),
    ("bad_timestamp", status(at="")),
    ("bad_timestamp", status(at="2026-13-01T00:00:00Z")),
    ("bad_timestamp", status(at="2026-11-01T00:00:00+25:00")),
    ("bad_timestamp", status(at=1_793_000_000)),
    ("bad_timestamp", status(at=["2026-11-01T00:00:00Z"])),
    ("no_timezone", status(at="2026-11-15T11:58:42")),
    ("no_timezone", status(at="2026-11-15T11:58:42.5")),
    ("future_timestamp", status(at="2026-11-15T12:05:01Z")),
    ("future_timestamp", status(at="2027-01-01T00:00:00Z")),
    ("future_timestamp", status(at="2026-11-15T13:05:01+01:00")),
]

STATS_CASES = RAW_CASES + [
    ("too_large", stats(padding="x" * MAX_EVENT_BYTES)),
    *[("missing_field", stats(**{f: ...})) for f in STATS],
    ("wrong_type", stats(event_id=1)),
    ("wrong_type", stats(video_id=7301234567890)),
    *[("wrong_type", stats(**{c: value}))
      for c in ("views", "likes", "shares", "comments")
      for value in (True, False, 1.0, 1.5, -1.5, 1e3, "12", "-1", [1], {"n": 1})],
    *[("null_field", stats(**{f: None})) for f in STATS],
    ("empty_field", stats(event_id="")),
    ("empty_field", stats(video_id="")),
    ("too_long", stats(event_id="e" * (MAX_ID_LENGTH + 1))),
    ("too_long", stats(video_id="v" * (MAX_ID_LENGTH + 1))),
    *[("negative_count", stats(**{c: -1})) for c in ("views", "likes", "shares", "comments")],
    ("negative_count", stats(comments=-(10**30))),
    *[("count_too_large", stats(**{c: MAX_COUNT + 1})) for c in ("views", "likes", "shares", "comments")],
    ("count_too_large", stats(views=2**64)),
    ("count_too_large", stats(views=10**300)),
    ("bad_timestamp", stats(observed_at="yesterday")),
    ("bad_timestamp", stats(observed_at="")),
    ("bad_timestamp", stats(observed_at="2026-02-30T00:00:00Z")),
    ("bad_timestamp", stats(observed_at=1_793_000_000)),
    ("bad_timestamp", stats(observed_at=True)),
    ("no_timezone", stats(observed_at="2026-11-15T11:58:42")),
    ("future_timestamp", stats(observed_at="2026-11-15T12:05:00.000001Z")),
    ("future_timestamp", stats(observed_at="2030-01-01T00:00:00Z")),
]


@pytest.mark.parametrize(("reason", "raw"), STATUS_CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(STATUS_CASES)])
def test_status_dead_letter_reason(reason, raw):
    assert status_reason(raw) == reason


@pytest.mark.parametrize(("reason", "raw"), STATS_CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(STATS_CASES)])
def test_stats_dead_letter_reason(reason, raw):
    assert stats_reason(raw) == reason


def test_every_reason_is_covered():
    assert {reason for reason, _ in STATUS_CASES} == set(STATUS_REASONS)
    assert {reason for reason, _ in STATS_CASES} == set(STATS_REASONS)


def test_reason_lists():
    # The shared codes are video-created's, with the same meaning; video-created's list is unchanged.
    assert set(SHARED_REASONS) <= set(events.REASONS)
    assert set(events.REASONS) - set(SHARED_REASONS) == {"no_hashtags", "too_many_hashtags"}
    assert len(events.REASONS) == 14
    assert STATUS_REASONS[len(SHARED_REASONS):] == ("unknown_status", "unknown_reason")
    assert STATS_REASONS[len(SHARED_REASONS):] == ("negative_count", "count_too_large")
    assert STATUS_REASONS[: len(SHARED_REASONS)] == STATS_REASONS[: len(SHARED_REASONS)] == SHARED_REASONS
    for reasons in (STATUS_REASONS, STATS_REASONS, ALL_REASONS):
        assert len(reasons) == len(set(reasons))
    assert ALL_REASONS[: len(events.REASONS)] == events.REASONS
    assert set(ALL_REASONS) == set(events.REASONS) | set(STATUS_REASONS) | set(STATS_REASONS)
    assert len(ALL_REASONS) == 18


def test_messages_name_the_problem():
    with pytest.raises(InvalidEvent, match="status 'deleted' is not one of removed, restored"):
        parse_video_status(status(status="deleted"), now=NOW)
    with pytest.raises(InvalidEvent, match="reason 'spam' is not one of creator_deleted, moderation"):
        parse_video_status(status(reason="spam"), now=NOW)
    with pytest.raises(InvalidEvent, match=r"likes is negative \(-3\)"):
        parse_video_stats(stats(likes=-3), now=NOW)
    with pytest.raises(InvalidEvent, match="observed_at '2026-11-15T11:58:42' has no timezone"):
        parse_video_stats(stats(observed_at="2026-11-15T11:58:42"), now=NOW)
    with pytest.raises(InvalidEvent, match="at 2026-11-16T00:00:00"):
        parse_video_status(status(at="2026-11-16T00:00:00Z"), now=NOW)


def test_first_problem_is_reported():
    # Field order: event_id, video_id, status, reason, at / ..., views, likes, shares, comments, observed_at.
    assert status_reason(status(event_id=..., status="gone")) == "missing_field"
    assert status_reason(status(status="gone", reason="spam")) == "unknown_status"
    assert status_reason(status(reason="spam", at="soon")) == "unknown_reason"
    assert stats_reason(stats(views=True, likes=-1)) == "wrong_type"
    assert stats_reason(stats(views=-1, likes=True)) == "negative_count"
    assert stats_reason(stats(comments=-1, observed_at="2026-11-15T11:58:42")) == "negative_count"


def test_future_skew_boundary_and_configurable():
    assert parse_video_status(status(at="2026-11-15T12:05:00Z"), now=NOW).at == NOW + timedelta(minutes=5)
    assert parse_video_stats(stats(observed_at="2026-11-15T12:05:00Z"), now=NOW).observed_at == NOW + timedelta(
        minutes=5)
    assert status_reason(status(at="2026-11-15T12:05:00.000001Z")) == "future_timestamp"
    raw = status(at="2026-11-15T12:00:30Z")
    assert status_reason(raw, max_future_skew=timedelta(0)) == "future_timestamp"
    assert parse_video_status(raw, now=NOW, max_future_skew=timedelta(minutes=1)).video_id == "v-1"
    raw = stats(observed_at="2026-11-15T12:00:30Z")
    assert stats_reason(raw, max_future_skew=timedelta(0)) == "future_timestamp"
    assert parse_video_stats(raw, now=NOW, max_future_skew=timedelta(minutes=1)).video_id == "v-1"


def test_default_now_is_the_wall_clock():
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert parse_video_status(status(at=soon)).video_id == "v-1"
    assert parse_video_stats(stats(observed_at=soon)).video_id == "v-1"
    for raw, parse in ((status(at=later), parse_video_status), (stats(observed_at=later), parse_video_stats)):
        with pytest.raises(InvalidEvent) as info:
            parse(raw)
        assert info.value.reason == "future_timestamp"


def test_a_created_event_is_not_a_status_or_stats_event():
    created = (b'{"event_id": "e-1", "video_id": "v-1", "creator_id": "c-1", "hashtags": ["x"], '
               b'"created_at": "2026-11-15T11:58:42Z"}')
    assert status_reason(created) == "missing_field"
    assert stats_reason(created) == "missing_field"
    assert events.parse_video_created(created, now=NOW).video_id == "v-1"


# --- property: the gates never raise anything but InvalidEvent, with a reason of their kind ----

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
timestamps = st.one_of(
    st.datetimes(timezones=st.timezones() | st.none()).map(lambda d: d.isoformat()),
    st.text(max_size=30),
    json_values,
)
ids = st.text(max_size=140) | json_values
counts = st.integers(-5, 5) | st.integers() | st.just(MAX_COUNT) | st.just(MAX_COUNT + 1) | json_values
status_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": ids,
        "video_id": ids,
        "status": st.sampled_from(STATUSES) | st.text(max_size=10) | json_values,
        "reason": st.sampled_from(REMOVAL_REASONS) | st.text(max_size=10) | json_values,
        "at": timestamps,
        "extra": json_values,
    },
)
stats_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": ids,
        "video_id": ids,
        "views": counts,
        "likes": counts,
        "shares": counts,
        "comments": counts,
        "observed_at": timestamps,
        "extra": json_values,
    },
)


def _check(raw: bytes) -> None:
    try:
        ev = parse_video_status(raw, now=NOW)
    except InvalidEvent as exc:
        assert exc.reason in STATUS_REASONS, exc.reason
    else:
        assert isinstance(ev, VideoStatus)
        assert ev.status in STATUSES and ev.reason in REMOVAL_REASONS
        assert ev.at.tzinfo is UTC and ev.at <= NOW + timedelta(minutes=5)
    try:
        sx = parse_video_stats(raw, now=NOW)
    except InvalidEvent as exc:
        assert exc.reason in STATS_REASONS, exc.reason
    else:
        assert isinstance(sx, VideoStats)
        for value in (sx.views, sx.likes, sx.shares, sx.comments):
            assert type(value) is int and 0 <= value <= MAX_COUNT
        assert sx.observed_at.tzinfo is UTC and sx.observed_at <= NOW + timedelta(minutes=5)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_invalid_event(raw):
    _check(raw)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.booleans())
def test_arbitrary_json_only_raises_invalid_event(value, ascii_only):
    _check(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status_like | stats_like, st.booleans())
def test_arbitrary_event_like_objects_only_raise_invalid_event(value, ascii_only):
    _check(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))
